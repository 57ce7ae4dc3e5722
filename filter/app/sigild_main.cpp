// filter/app/sigild_main.cpp — the daemon.
//
//   sigild [-c FILE]     run in the foreground; logs on stderr
//   no -c: the embedded default configuration (conf/sigil.toml)
//   options: sigild_options.cpp (sigild --help, sigild(8))
// SIGTERM/SIGINT drain and exit; SIGHUP reloads the configuration.
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "conf/config.hpp"
#include "filter/app/sigild_options.hpp"
#include "filter/app/wiring.hpp"
#include "filter/core/log.hpp"
#include "filter/net/server.hpp"
#include "filter/stages/registry.hpp"
#include "sigil_version.hpp"

using namespace sigil;

int main(int argc, char** argv) {
  auto opts = filter::parse_sigild_options(argc, argv);
  if (opts.exit) return *opts.exit;
  std::string path = opts.config;
  auto cfg = path.empty() ? conf::load_string(conf::embedded_default(), "<embedded>")
                          : conf::load_file(path);
  if (!cfg) {
    std::cerr << cfg.error().message << "\nsigild: configuration refused, not starting\n";
    return 1;
  }
  filter::log::init(cfg->daemon.log_level);
  std::signal(SIGPIPE, SIG_IGN);
  // A file size limit (RLIMIT_FSIZE) reached by a spool file must fail that
  // write (EFBIG, the message gets 451), not kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);

  boost::asio::io_context io(1);
  filter::Server server(io, path, filter::sigild_wiring(filter::builtin_stages()));
  auto shared = std::make_shared<const conf::Config>(std::move(cfg.value()));
  if (auto s = server.start(shared); !s) {
    filter::log::main().critical("{}", s.error().message);
    return 1;
  }
  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          filter::log::main().info("SIGHUP: reloading");
          server.reload();
        } else {
          filter::log::main().info("{}: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          server.drain();
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  filter::log::main().info("sigild {} started (pid {})", filter::kVersion, ::getpid());
  io.run();
  filter::log::main().info("sigild stopped");
  return 0;
}
