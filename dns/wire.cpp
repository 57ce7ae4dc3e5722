// dns/wire.cpp — see wire.hpp.
#include "dns/wire.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include <ldns/ldns.h>

namespace sigil::dns {

const char* to_string(Status s) noexcept {
  switch (s) {
    case Status::Ok: return "ok";
    case Status::NotFound: return "notfound";
    case Status::Retry: return "retry";
    case Status::Fail: return "fail";
  }
  return "?";
}

TxtAnswer answer(Status st, std::string reason) {
  TxtAnswer a;
  a.status = st;
  a.reason = std::move(reason);
  return a;
}

namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;
struct RdfFree {
  void operator()(ldns_rdf* r) const noexcept { ldns_rdf_deep_free(r); }
};
using Rdf = std::unique_ptr<ldns_rdf, RdfFree>;

// Does the reply's question section equal ours (one question, same name
// case-insensitively, TXT, IN)?
bool question_matches(const ldns_pkt* p, const ldns_rdf* qname) {
  const ldns_rr_list* q = ldns_pkt_question(p);
  if (!q || ldns_rr_list_rr_count(q) != 1) return false;
  const ldns_rr* rr = ldns_rr_list_rr(q, 0);
  return ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
         ldns_rr_owner(rr) && ldns_dname_compare(ldns_rr_owner(rr), qname) == 0;
}

std::uint32_t cap(std::uint32_t ttl, const conf::DnsConfig& cfg) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(ttl, static_cast<std::uint64_t>(cfg.max_ttl.count())));
}

// RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM) of the SOA in
// the authority section; without one, the configured negative_ttl.
std::uint32_t negative_ttl(const ldns_pkt* p, const conf::DnsConfig& cfg) {
  std::uint32_t ttl = static_cast<std::uint32_t>(cfg.negative_ttl.count());
  const ldns_rr_list* auth = ldns_pkt_authority(p);
  for (std::size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(auth, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7) continue;
    const ldns_rdf* min = ldns_rr_rdf(rr, 6);
    if (!min || ldns_rdf_size(min) != 4) continue;
    ttl = std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(min));
    break;
  }
  return cap(ttl, cfg);
}

// What a matching reply means.  Follows a CNAME chain inside the answer
// section (a recursive resolver puts it there), at most 8 links.
TxtAnswer interpret(const ldns_pkt* p, const ldns_rdf* qname, const std::string& name,
                    const std::string& from, const conf::DnsConfig& cfg) {
  switch (ldns_pkt_get_rcode(p)) {
    case LDNS_RCODE_NOERROR: break;
    case LDNS_RCODE_NXDOMAIN: {
      TxtAnswer a = answer(Status::NotFound, name + ": NXDOMAIN from " + from);
      a.ttl = negative_ttl(p, cfg);
      return a;
    }
    case LDNS_RCODE_SERVFAIL: return answer(Status::Retry, "SERVFAIL from " + from);
    case LDNS_RCODE_REFUSED: return answer(Status::Retry, "REFUSED from " + from);
    default:
      return answer(Status::Fail,
                    "rcode " + std::to_string(ldns_pkt_get_rcode(p)) + " from " + from);
  }
  const ldns_rr_list* ans = ldns_pkt_answer(p);
  std::size_t n = ans ? ldns_rr_list_rr_count(ans) : 0;
  const ldns_rdf* owner = qname;
  TxtAnswer a;
  a.status = Status::Ok;
  std::uint32_t ttl = UINT32_MAX;
  for (int link = 0; link < 8; ++link) {
    const ldns_rdf* next = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(ans, i);
      if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || !ldns_rr_owner(rr) ||
          ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
        continue;
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1) {
        next = ldns_rr_rdf(rr, 0);
        ttl = std::min(ttl, ldns_rr_ttl(rr));
      } else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT) {
        std::string text;
        for (std::size_t j = 0; j < ldns_rr_rd_count(rr); ++j) {
          const ldns_rdf* s = ldns_rr_rdf(rr, j);
          const std::uint8_t* d = ldns_rdf_data(s);
          std::size_t size = ldns_rdf_size(s);
          if (!d || size == 0) continue;
          std::size_t len = std::min<std::size_t>(d[0], size - 1);
          text.append(reinterpret_cast<const char*>(d + 1), len);
        }
        a.records.push_back(std::move(text));
        ttl = std::min(ttl, ldns_rr_ttl(rr));
      }
    }
    if (!a.records.empty() || !next) break;
    owner = next;
  }
  if (a.records.empty()) {
    TxtAnswer nd = answer(Status::NotFound, name + ": no TXT record (NODATA) from " + from);
    nd.ttl = negative_ttl(p, cfg);
    return nd;
  }
  a.ttl = cap(ttl, cfg);
  a.reason = std::to_string(a.records.size()) + " TXT record(s) from " + from;
  return a;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> build_query(const std::string& name, std::uint16_t id) {
  ldns_rdf* qname = ldns_dname_new_frm_str((name + ".").c_str());
  if (!qname) return std::nullopt;
  Pkt q(ldns_pkt_query_new(qname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD));
  if (!q) return std::nullopt;
  ldns_pkt_set_id(q.get(), id);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, q.get(), &size) != LDNS_STATUS_OK) return std::nullopt;
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);
  return out;
}

Reply read_reply(const std::uint8_t* wire, std::size_t n, std::uint16_t id,
                 const std::string& name, const std::string& from, const conf::DnsConfig& cfg) {
  Reply r;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, wire, n) != LDNS_STATUS_OK || !p) return r;
  Pkt reply(p);
  Rdf qname(ldns_dname_new_frm_str((name + ".").c_str()));
  r.kind = Reply::Kind::Mismatch;
  if (!qname || ldns_pkt_id(reply.get()) != id || !ldns_pkt_qr(reply.get()) ||
      !question_matches(reply.get(), qname.get()))
    return r;
  r.kind = Reply::Kind::Read;
  r.truncated = ldns_pkt_tc(reply.get());
  r.servfail = ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_SERVFAIL;
  r.answer = interpret(reply.get(), qname.get(), name, from, cfg);
  return r;
}

}  // namespace sigil::dns
