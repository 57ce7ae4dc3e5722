// filter/app/sigild_main.cpp — the daemon.
//
//   sigild [-c FILE]     run in the foreground; logs to [daemon] log_target
//   no -c: the default path (/etc/sigil/sigil.toml) when it exists, else the
//   embedded default configuration (conf/sigil.toml); see config_path.hpp.
//   options: sigild_options.cpp (sigild --help, sigild(8))
// Started as root it drops to [daemon] user after binding and loading keys
// (privileges.hpp).  SIGTERM/SIGINT drain and exit; SIGHUP reloads the
// configuration.  Tells systemd where it is (systemd_notify.hpp).  Serves
// Prometheus metrics when [metrics] address is set (metrics_endpoint.hpp).
// Watches the DNS records of successor keys (key_watch.hpp) from the start,
// again after each reload.
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "conf/config.hpp"
#include "filter/app/config_path.hpp"
#include "filter/app/key_watch.hpp"
#include "filter/app/metrics_endpoint.hpp"
#include "filter/app/privileges.hpp"
#include "filter/app/sigild_options.hpp"
#include "filter/app/systemd_notify.hpp"
#include "filter/app/wiring.hpp"
#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"
#include "filter/net/server.hpp"
#include "filter/stages/registry.hpp"
#include "sigil_version.hpp"

using namespace sigil;

int main(int argc, char** argv) {
  auto opts = filter::parse_sigild_options(argc, argv);
  if (opts.exit) return *opts.exit;
  auto chosen = filter::choose_config(opts.config);
  std::string path = chosen.path;
  auto cfg = path.empty() ? conf::load_string(conf::embedded_default(), "<embedded>")
                          : conf::load_file(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\nsigild: configuration refused, not starting\n";
    return 1;
  }
  filter::log::init(cfg->daemon);
  filter::log::main().info("configuration: {}", chosen.why);
  auto run_as = filter::resolve_run_as(cfg->daemon);
  if (!run_as) {
    filter::log::main().critical("{}; not starting", run_as.error().message);
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // A file size limit (RLIMIT_FSIZE) reached by a spool file must fail that
  // write (EFBIG, the message gets 451), not kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);

  boost::asio::io_context io(1);
  filter::Server server(io, path, filter::sigild_wiring(filter::builtin_stages()));
  auto shared = std::make_shared<const conf::Config>(std::move(cfg.value()));
  // Before the listeners: the sessions' metrics need the registry.
  auto metrics = filter::MetricsEndpoint::start(shared->metrics);
  if (!metrics) {
    filter::log::main().critical("{}; not starting", metrics.error().message);
    return 1;
  }
  if (auto s = server.start(shared); !s) {
    filter::log::main().critical("{}", s.error().message);
    return 1;
  }
  if (auto s = filter::become_daemon_user(*run_as, *shared); !s) {
    filter::log::main().critical("{}; not starting", s.error().message);
    return 1;
  }
  // Successor keys: their records checked now, after each reload, and
  // every key_check_interval; signing never waits for it.
  filter::KeyWatch key_watch(io.get_executor());
  auto watch_keys = [&] {
    auto rt = server.runtime();
    key_watch.watch(rt->components.find<keys::SigningTable>("signing-table"), rt->config);
  };
  watch_keys();
  filter::SystemdNotifier notify;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          filter::log::main().info("SIGHUP: reloading");
          notify.reloading();
          auto r = server.reload();
          filter::metrics::config_reload(r.ok(), std::chrono::system_clock::now());
          if (r) metrics->reloaded(server.runtime()->config->metrics);
          if (r) watch_keys();
          notify.reloaded(r ? "configuration reloaded from " + server.runtime()->config->source
                            : "reload refused, running configuration kept: " + r.error().message);
        } else {
          filter::log::main().info("{}: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          notify.stopping("draining");
          key_watch.stop();
          server.drain();
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  filter::log::main().info("sigild {} started (pid {})", filter::kVersion, ::getpid());
  notify.start_watchdog(io);
  notify.ready("serving");
  io.run();
  filter::log::main().info("sigild stopped");
  return 0;
}
