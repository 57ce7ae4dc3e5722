// filter/app/sigild_options.cpp — see sigild_options.hpp.
#include "filter/app/sigild_options.hpp"

#include <iostream>
#include <string_view>

#include "filter/app/config_path.hpp"
#include "sigil_version.hpp"

namespace sigil::filter {

namespace {

void help() {
  std::cout
      << "usage: sigild [-c FILE]\n"
         "       sigild --help | --version\n\n"
         "The Sigil mail content filter daemon.  It runs in the foreground (under\n"
         "systemd or another supervisor) and serves the listeners of its configuration.\n\n"
         "  -c, --config FILE  the configuration; without -c, "
      << default_config_path()
      << " when\n"
         "                     it exists, else the embedded default (sigil show-default)\n"
         "  -h, --help         this help\n"
         "  -V, --version      print the version\n\n"
         "Signals: SIGHUP reloads the configuration (a broken file is refused and the\n"
         "running one stays); SIGTERM or SIGINT drains open sessions and exits.\n"
         "Check a file first with `sigil check-config FILE`.\n"
         "Manual: sigild(8), sigil.toml(5), sigil(1).\n";
}

}  // namespace

SigildOptions parse_sigild_options(int argc, char** argv) {
  SigildOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      o.config = argv[++i];
    } else if (a == "-h" || a == "--help") {
      help();
      o.exit = 0;
      return o;
    } else if (a == "-V" || a == "--version") {
      std::cout << "sigild " << kVersion << "\n";
      o.exit = 0;
      return o;
    } else {
      std::cerr << "sigild: " << (a == "-c" || a == "--config" ? "missing FILE after " : "unknown argument ")
                << "'" << a << "' (see sigild --help)\n";
      o.exit = 2;
      return o;
    }
  }
  return o;
}

}  // namespace sigil::filter
