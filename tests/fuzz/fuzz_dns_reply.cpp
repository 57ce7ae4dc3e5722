// tests/fuzz/fuzz_dns_reply.cpp — DNS reply parsing (dns/wire: ldns's
// wire2pkt, then Sigil's reading of the rcode, a CNAME chain and the TXT
// records).  The first two bytes are the reply's ID, so most inputs are
// taken for the answer to our query and read in full; the question is
// "s1._domainkey.example.com" TXT IN.
// Properties: a reply that is read has a reason; Ok has records; the TTL of
// Ok and NotFound never exceeds max_ttl; Retry and Fail have no records.
#include <string>

#include "dns/wire.hpp"
#include "fuzz_check.hpp"

using namespace sigil::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sigil::conf::DnsConfig cfg = [] {
    sigil::conf::DnsConfig c;
    c.max_ttl = std::chrono::seconds(3600);
    c.negative_ttl = std::chrono::seconds(300);
    return c;
  }();
  const std::uint16_t id = size >= 2 ? static_cast<std::uint16_t>(data[0] << 8 | data[1]) : 0;
  const Reply r = read_reply(data, size, id, "s1._domainkey.example.com", "192.0.2.53:53", cfg);
  if (r.kind != Reply::Kind::Read) return 0;
  const TxtAnswer& a = r.answer;
  FUZZ_CHECK(!a.reason.empty() && !a.from_cache);
  switch (a.status) {
    case Status::Ok: FUZZ_CHECK(!a.records.empty() && a.ttl <= 3600); break;
    case Status::NotFound: FUZZ_CHECK(a.records.empty() && a.ttl <= 3600); break;
    case Status::Retry:
    case Status::Fail: FUZZ_CHECK(a.records.empty()); break;
  }
  return 0;
}
