// filter/app/help.cpp — see help.hpp.  One table holds every command's
// synopsis, one-line summary and details; the usage and each --help are
// printed from it, so a command is described in one place.
#include "filter/app/help.hpp"

#include <iostream>
#include <string>

#include "filter/app/config_path.hpp"

namespace sigil::filter {

namespace {

// A command's details with "{config}" replaced by the default configuration
// path this build was given (SIGIL_DEFAULT_CONFIG).
std::string with_default_config(std::string_view details) {
  std::string out(details);
  const std::string_view token = "{config}";
  for (auto at = out.find(token); at != std::string::npos; at = out.find(token, at))
    out.replace(at, token.size(), default_config_path());
  return out;
}

struct Command {
  std::string_view group;  // "keys", "quarantine", "import", or "" for a top-level command
  std::string_view name;
  std::string_view args;
  std::string_view summary;
  std::string_view details;
};

constexpr Command kCommands[] = {
    {"", "check-config", "[--no-keys] [FILE]",
     "validate a configuration (and load its keys) without starting anything",
     "Loads FILE as sigild would (every key checked, file:line:key on error), builds\n"
     "its policy banks and loads its DKIM keys; with [daemon] user, checks that this\n"
     "user can read the keys (a reload re-reads them) and write sigild's directories.\n"
     "Opens no socket.  Without FILE: {config} when it exists, else the\n"
     "embedded default.\n"
     "  --no-keys   do not load the key files (a machine without them)\n"
     "Exit 0 and `FILE: OK (...)` when sigild would start with it, 1 otherwise.\n"},
    {"", "show-default", "", "print the embedded default configuration (conf/sigil.toml)",
     "Prints the configuration compiled into sigild, with its comments: what\n"
     "sigild runs when no configuration file is given or found.\n"},
    {"", "version", "", "print the version (also sigil --version)", ""},
    {"import", "opendkim", "[CONF] [--out FILE]",
     "convert an opendkim.conf (default /etc/opendkim.conf) to a sigil.toml",
     "Reads CONF and the KeyTable, SigningTable and host lists it names, and writes\n"
     "an equivalent sigil.toml to stdout, or to FILE (an existing FILE is never\n"
     "replaced): keys, signing rules, canonicalization, signed and oversigned\n"
     "headers, InternalHosts, Mode, Socket (a milter listener), MinimumKeyBits.\n"
     "Each setting without an equivalent is listed as `# not imported: ...`.\n"
     "  --out     write FILE instead of stdout\n"
     "Check the result with sigil check-config FILE.\n"},
    {"keys", "generate", "--selector S --domain D [--type rsa|ed25519] [--bits N] --out FILE",
     "write a new DKIM private key and print its DNS TXT record",
     "Writes a new private key to FILE (mode 0600; an existing FILE is never\n"
     "replaced) and prints its TXT record for S._domainkey.D in zone-file form.\n"
     "  --type    rsa (default) or ed25519\n"
     "  --bits    RSA key size, default 2048\n"},
    {"keys", "show", "FILE", "print the DNS TXT record of every [[key]] in FILE",
     "Loads FILE's [[key]] entries and prints each one's TXT record in zone-file form.\n"},
    {"keys", "test", "FILE [--dns IP[:PORT]]", "check that DNS publishes each [[key]] of FILE",
     "Looks up each key's TXT record and compares its public key with the private\n"
     "key's.  Exit 0 only when every key is published and matches.\n"
     "  --dns     ask this server instead of the resolv.conf ones\n"},
    {"keys", "status", "[CONFIG] [--dns IP[:PORT]]",
     "list each [[key]]: published, matching, age, and what it signs now",
     "Looks up each key's TXT record and prints one line per key: name, domain,\n"
     "selector, published (yes, no, error), matching (yes, no, - on a DNS error),\n"
     "the key file's age in days, and what the key does given these answers, by\n"
     "the rules sigild applies: signs, signs for KEY (a successor in effect),\n"
     "replaced by KEY, successor of KEY waiting for DNS.  A record that does not\n"
     "match gets a second line saying why.  Without CONFIG: {config}.\n"
     "  --dns     ask this server instead of the resolv.conf ones\n"},
    {"keys", "rotate", "--key NAME [--type rsa|ed25519] [--bits N] [--selector S] [CONFIG]",
     "make the next key of NAME and name it as successor in CONFIG",
     "Makes a new key for the domain of NAME's chain, next to its last key's file\n"
     "(DOMAIN.SELECTOR.pem, mode 0600), with selector sYYYYMMDD (a letter added\n"
     "when taken) unless --selector; adds successor = \"NAME-SELECTOR\" to the last\n"
     "link's [[key]] and the new [[key]] after it, keeping comments and layout;\n"
     "checks the result loads, then replaces CONFIG atomically.  Prints the TXT\n"
     "record to publish.  After a reload sigild keeps signing with the current key\n"
     "and switches once the record is published and matches.\n"
     "  --type    rsa or ed25519 (default: the current key's)\n"
     "  --bits    RSA key size (default: the current key's)\n"
     "Without CONFIG: {config}.\n"},
    {"quarantine", "list", "CONFIG", "list the quarantined messages, oldest first",
     "One line per message in CONFIG's [quarantine] dir: id, time, size, category,\n"
     "sender and recipients.\n"},
    {"quarantine", "show", "CONFIG ID [--message]", "print a quarantined message's metadata",
     "  --message  print the stored message as received instead\n"},
    {"quarantine", "release", "CONFIG ID [--to ADDR ...]",
     "send a quarantined message on to CONFIG's [forward] target",
     "Sends the message with its original envelope (or to the --to recipients\n"
     "only), with X-Quarantine-ID: <ID> on top and the header edits the pipeline\n"
     "made when it was received; no stage runs again.  Prints the back-end's reply\n"
     "per recipient; exit 0 only when all were accepted.  The file stays.\n"},
};

bool is_help(std::string_view a) { return a == "--help" || a == "-h"; }

std::string full_name(const Command& c) {
  return c.group.empty() ? std::string(c.name) : std::string(c.group) + " " + std::string(c.name);
}

void synopsis(std::ostream& out, const Command& c) {
  out << "sigil " << full_name(c) << (c.args.empty() ? "" : " ") << c.args << "\n";
}

const Command* find(std::string_view group, std::string_view name) {
  for (const auto& c : kCommands) {
    if (c.group.empty() && c.name == group) return &c;
    if (!c.group.empty() && c.group == group && c.name == name) return &c;
  }
  return nullptr;
}

bool is_group(std::string_view w) { return w == "keys" || w == "quarantine" || w == "import"; }

void group_usage(std::ostream& out, std::string_view group) {
  for (const auto& c : kCommands)
    if (c.group == group) {
      out << "  ";
      synopsis(out, c);
      out << "      " << c.summary << "\n";
    }
}

}  // namespace

void sigil_usage(std::ostream& out) {
  out << "usage: sigil COMMAND [ARGS]     (sigil COMMAND --help: that command's help)\n"
         "       sigil --help | --version\n\n"
         "Commands:\n";
  for (const auto& c : kCommands) {
    out << "  " << full_name(c) << (c.args.empty() ? "" : " ") << c.args << "\n"
        << "      " << c.summary << "\n";
  }
  out << "\nThe daemon is sigild (sigild --help).  Manual: sigil(1), sigild(8), sigil.toml(5).\n";
}

bool sigil_wants_help(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "help") return true;
  for (int i = 1; i < argc; ++i)
    if (is_help(argv[i])) return true;
  return false;
}

