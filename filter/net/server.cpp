// filter/net/server.cpp — see server.hpp.
#include "filter/net/server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"
#include "filter/core/peer_trust.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

struct Server::Listener {
  conf::ListenerConfig cfg;
  std::unique_ptr<asio::ip::tcp::acceptor> tcp;
  std::unique_ptr<asio::local::stream_protocol::acceptor> local;
  void close() {
    boost::system::error_code ec;
    if (tcp) tcp->close(ec);
    if (local) {
      local->close(ec);
      ::unlink(cfg.address.path.c_str());
    }
  }
};

Server::Server(asio::io_context& io, std::string config_path, ServerWiring wiring)
    : io_(io), config_path_(std::move(config_path)), wiring_(std::move(wiring)) {}

Server::~Server() {
  for (auto& l : listeners_) l->close();
}

// After an accept error the loop pauses before trying again: with the file
// descriptor limit reached (EMFILE/ENFILE), accept fails at once forever and
// an immediate retry would spin a core and flood the log.  The warning is
// rate-limited to one line per 10 s.
static asio::awaitable<void> accept_pause(asio::any_io_executor ex, const std::string& where,
                                          const boost::system::error_code& ec,
                                          std::chrono::steady_clock::time_point& last_warn,
                                          std::uint64_t& suppressed) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_warn >= std::chrono::seconds(10)) {
    log::main().warn("accept on {}: {}{}; pausing new connections", where, ec.message(),
                     suppressed ? fmt::format(" ({} more since last warning)", suppressed) : "");
    last_warn = now;
    suppressed = 0;
  } else {
    ++suppressed;
  }
  asio::steady_timer t(ex, std::chrono::milliseconds(100));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// A refused connection: a short 421 (best effort, never blocking) and close.
// A milter peer gets no SMTP text: closing makes the MTA apply its
// milter_default_action (Postfix: tempfail).
template <typename Sock>
static void refuse(Sock& sock, const conf::ListenerConfig& cfg, const std::string& reply) {
  boost::system::error_code ec;
  if (cfg.mode != conf::ListenerMode::Milter) {
    auto msg = reply + "\r\n";
    sock.non_blocking(true, ec);
    sock.write_some(asio::buffer(msg), ec);
  }
  sock.close(ec);
}

// The client of an accepted socket: its numeric address (v4-mapped IPv6
// made IPv4) and port, or "unix".
template <typename Sock>
static ClientInfo peer_of(Sock& sock) {
  ClientInfo ci;
  if constexpr (std::is_same_v<typename Sock::protocol_type, asio::ip::tcp>) {
    boost::system::error_code ec;
    auto peer = sock.remote_endpoint(ec);
    if (!ec) {
      auto a = peer.address();
      if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
      ci.addr = a.to_string();
      ci.port = peer.port();
      ci.ip = conf::parse_ip(ci.addr);
    }
  } else {
    ci.addr = "unix";
  }
  return ci;
}

// Whether the server takes a new connection from `ci`: within
// smtp.max_sessions, and within smtp.max_sessions_per_client for its address
// (else a 421 and a log line).
template <typename Sock>
static bool admit(Server& server, Sock& sock, const conf::ListenerConfig& cfg,
                  const ClientInfo& ci) {
  const auto& smtp = server.runtime()->config->smtp;
  if (server.session_count() >= smtp.max_sessions) {
    log::main().warn("listener {}: {} sessions open (smtp.max_sessions), refusing a connection",
                     cfg.name, server.session_count());
    metrics::session_refused(metrics::Refusal::MaxSessions);
    refuse(sock, cfg, "421 4.3.2 " + smtp.hostname + " Too many connections, try again later");
    return false;
  }
  if (!milter_peer_allowed(cfg, ci)) {
    log::main().warn("listener {}: milter connection from {} refused: not in its milter_hosts",
                     cfg.name, ci.addr);
    metrics::session_refused(metrics::Refusal::MilterHosts);
    refuse(sock, cfg, "");
    return false;
  }
  std::size_t open = server.client_sessions(ci.addr);
  if (over_client_limit(smtp, cfg, ci, open)) {
    log::main().warn("listener {}: {} has {} sessions open (smtp.max_sessions_per_client), "
                     "refusing a connection from it",
                     cfg.name, ci.addr, open);
    metrics::session_refused(metrics::Refusal::MaxSessionsPerClient);
    refuse(sock, cfg,
           "421 4.7.0 " + smtp.hostname + " Error: too many connections from your address");
    return false;
  }
  return true;
}

