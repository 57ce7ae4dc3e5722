// dns/resolver.cpp — the asynchronous TXT resolver: UDP queries from a fresh
// port with a TCP retry on truncation (RFC 1035, RFC 7766), replies checked
// against spoofing (RFC 5452), positive and negative caching (RFC 2308); see
// resolver.hpp.
// The wire format (queries, reading replies) is dns/wire.cpp.
// Does not: recurse, validate DNSSEC, do EDNS0, or know anything of DKIM.
#include "dns/resolver.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "conf/ascii.hpp"

namespace sigil::dns {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using asio::ip::tcp;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

std::vector<Server> parse_resolv_conf(std::string_view text) {
  std::vector<Server> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string word, addr;
    if (!(ls >> word) || word != "nameserver" || !(ls >> addr)) continue;
    boost::system::error_code ec;
    auto a = asio::ip::make_address(addr, ec);
    if (ec || addr.find('%') != std::string::npos) continue;
    out.push_back(Server{a, 53});
  }
  return out;
}

namespace {

// Lower-cased, without the trailing dot; nullopt if not a name we look up:
// labels of letters, digits, '-' and '_' (RFC 1035 §2.3.4 lengths).  No
// escapes, so the text we check is the name on the wire.
std::optional<std::string> normalize(std::string_view d) {
  if (d.ends_with('.')) d.remove_suffix(1);
  if (d.empty() || d.size() > 253) return std::nullopt;
  for (std::size_t start = 0;;) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                               : dot - start);
    if (label.empty() || label.size() > 63) return std::nullopt;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_'))
        return std::nullopt;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return ascii::lower(d);
}

std::uint16_t random_id() {
  std::uint16_t id = 0;
  if (getrandom(&id, sizeof id, 0) == static_cast<ssize_t>(sizeof id)) return id;
  // XXX: getrandom cannot fail on Linux >= 3.17 for 2 bytes; kept as a fallback.
  static std::random_device rd;
  return static_cast<std::uint16_t>(rd());
}

std::string server_text(const Server& s) {
  // Appends, not "[" + ...: GCC 12 -O3 warns (-Wrestrict, bug 105651) on the latter.
  std::string out = s.address.to_string();
  if (s.address.is_v6()) {
    out.insert(out.begin(), '[');
    out += ']';
  }
  out += ':';
  out += std::to_string(s.port);
  return out;
}

struct TcpResult {
  boost::system::error_code ec;
  const char* step = "";
  std::vector<std::uint8_t> reply;
};

// One DNS exchange over TCP (RFC 1035 §4.2.2, RFC 7766): two-byte length,
// then the message, both ways.
asio::awaitable<TcpResult> tcp_exchange(tcp::socket& sock, tcp::endpoint ep,
                                        const std::vector<std::uint8_t>& query) {
  TcpResult r;
  auto [cec] = co_await sock.async_connect(ep, asio::as_tuple(asio::use_awaitable));
  if (cec) {
    r.ec = cec;
    r.step = "connect";
    co_return r;
  }
  std::vector<std::uint8_t> out(query.size() + 2);
  out[0] = static_cast<std::uint8_t>(query.size() >> 8);
  out[1] = static_cast<std::uint8_t>(query.size() & 0xff);
  std::copy(query.begin(), query.end(), out.begin() + 2);
  auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(out),
                                              asio::as_tuple(asio::use_awaitable));
  if (wec) {
    r.ec = wec;
    r.step = "write";
    co_return r;
  }
  std::array<std::uint8_t, 2> len{};
  auto [lec, ln] = co_await asio::async_read(sock, asio::buffer(len),
                                             asio::as_tuple(asio::use_awaitable));
  if (lec) {
    r.ec = lec;
    r.step = "read";
    co_return r;
  }
  r.reply.resize(static_cast<std::size_t>(len[0]) << 8 | len[1]);
  auto [rec, rn] = co_await asio::async_read(sock, asio::buffer(r.reply),
                                             asio::as_tuple(asio::use_awaitable));
  if (rec) {
    r.ec = rec;
    r.step = "read";
  }
  co_return r;
}

}  // namespace

// ------------------------------------------------------------------ Resolver

// An identical query in flight: the first caller does the work, the others
// wait on `done` (never expires; cancelled when `result` is set).
struct Resolver::Pending {
  explicit Pending(const asio::any_io_executor& ex)
      : done(ex, Clock::time_point::max()) {}
  std::optional<TxtAnswer> result;
  asio::steady_timer done;
};

