// filter/net/server.hpp — listeners, the live configuration snapshot, reload
// and drain.
//
// The configuration in force is an immutable Runtime (config, policy table
// with built pipelines, back-end).  SIGHUP builds a new one and swaps it in
// atomically; a transaction keeps the Runtime it started with, so nothing in
// flight sees a half-applied change.  A broken new file keeps the old
// Runtime and logs why.  Listener addresses are bound at start only: a
// reload that changes them is refused for that part (logged), as rebinding
// privileged ports after dropping privileges cannot work reliably.  A
// listener's other settings (bank, mode, xforward_hosts, ...) come from the
// Runtime in force at each accept (the listener in the same place, with the
// same address).
//
// SIGTERM: listeners close at once; idle sessions get 421 and close; a session
// inside a transaction finishes it (the front MTA gets its real reply) and
// then closes; after daemon.drain_timeout the rest are cut off (their front
// MTA retries: nothing was acknowledged).  Then the process exits.
//
// Limits: smtp.max_sessions connections in all, and
// smtp.max_sessions_per_client from one address (core/peer_trust.hpp says who
// is exempt); a connection over either gets a 421 at once and is closed (a
// milter peer is just closed), with a log line.
//
// Does not: know the fronts or the stages (ServerWiring, from app/wiring.cpp,
// starts sessions and builds Runtimes), speak any protocol beyond the 421 of
// a refused connection, or drop privileges.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/runtime.hpp"

namespace sigil::filter {

// A client connection of any listener mode (the SMTP/LMTP session, the
// milter session), as the server sees it for drain and shutdown.
class FrontConnection {
 public:
  virtual ~FrontConnection() = default;
  // Server drain: an idle connection closes now; a busy one after its transaction.
  virtual void on_drain() = 0;
  // Drain deadline passed: cut the connection.
  virtual void force_close() = 0;
};

class Server;
using PeerSocket = boost::asio::generic::stream_protocol::socket;

// What the server needs from the layers above it, supplied by app/wiring.cpp
// (so that net/ links neither the fronts nor the stages).
struct ServerWiring {
  // The configuration in force built from a loaded file; failure (Config):
  // a stage is unavailable.
  std::function<Result<std::shared_ptr<Runtime>>(boost::asio::any_io_executor,
                                                 std::shared_ptr<const conf::Config>)>
      build_runtime;
  // Starts the session of the listener's mode (SMTP/LMTP or milter) on an
  // accepted socket.
  std::function<void(Server&, PeerSocket, const conf::ListenerConfig&, const ClientInfo&)>
      start_session;
};

class Server {
 public:
  // config_path empty: the embedded default configuration.
  Server(boost::asio::io_context& io, std::string config_path, ServerWiring wiring);
  ~Server();

  // Binds every listener and starts accepting.  Failure: Config or Io.
  Status start(std::shared_ptr<const conf::Config> cfg);
  // Re-reads the configuration and swaps in the new Runtime.  Failure
  // (Config): the file or a stage was refused; the running configuration is
  // kept, and the error's message says why (also logged).
  Status reload();
  void drain();

  std::shared_ptr<Runtime> runtime() const { return runtime_; }
  const ServerWiring& wiring() const { return wiring_; }
  bool draining() const { return draining_; }
  // Local TCP ports bound, in listener order (0 for Unix sockets).
  const std::vector<std::uint16_t>& bound_ports() const { return ports_; }

  void attach(FrontConnection* s) { sessions_.insert(s); }
  void detach(FrontConnection* s);
  std::size_t session_count() const { return sessions_.size(); }
  // Connections open per client address (as accept saw it), for
  // smtp.max_sessions_per_client.
  void count_client(const std::string& addr) { ++per_client_[addr]; }
  void uncount_client(const std::string& addr);
  std::size_t client_sessions(const std::string& addr) const;

 private:
  struct Listener;
  void finish_if_drained();

  boost::asio::io_context& io_;
  std::string config_path_;
  ServerWiring wiring_;
  std::shared_ptr<Runtime> runtime_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::vector<std::uint16_t> ports_;
  std::unordered_set<FrontConnection*> sessions_;
  std::unordered_map<std::string, std::size_t> per_client_;
  bool draining_ = false;
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
};

}  // namespace sigil::filter