int sigil_help(int argc, char** argv) {
  std::string_view w1 = argc >= 2 ? argv[1] : "";
  std::string_view w2 = argc >= 3 ? argv[2] : "";
  if (w1 == "help" || is_help(w1)) {  // `sigil help keys` works like `sigil keys --help`
    w1 = w2;
    w2 = argc >= 4 ? argv[3] : "";
  }
  if (const Command* c = find(w1, w2)) {
    std::cout << "usage: ";
    synopsis(std::cout, *c);
    std::cout << "  " << c->summary << "\n\n" << with_default_config(c->details);
  } else if (is_group(w1)) {
    std::cout << "usage: sigil " << w1 << " COMMAND ...\n";
    group_usage(std::cout, w1);
  } else {
    sigil_usage(std::cout);
  }
  return 0;
}

int sigil_usage_error(std::string_view command, std::string_view subcommand) {
  const Command* c = find(command, subcommand);
  if (c) {
    std::cerr << "usage: ";
    synopsis(std::cerr, *c);
    std::cerr << "(see sigil " << full_name(*c) << " --help)\n";
  } else if (is_group(command)) {
    std::cerr << "usage: sigil " << command << " COMMAND ...\n";
    group_usage(std::cerr, command);
    std::cerr << "(see sigil " << command << " --help)\n";
  } else if (command.empty()) {
    sigil_usage(std::cerr);
  } else {
    std::cerr << "sigil: unknown command '" << command << "' (see sigil --help)\n";
  }
  return 2;
}

}  // namespace sigil::filter
