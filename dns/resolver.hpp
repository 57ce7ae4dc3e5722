// dns/resolver.hpp — Sigil's asynchronous DNS resolver (TXT lookups).
//
// ldns builds the query packets and parses the replies (wire format only);
// Boost.Asio does the I/O: one UDP socket per query, bound to a fresh random
// source port, and a retry over TCP when the reply is truncated (TC=1).
// Answers are accepted only from the server queried, with the query's ID and
// the query's question (name, type, class); anything else is ignored until
// the attempt's timeout (RFC 5452 §4, §9.1).  Answers are cached for their TTL
// (RFC 1035 §7.4), NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308
// §5) or `negative_ttl`, all capped by `max_ttl`.  Identical concurrent
// queries share one packet.  At most `max_concurrent` queries are in
// flight, and at most `max_concurrent_per_domain` for one domain (the group
// the caller names: a DKIM signing domain), so one domain's many slow
// selectors cannot hold every slot while other domains' lookups wait.  `static_records` answer without any network and
// are checked before the cache.
//
// Each attempt has its own `timeout`; a TCP retry after TC=1 gets a fresh
// one (so one attempt can take up to twice `timeout`).  Attempts rotate over
// the servers in order, starting with the first.  A reply with the right ID
// from the queried server that ldns cannot parse is a Fail, not ignored.
//
// Does not: recurse or validate DNSSEC (it talks to a recursive resolver), do
// EDNS0 (replies over 512 bytes come truncated and are fetched over TCP),
// search domains or ndots (names are absolute), or know anything of DKIM.
// Looks up TXT records only, no other record type.
//
// Threading: a Resolver and every coroutine it runs belong to one executor
// that runs on one thread at a time (an io_context run by one thread, or a
// strand).  The Resolver must outlive the coroutines of txt().
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conf/config.hpp"
#include "dns/wire.hpp"

namespace sigil::dns {

struct Server {
  boost::asio::ip::address address;
  std::uint16_t port = 53;
};

// The nameserver lines of a resolv.conf text (port 53; scoped IPv6 addresses
// like fe80::1%eth0 are skipped).  Never fails: bad lines are ignored.
std::vector<Server> parse_resolv_conf(std::string_view text);

class Resolver {
 public:
  // Servers come from cfg.servers (already validated by conf/; an entry that
  // is not a numeric address is skipped), else from the nameserver lines of
  // `resolv_conf`, read once here.  Never throws for a missing or empty resolv.conf: every
  // network lookup then answers Retry ("no DNS server configured").
  Resolver(boost::asio::any_io_executor ex, conf::DnsConfig cfg,
           const std::string& resolv_conf = "/etc/resolv.conf");
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Looks up the TXT records of `name` (absolute; one trailing dot allowed;
  // case-insensitive).  Never throws for DNS trouble; the outcomes:
  //   Ok        records found (from static_records, the cache, or the network)
  //   NotFound  NXDOMAIN, or NOERROR with no TXT record for the name (NODATA)
  //   Retry     every attempt timed out, or got SERVFAIL/REFUSED, or was
  //             truncated and the TCP retry failed (or its reply did not
  //             match), or a socket error; no server configured
  //   Fail      the name is not a valid DNS name, a reply from the queried
  //             server with our ID could not be parsed, or another rcode
  // Ok and NotFound are cached; Retry and Fail are not.
  // `domain` (optional) groups the query for max_concurrent_per_domain.
  boost::asio::awaitable<TxtAnswer> txt(std::string name, std::string domain = {});

  struct Stats {
    std::uint64_t queries_sent = 0;  // packets sent: UDP queries plus TCP retries
    std::uint64_t cache_hits = 0;    // answers served from the cache (not static_records)
    std::uint64_t merged = 0;        // calls that waited on an identical query in flight
    std::uint64_t domain_waits = 0;  // queries that waited because their domain was at its cap
    std::uint64_t timeouts = 0;      // attempts (UDP, or TCP after TC=1) with no answer in time
    std::uint64_t servfails = 0;     // attempts answered SERVFAIL
    std::uint64_t in_flight = 0;     // lookups holding a slot now (max_concurrent)
  };
  // Read on the resolver's executor only (see Threading above).
  Stats stats() const {
    Stats s = stats_;
    s.in_flight = in_flight_;
    return s;
  }

  // Told of each event as it is counted in Stats, on the resolver's
  // executor; an implementation read from other threads (a metrics
  // scrape) must be thread-safe itself.  Its calls must not throw.
  class Observer {
   public:
    enum class Event { QuerySent, CacheHit, Timeout, ServFail, Started, Finished };
    virtual void dns_event(Event e) noexcept = 0;

   protected:
    ~Observer() = default;
  };
  // `o` (not owned; nullptr: none) must outlive the Resolver.
  void set_observer(Observer* o) noexcept { observer_ = o; }

  const std::vector<Server>& servers() const noexcept { return servers_; }

 private:
  struct Pending;
  struct CacheEntry {
    TxtAnswer answer;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order;
  };

  boost::asio::awaitable<void> take_slot(const std::string& domain);
  void release_slot(const std::string& domain);
  boost::asio::awaitable<TxtAnswer> lookup(const std::string& name);
  boost::asio::awaitable<TxtAnswer> attempt(const std::string& name, const Server& server);
  void store(const std::string& name, const TxtAnswer& a);
  void note(std::uint64_t& counter, Observer::Event e) noexcept {
    ++counter;
    if (observer_) observer_->dns_event(e);
  }

  boost::asio::any_io_executor ex_;
  conf::DnsConfig cfg_;
  std::vector<Server> servers_;
  std::unordered_map<std::string, std::vector<std::string>> static_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::list<std::string> cache_order_;  // oldest first
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  std::size_t in_flight_ = 0;
  std::size_t per_domain_max_ = 1;  // max_concurrent_per_domain, resolved
  std::unordered_map<std::string, std::size_t> domain_in_flight_;
  boost::asio::steady_timer slot_freed_;  // never expires; cancel() wakes the waiters
  Stats stats_;
  Observer* observer_ = nullptr;
};

}  // namespace sigil::dns
