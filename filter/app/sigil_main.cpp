// filter/app/sigil_main.cpp — the `sigil` command line: dispatches to each
// command (check-config, show-default, version, keys generate|show|test,
// quarantine list|show|release, import opendkim).
//   import opendkim: import_opendkim.hpp.  What each does and its arguments: help.cpp
// (`sigil --help`, `sigil COMMAND --help`) and sigil(1), docs/man/sigil.1.md.
//   check-config: check_config_cli.hpp; keys show|test: keys_cli.hpp;
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

static int keys_generate(int argc, char** argv) {
  std::string selector, domain, out, type = "rsa";
  unsigned bits = 2048;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return filter::sigil_usage_error("keys", "generate");
    std::string v = argv[++i];
    if (a == "--selector") selector = v;
    else if (a == "--domain") domain = v;
    else if (a == "--out") out = v;
    else if (a == "--type") type = v;
    else if (a == "--bits") {
      try {
        bits = static_cast<unsigned>(std::stoul(v));
      } catch (...) {
        std::cerr << "sigil keys generate: --bits wants a number, got '" << v << "'\n";
        return 2;
      }
    } else {
      return filter::sigil_usage_error("keys", "generate");
    }
  }
  if (selector.empty() || domain.empty() || out.empty())
    return filter::sigil_usage_error("keys", "generate");
  if (type != "rsa" && type != "ed25519") {
    std::cerr << "sigil keys generate: --type is rsa or ed25519, got '" << type << "'\n";
    return 2;
  }
  auto kt = type == "rsa" ? keys::KeyType::Rsa : keys::KeyType::Ed25519;
  auto pem = keys::generate_private_key(kt, bits);
  if (!pem) {
    std::cerr << "sigil keys generate: " << pem.error().message << "\n";
    return 1;
  }
  // O_EXCL: never replace a key that may already be published.
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "sigil keys generate: " << out << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  bool ok = ::write(fd, pem->data(), pem->size()) == static_cast<ssize_t>(pem->size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::cerr << "sigil keys generate: " << out << ": write failed\n";
    ::unlink(out.c_str());
    return 1;
  }
  auto key = keys::load_private_key(out);
  if (!key) {
    std::cerr << "sigil keys generate: " << key.error().message << "\n";
    return 1;
  }
  std::cout << keys::zone_file_record(selector, domain, (*key)->dns_record()) << "\n";
  std::cerr << "sigil: wrote " << out << " (" << keys::to_string(kt) << ", " << (*key)->bits()
            << " bits, mode 0600); publish the record above\n";
  return 0;
}

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
    return keys_generate(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "show")
    return filter::keys_show(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "test")
    return filter::keys_test(argc, argv);
  if (cmd == "import" && argc >= 3 && std::string(argv[2]) == "opendkim")
    return filter::import_opendkim_cli(argc, argv);
  if (cmd == "quarantine") return filter::quarantine_cli(argc, argv);
  if (cmd == "check-config") {
    int rc = filter::check_config_cli(argc, argv);
    return rc == 2 ? filter::sigil_usage_error("check-config") : rc;
  }
  return filter::sigil_usage_error(cmd, argc >= 3 ? argv[2] : "");
}
