// filter/app/sigil_main.cpp — the `sigil` command line.
//
//   sigil check-config [--no-keys] [FILE]   validate a configuration without starting
//       anything (no FILE: the one sigild reads without -c); check_config_cli.hpp
//   sigil show-default        print the embedded default configuration
//   sigil version
//   sigil keys generate --selector S --domain D [--type rsa|ed25519] [--bits N] --out FILE
//       writes a new private key (mode 0600, never overwrites) and prints its
//       DNS TXT record in zone-file form.  RSA defaults to 2048 bits.
//   sigil keys show FILE      the TXT record of every [[key]] in FILE
//   sigil keys test FILE [--dns IP[:PORT]]
//       checks that DNS publishes each key's public half (keys_cli.hpp)
//   sigil quarantine list|show|release CONFIG [ID] ...   (filter/quarantine_cli.cpp)
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "conf/config.hpp"
#include "filter/app/check_config_cli.hpp"
#include "filter/app/keys_cli.hpp"
#include "filter/core/policy.hpp"
#include "filter/stages/registry.hpp"

namespace sigil::filter {
int quarantine_cli(int argc, char** argv);
}
#include "keys/private_key.hpp"

using namespace sigil;

static int usage() {
  std::cerr << "usage: sigil check-config [--no-keys] [FILE] | show-default | version\n"
               "       sigil keys generate --selector S --domain D [--type rsa|ed25519]\n"
               "                           [--bits N] --out FILE\n"
               "       sigil keys show FILE\n"
               "       sigil keys test FILE [--dns IP[:PORT]]\n"
               "       sigil quarantine list CONFIG | show CONFIG ID [--message]\n"
               "       sigil quarantine release CONFIG ID [--to ADDR ...]\n";
  return 2;
}

static int keys_generate(int argc, char** argv) {
  std::string selector, domain, out, type = "rsa";
  unsigned bits = 2048;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return usage();
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
      return usage();
    }
  }
  if (selector.empty() || domain.empty() || out.empty()) return usage();
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
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "generate")
    return keys_generate(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "show")
    return filter::keys_show(argc, argv);
  if (cmd == "keys" && argc >= 3 && std::string(argv[2]) == "test")
    return filter::keys_test(argc, argv);
  if (cmd == "quarantine") return filter::quarantine_cli(argc, argv);
  if (cmd == "check-config") {
    int rc = filter::check_config_cli(argc, argv);
    return rc == 2 ? usage() : rc;
  }
  return usage();
}
