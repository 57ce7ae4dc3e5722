// filter/server.hpp — listeners, the live configuration snapshot, reload and
// drain.
//
// The configuration in force is an immutable Runtime (config, policy table
// with built pipelines, back-end).  SIGHUP builds a new one and swaps it in
// atomically; a transaction keeps the Runtime it started with, so nothing in
// flight sees a half-applied change.  A broken new file keeps the old
// Runtime and logs why.  Listener addresses are bound at start only: a
// reload that changes them is refused for that part (logged), as rebinding
// privileged ports after dropping privileges cannot work reliably.
//
// SIGTERM: listeners close at once; idle sessions get 421 and close; a session
// inside a transaction finishes it (the front MTA gets its real reply) and
// then closes; after daemon.drain_timeout the rest are cut off (their front
// MTA retries: nothing was acknowledged).  Then the process exits.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conf/config.hpp"
#include "filter/backend.hpp"
#include "filter/pipeline.hpp"

namespace sigil::filter {

struct Runtime {
  std::shared_ptr<const conf::Config> config;
  Components components;
  PolicyTable policies;
  std::shared_ptr<Backend> backend;
};

// Builds a Runtime.  Failure (Config): a stage is unavailable.
Result<std::shared_ptr<Runtime>> build_runtime(boost::asio::any_io_executor ex,
                                               std::shared_ptr<const conf::Config> cfg,
                                               const StageFactory& factory);

// A client connection of any listener mode (the SMTP/LMTP session, the
// milter session), as the server sees it for drain and shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  // Server drain: an idle connection closes now; a busy one after its transaction.
  virtual void on_drain() = 0;
  // Drain deadline passed: cut the connection.
  virtual void force_close() = 0;
};

class Server {
 public:
  // config_path empty: the embedded default configuration.
  Server(boost::asio::io_context& io, std::string config_path, const StageFactory& factory);
  ~Server();

  // Binds every listener and starts accepting.  Failure: Config or Io.
  Status start(std::shared_ptr<const conf::Config> cfg);
  void reload();
  void drain();

  std::shared_ptr<Runtime> runtime() const { return runtime_; }
  bool draining() const { return draining_; }
  // Local TCP ports bound, in listener order (0 for Unix sockets).
  const std::vector<std::uint16_t>& bound_ports() const { return ports_; }

  void attach(Connection* s) { sessions_.insert(s); }
  void detach(Connection* s);
  std::size_t session_count() const { return sessions_.size(); }

 private:
  struct Listener;
  void finish_if_drained();

  boost::asio::io_context& io_;
  std::string config_path_;
  const StageFactory& factory_;
  std::shared_ptr<Runtime> runtime_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::vector<std::uint16_t> ports_;
  std::unordered_set<Connection*> sessions_;
  bool draining_ = false;
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
};

}  // namespace sigil::filter
