// filter/sigil_main.cpp — the `sigil` command line.
//
//   sigil check-config FILE   validate a configuration without starting anything
//   sigil show-default        print the embedded default configuration
//   sigil version
// Key tools (issue 3) and quarantine (issue 5) join here.
#include <iostream>
#include <string>

#include "conf/config.hpp"
#include "filter/pipeline.hpp"

using namespace sigil;

static int usage() {
  std::cerr << "usage: sigil check-config FILE | show-default | version\n";
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "version") {
    std::cout << "sigil 0.1.0\n";
    return 0;
  }
  if (cmd == "show-default") {
    std::cout << conf::embedded_default();
    return 0;
  }
  if (cmd == "check-config") {
    if (argc != 3) return usage();
    auto cfg = conf::load_file(argv[2]);
    if (!cfg) {
      std::cerr << cfg.error().message << "\n";
      return 1;
    }
    // Build the policy table too: it refuses stages this build lacks.  This
    // constructs no sockets, resolvers or scanner connections.
    filter::Components components;
    auto table = filter::PolicyTable::build(cfg.value(), filter::builtin_stages(), components);
    if (!table) {
      std::cerr << table.error().message << "\n";
      return 1;
    }
    std::cout << argv[2] << ": OK (" << cfg->listeners.size() << " listener(s), "
              << cfg->banks.size() << " bank(s), forward " << cfg->forward.target.text << ")\n";
    return 0;
  }
  return usage();
}
