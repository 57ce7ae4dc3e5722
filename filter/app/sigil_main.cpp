// filter/app/sigil_main.cpp — the `sigil` command line: dispatches to each
// command (check-config, show-default, version, keys generate|show|test|status|rotate,
// quarantine list|show|release, import opendkim).
//   import opendkim: import_opendkim.hpp.  What each does and its arguments: help.cpp
// (`sigil --help`, `sigil COMMAND --help`) and sigil(1), docs/man/sigil.1.md.
//   check-config: check_config_cli.hpp; keys: keys_cli.hpp;
//   quarantine: quarantine_cli.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "conf/config.hpp"
#include "filter/app/check_config_cli.hpp"
#include "filter/app/help.hpp"
#include "filter/app/import_opendkim.hpp"
#include "filter/app/keys_cli.hpp"
#include "filter/core/policy.hpp"
#include "filter/stages/registry.hpp"

namespace sigil::filter {
int quarantine_cli(int argc, char** argv);
}
#include "keys/private_key.hpp"
#include "sigil_version.hpp"

using namespace sigil;

int main(int argc, char** argv) {
  if (filter::sigil_wants_help(argc, argv)) return filter::sigil_help(argc, argv);
  if (argc < 2) return filter::sigil_usage_error("");
  std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::cout << "sigil " << filter::kVersion << "\n";
    return 0;
  }
  if (cmd == "show-default") {
    std::cout << conf::embedded_default();
    return 0;
  }
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "generate")
    return filter::keys_generate(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "show")
    return filter::keys_show(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "test")
    return filter::keys_test(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "status")
    return filter::keys_status(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "rotate")
    return filter::keys_rotate(argc, argv);
  if (cmd == "import" && argc >= 3 && std::string(argv[2]) == "opendkim")
    return filter::import_opendkim_cli(argc, argv);
  if (cmd == "quarantine") return filter::quarantine_cli(argc, argv);
  if (cmd == "check-config") {
    int rc = filter::check_config_cli(argc, argv);
    return rc == 2 ? filter::sigil_usage_error("check-config") : rc;
  }
  return filter::sigil_usage_error(cmd, argc >= 3 ? argv[2] : "");
}
