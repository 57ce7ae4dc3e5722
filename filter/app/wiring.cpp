// filter/app/wiring.cpp — see wiring.hpp.
#include "filter/app/wiring.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "filter/delivery/backend.hpp"
#include "filter/milter/milter_session.hpp"
#include "filter/smtp/smtp_session.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

Result<std::shared_ptr<Runtime>> build_runtime(asio::any_io_executor ex,
                                               std::shared_ptr<const conf::Config> cfg,
                                               const StageFactory& factory) {
  auto rt = std::make_shared<Runtime>();
  rt->config = cfg;
  rt->components.executor = ex;
  auto table = PolicyTable::build(*cfg, factory, rt->components);
  if (!table) return table.error();
  rt->policies = std::move(table.value());
  rt->backend = make_backend(std::move(ex), cfg->forward, cfg->smtp.hostname);
  return rt;
}

// The session of the listener's mode, running on the socket's executor and
// kept alive by its own coroutine.
static void start_session(Server& server, PeerSocket sock, const conf::ListenerConfig& cfg,
                          const ClientInfo& ci) {
  auto ex = sock.get_executor();
  if (cfg.mode == conf::ListenerMode::Milter) {
    auto m = std::make_shared<MilterSession>(server, std::move(sock), cfg, ci);
    asio::co_spawn(ex, m->run(), asio::detached);
    return;
  }
  auto s = std::make_shared<SmtpSession>(server, std::move(sock), cfg, ci);
  asio::co_spawn(ex, s->run(), asio::detached);
}

ServerWiring sigild_wiring(const StageFactory& factory) {
  ServerWiring w;
  w.build_runtime = [&factory](asio::any_io_executor ex, std::shared_ptr<const conf::Config> cfg) {
    return build_runtime(std::move(ex), std::move(cfg), factory);
  };
  w.start_session = start_session;
  return w;
}

}  // namespace sigil::filter