// The settings in force of the `index`-th listener, bound as `bound`: a
// reload changes all of them but the address (a listener whose address
// changed keeps its old settings until the restart that binds it).
static const conf::ListenerConfig& in_force(const Server& server, std::size_t index,
                                            const conf::ListenerConfig& bound) {
  const auto& now = server.runtime()->config->listeners;
  if (index < now.size() && now[index].address.text == bound.address.text) return now[index];
  return bound;
}

template <typename Acceptor>
static asio::awaitable<void> accept_loop(Server& server, std::shared_ptr<void> keep, Acceptor& acc,
                                         std::size_t index, conf::ListenerConfig cfg) {
  (void)keep;
  std::chrono::steady_clock::time_point last_warn{};
  std::uint64_t suppressed = 0;
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      co_await accept_pause(acc.get_executor(), cfg.address.text, ec, last_warn, suppressed);
      continue;
    }
    ClientInfo ci = peer_of(sock);
    const conf::ListenerConfig& lc = in_force(server, index, cfg);
    if (!admit(server, sock, lc, ci)) continue;
    server.wiring().start_session(server, PeerSocket(std::move(sock)), lc, ci);
  }
}

// A milter listener has no back-end of its own: the DSN for a recipient
// bounced beside delivered ones goes through [forward].  Left at a maildir
// (the embedded default) while banks scan, the senders never see them.
static void warn_milter_dsn_target(const conf::Config& cfg) {
  if (cfg.forward.target.kind != conf::ForwardTarget::Kind::Maildir) return;
  auto milter = std::find_if(cfg.listeners.begin(), cfg.listeners.end(), [](const auto& l) {
    return l.mode == conf::ListenerMode::Milter;
  });
  if (milter == cfg.listeners.end()) return;
  for (const auto& [name, bank] : cfg.banks) {
    if (!bank.stages) continue;
    for (const auto& st : *bank.stages)
      if (st == "decode" || st == "av" || st == "spam") {
        log::main().warn("milter listener {}: bank {} scans, and the DSNs for recipients bounced "
                         "beside delivered ones go through [forward] = {}, where senders never "
                         "see them; point [forward] target at Postfix (docs/postfix.md, \"Postfix milter\")",
                         milter->name, name, cfg.forward.target.text);
        return;
      }
  }
}

Status Server::start(std::shared_ptr<const conf::Config> cfg) {
  auto rt = wiring_.build_runtime(io_.get_executor(), cfg);
  if (!rt) return rt.error();
  runtime_ = rt.value();
  for (auto& lc : cfg->listeners) {
    auto l = std::make_shared<Listener>();
    l->cfg = lc;
    boost::system::error_code ec;
    if (lc.address.kind == conf::ListenAddress::Kind::Tcp) {
      asio::ip::tcp::endpoint ep(asio::ip::make_address(lc.address.host, ec), lc.address.port);
      l->tcp = std::make_unique<asio::ip::tcp::acceptor>(io_);
      l->tcp->open(ep.protocol(), ec);
      if (!ec) l->tcp->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec && ep.address().is_v6()) l->tcp->set_option(asio::ip::v6_only(true), ec);
      if (!ec) l->tcp->bind(ep, ec);
      if (!ec) l->tcp->listen(asio::socket_base::max_listen_connections, ec);
      if (ec)
        return make_error(ErrorKind::Io, "listener " + lc.name + " on " + lc.address.text +
                                              ": " + ec.message());
      ports_.push_back(l->tcp->local_endpoint().port());
      asio::co_spawn(io_, accept_loop(*this, l, *l->tcp, listeners_.size(), lc), asio::detached);
    } else {
      struct stat st {};
      if (::lstat(lc.address.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
          return make_error(ErrorKind::Io, "listener " + lc.name + ": " + lc.address.path +
                                                " exists and is not a socket");
        ::unlink(lc.address.path.c_str());
      }
      l->local = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
      asio::local::stream_protocol::endpoint ep(lc.address.path);
      l->local->open(ep.protocol(), ec);
      if (!ec) l->local->bind(ep, ec);
      if (!ec) l->local->listen(asio::socket_base::max_listen_connections, ec);
      if (ec)
        return make_error(ErrorKind::Io, "listener " + lc.name + " on " + lc.address.text +
                                              ": " + ec.message());
      if (lc.unix_mode) ::chmod(lc.address.path.c_str(), *lc.unix_mode);
      ports_.push_back(0);
      asio::co_spawn(io_, accept_loop(*this, l, *l->local, listeners_.size(), lc), asio::detached);
    }
    log::main().info("listening on {} (listener {}, bank {})", lc.address.text, lc.name, lc.bank);
    listeners_.push_back(std::move(l));
  }
  log::main().info("forwarding to {}", cfg->forward.target.text);
  warn_milter_dsn_target(*cfg);
  return Ok{};
}

