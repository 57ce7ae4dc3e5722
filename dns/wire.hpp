// dns/wire.hpp — the DNS wire format of Sigil's one kind of lookup (TXT/IN,
// RFC 1035 §4.1), through ldns: building the query, and reading a reply
// into what it means (rcodes, a CNAME chain in the answer section, TXT
// character-strings, positive and negative TTLs per RFC 2308 §5).  Pure: no
// I/O, no clock; the resolver (resolver.hpp) sends, receives and caches.
// Does not: check where a reply came from (the resolver checks the sender),
// validate DNSSEC, or read EDNS0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"

namespace sigil::dns {

enum class Status {
  Ok,        // TXT records found
  NotFound,  // NXDOMAIN, or the name exists without TXT data (NODATA)
  Retry,     // temporary: timeout, SERVFAIL, REFUSED, truncated and TCP failed, no server
  Fail,      // permanent: malformed reply, bad name, other rcodes (FORMERR, NOTIMP...)
};
const char* to_string(Status s) noexcept;

struct TxtAnswer {
  Status status = Status::Fail;
  std::vector<std::string> records;  // Ok: one per TXT RR, its character-strings concatenated
  std::string reason;                // human-readable, for logs and A-R comments
  std::uint32_t ttl = 0;             // seconds the answer stays valid (remaining, if cached)
  bool from_cache = false;           // served from the cache or static_records (no packet)
};

// An answer without records.
TxtAnswer answer(Status st, std::string reason);

// The query for TXT/IN of `name` (absolute, without the trailing dot) with
// id `id`, RD set; nullopt when ldns cannot make `name` a domain name.
std::optional<std::vector<std::uint8_t>> build_query(const std::string& name, std::uint16_t id);

// One reply as read for the query of `name` with `id`.
struct Reply {
  enum class Kind {
    Malformed,  // ldns cannot parse it
    Mismatch,   // not the answer to our query: another ID, QR clear, or another question
    Read,       // ours: `answer` says what it means
  };
  Kind kind = Kind::Malformed;
  bool truncated = false;  // Read: TC=1 (over UDP: ask again over TCP)
  bool servfail = false;   // Read: rcode SERVFAIL (answer is then a Retry)
  TxtAnswer answer;        // Read: Ok, NotFound (TTLs capped by cfg.max_ttl), Retry or Fail
};

// Reads `n` bytes of `wire` as the reply to the TXT query for `name` with
// `id`.  `from` names the server in the answer's reason.  Never fails: a
// reply that cannot be used says so in its Kind.
Reply read_reply(const std::uint8_t* wire, std::size_t n, std::uint16_t id,
                 const std::string& name, const std::string& from, const conf::DnsConfig& cfg);

}  // namespace sigil::dns