Resolver::Resolver(asio::any_io_executor ex, conf::DnsConfig cfg,
                   const std::string& resolv_conf)
    : ex_(ex), cfg_(std::move(cfg)), slot_freed_(ex, Clock::time_point::max()) {
  per_domain_max_ = cfg_.max_concurrent_per_domain ? cfg_.max_concurrent_per_domain
                                                   : std::max<std::size_t>(1, cfg_.max_concurrent / 8);
  for (const auto& s : cfg_.servers) {
    boost::system::error_code ec;
    auto a = asio::ip::make_address(s.host, ec);
    if (!ec) servers_.push_back(Server{a, s.port});
  }
  if (servers_.empty()) {
    std::ifstream in(resolv_conf);
    std::ostringstream ss;
    ss << in.rdbuf();
    servers_ = parse_resolv_conf(ss.str());
  }
  for (const auto& r : cfg_.static_records)
    if (auto n = normalize(r.name)) static_[*n].push_back(r.txt);
}

Resolver::~Resolver() = default;

// Waits until a query of `domain` may be sent: fewer than max_concurrent
// queries in flight, and fewer than the per-domain cap for its domain.
asio::awaitable<void> Resolver::take_slot(const std::string& domain) {
  bool counted = false;
  for (;;) {
    auto d = domain.empty() ? domain_in_flight_.end() : domain_in_flight_.find(domain);
    bool domain_full = d != domain_in_flight_.end() && d->second >= per_domain_max_;
    if (in_flight_ < cfg_.max_concurrent && !domain_full) break;
    if (domain_full && !counted) {
      ++stats_.domain_waits;
      counted = true;
    }
    co_await slot_freed_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  ++in_flight_;
  if (observer_) observer_->dns_event(Observer::Event::Started);
  if (!domain.empty()) ++domain_in_flight_[domain];
}

// Frees what take_slot took and wakes every waiter: the freed slot may be
// one only a waiter of this domain can use.
void Resolver::release_slot(const std::string& domain) {
  --in_flight_;
  if (observer_) observer_->dns_event(Observer::Event::Finished);
  if (auto d = domain_in_flight_.find(domain); d != domain_in_flight_.end() && --d->second == 0)
    domain_in_flight_.erase(d);
  slot_freed_.cancel();
}

asio::awaitable<TxtAnswer> Resolver::txt(std::string name, std::string domain) {
  domain = ascii::lower(domain);
  auto key = normalize(name);
  if (!key) co_return answer(Status::Fail, "bad DNS name '" + name + "'");

  if (auto s = static_.find(*key); s != static_.end()) {
    TxtAnswer a = answer(Status::Ok, *key + ": static_records");
    a.records = s->second;
    a.from_cache = true;
    co_return a;
  }

  if (auto c = cache_.find(*key); c != cache_.end()) {
    auto now = Clock::now();
    if (c->second.expires > now) {
      note(stats_.cache_hits, Observer::Event::CacheHit);
      TxtAnswer a = c->second.answer;
      a.from_cache = true;
      a.ttl = static_cast<std::uint32_t>(
          std::chrono::ceil<std::chrono::seconds>(c->second.expires - now).count());
      co_return a;
    }
    cache_order_.erase(c->second.order);
    cache_.erase(c);
  }

  if (auto p = pending_.find(*key); p != pending_.end()) {
    ++stats_.merged;
    std::shared_ptr<Pending> pending = p->second;
    while (!pending->result)
      co_await pending->done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return *pending->result;
  }

  auto pending = std::make_shared<Pending>(ex_);
  pending_.emplace(*key, pending);
  // Whatever happens below, the waiters get a result and the slot is freed.
  struct Finish {
    Resolver& r;
    const std::string& key;
    const std::string& domain;
    std::shared_ptr<Pending>& p;
    bool holds_slot = false;
    ~Finish() {
      if (holds_slot) r.release_slot(domain);
      if (!p->result) p->result = answer(Status::Fail, key + ": lookup abandoned");
      r.pending_.erase(key);
      p->done.cancel();
    }
  } finish{*this, *key, domain, pending};

  co_await take_slot(domain);
  finish.holds_slot = true;

  TxtAnswer a;
  try {
    a = co_await lookup(*key);
  } catch (const std::exception& e) {
    a = answer(Status::Fail, *key + ": internal error: " + e.what());
  }
  if (a.status == Status::Ok || a.status == Status::NotFound) store(*key, a);
  pending->result = a;
  co_return a;
}

asio::awaitable<TxtAnswer> Resolver::lookup(const std::string& name) {
  if (servers_.empty()) co_return answer(Status::Retry, name + ": no DNS server configured");
  std::string reasons;
  for (unsigned i = 0; i < cfg_.attempts; ++i) {
    const Server& s = servers_[i % servers_.size()];
    TxtAnswer a = co_await attempt(name, s);
    if (a.status != Status::Retry) co_return a;
    if (!reasons.empty()) reasons += "; ";
    reasons += a.reason;
  }
  co_return answer(Status::Retry, name + ": " + reasons);
}

asio::awaitable<TxtAnswer> Resolver::attempt(const std::string& name, const Server& server) {
  const std::string from = server_text(server);
  const std::uint16_t id = random_id();
  auto query = build_query(name, id);
  if (!query) co_return answer(Status::Fail, "cannot build a query for " + name);

  // A new socket bound to port 0: the kernel picks a random ephemeral port
  // for every query (RFC 5452 §9.2).
  udp::endpoint ep(server.address, server.port);
  udp::socket sock(ex_);
  boost::system::error_code ec;
  sock.open(ep.protocol(), ec);
  if (!ec) sock.bind(udp::endpoint(ep.protocol(), 0), ec);
  if (ec) co_return answer(Status::Retry, "UDP socket for " + from + ": " + ec.message());
  auto [sec, sn] = co_await sock.async_send_to(asio::buffer(*query), ep,
                                               asio::as_tuple(asio::use_awaitable));
  note(stats_.queries_sent, Observer::Event::QuerySent);
  if (sec) co_return answer(Status::Retry, "send to " + from + ": " + sec.message());

  asio::steady_timer deadline(ex_, cfg_.timeout);
  std::vector<std::uint8_t> buf(65535);
  Reply reply;
  for (;;) {
    udp::endpoint sender;
    auto r = co_await (sock.async_receive_from(asio::buffer(buf), sender,
                                               asio::as_tuple(asio::use_awaitable)) ||
                       deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) {
      note(stats_.timeouts, Observer::Event::Timeout);
      co_return answer(Status::Retry, "timeout from " + from);
    }
    auto [rec, n] = std::get<0>(r);
    if (rec) co_return answer(Status::Retry, "receive from " + from + ": " + rec.message());
    // Spoofing defences: the queried address and port, our ID, our question.
    if (sender != ep || n < 12 || buf[0] != (id >> 8) || buf[1] != (id & 0xff)) continue;
    reply = read_reply(buf.data(), n, id, name, from, cfg_);
    if (reply.kind == Reply::Kind::Malformed)
      co_return answer(Status::Fail, "malformed reply from " + from);
    if (reply.kind == Reply::Kind::Read) break;
  }
  if (reply.servfail) note(stats_.servfails, Observer::Event::ServFail);
  if (!reply.truncated) co_return std::move(reply.answer);

  // Truncated: ask again over TCP, same ID and question, a fresh deadline.
  tcp::socket tsock(ex_);
  asio::steady_timer tdeadline(ex_, cfg_.timeout);
  note(stats_.queries_sent, Observer::Event::QuerySent);
  auto tr = co_await (tcp_exchange(tsock, tcp::endpoint(server.address, server.port), *query) ||
                      tdeadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (tr.index() == 1) {
    note(stats_.timeouts, Observer::Event::Timeout);
    co_return answer(Status::Retry, "truncated, and TCP to " + from + " timed out");
  }
  TcpResult t = std::move(std::get<0>(tr));
  if (t.ec)
    co_return answer(Status::Retry, "truncated, and TCP " + std::string(t.step) + " to " + from +
                                        ": " + t.ec.message());
  Reply treply = read_reply(t.reply.data(), t.reply.size(), id, name, from + " (TCP)", cfg_);
  if (treply.kind == Reply::Kind::Malformed)
    co_return answer(Status::Fail, "malformed TCP reply from " + from);
  if (treply.kind == Reply::Kind::Read && treply.servfail)
    note(stats_.servfails, Observer::Event::ServFail);
  if (treply.kind == Reply::Kind::Mismatch)
    co_return answer(Status::Retry, "TCP reply from " + from + " does not match the query");
  co_return std::move(treply.answer);
}

void Resolver::store(const std::string& name, const TxtAnswer& a) {
  if (cfg_.cache_entries == 0 || a.ttl == 0) return;
  if (auto c = cache_.find(name); c != cache_.end()) {
    cache_order_.erase(c->second.order);
    cache_.erase(c);
  }
  while (cache_.size() >= cfg_.cache_entries && !cache_order_.empty()) {
    cache_.erase(cache_order_.front());
    cache_order_.pop_front();
  }
  cache_order_.push_back(name);
  CacheEntry e{a, Clock::now() + std::chrono::seconds(a.ttl), std::prev(cache_order_.end())};
  e.answer.from_cache = false;
  cache_.emplace(name, std::move(e));
}

}  // namespace sigil::dns