static bool same_listeners(const conf::Config& a, const conf::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (std::size_t i = 0; i < a.listeners.size(); ++i)
    if (a.listeners[i].address.text != b.listeners[i].address.text) return false;
  return true;
}

Status Server::reload() {
  Result<conf::Config> c = config_path_.empty()
                               ? conf::load_string(conf::embedded_default(), "<embedded>")
                               : conf::load_file(config_path_);
  if (!c) {
    log::main().error("reload refused, keeping the running configuration:\n{}",
                      c.error().message);
    return c.error();
  }
  auto cfg = std::make_shared<const conf::Config>(std::move(c.value()));
  if (!same_listeners(*cfg, *runtime_->config))
    log::main().warn("reload: listener addresses changed; they take effect only on restart");
  auto rt = wiring_.build_runtime(io_.get_executor(), cfg);
  if (!rt) {
    log::main().error("reload refused, keeping the running configuration: {}",
                      rt.error().message);
    return rt.error();
  }
  // Listener settings other than the address (bank, xforward) apply to new
  // connections through the new snapshot's listener list.
  runtime_->backend->close_idle();
  runtime_ = rt.value();
  log::init(cfg->daemon);
  log::main().info("configuration reloaded from {}", cfg->source);
  return Ok{};
}

void Server::drain() {
  if (draining_) return;
  draining_ = true;
  for (auto& l : listeners_) l->close();
  auto timeout = runtime_->config->daemon.drain_timeout;
  log::main().info("draining {} session(s), at most {}s", sessions_.size(), timeout.count());
  for (auto* s : sessions_) s->on_drain();
  drain_timer_ = std::make_unique<asio::steady_timer>(io_, timeout);
  drain_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (!sessions_.empty())
      log::main().warn("drain timeout: cutting {} session(s) off", sessions_.size());
    auto copy = sessions_;
    for (auto* s : copy) s->force_close();
    runtime_->backend->close_idle();
    io_.stop();
  });
  finish_if_drained();
}

void Server::uncount_client(const std::string& addr) {
  auto it = per_client_.find(addr);
  if (it == per_client_.end()) return;
  if (--it->second == 0) per_client_.erase(it);
}

std::size_t Server::client_sessions(const std::string& addr) const {
  auto it = per_client_.find(addr);
  return it == per_client_.end() ? 0 : it->second;
}

void Server::detach(FrontConnection* s) {
  sessions_.erase(s);
  if (draining_) finish_if_drained();
}

void Server::finish_if_drained() {
  if (!sessions_.empty()) return;
  // Posted so the session that just ended can unwind first.
  asio::post(io_, [this] {
    if (!sessions_.empty()) return;
    log::main().info("all sessions closed; exiting");
    runtime_->backend->close_idle();
    io_.stop();
  });
}

}  // namespace sigil::filter
