// filter/app/keys_rotate_cli.cpp — `sigil keys rotate`: the next key of a
// [[key]]'s successor chain, and the configuration that names it.
//
//   sigil keys rotate --key NAME [--type rsa|ed25519] [--bits N] [--selector S] [CONFIG]
//
// Makes a key (type and size default to those of the chain's last link)
// next to the last link's file, named DOMAIN.SELECTOR.pem, with a selector
// from today's date (s20261207, then s20261207b, ...) unless --selector;
// edits CONFIG's text (rotate_config_edit.hpp: `successor = ...` in the last
// link's block, the new [[key]] block after it), checks the edited text with
// the configuration loader and the key loader, and replaces CONFIG
// atomically (a temporary file in its directory, its mode and owner, then
// rename).  Prints the TXT record to publish and what happens next.
// Nothing is left behind on failure: the new key file is removed when the
// configuration cannot be written.
//
// Does not: publish anything or touch DNS, reload sigild, or remove old keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "conf/config.hpp"
#include "filter/app/help.hpp"
#include "filter/app/keys_cli.hpp"
#include "filter/app/rotate_config_edit.hpp"
#include "keys/signing_table.hpp"

namespace sigil::filter {

namespace {

struct RotateArgs {
  std::string key, type, bits, selector, config;
};

bool parse_args(int argc, char** argv, RotateArgs& a) {
  for (int i = 3; i < argc; ++i) {
    std::string w = argv[i];
    bool has_value = i + 1 < argc;
    if (w == "--key" && has_value) a.key = argv[++i];
    else if (w == "--type" && has_value) a.type = argv[++i];
    else if (w == "--bits" && has_value) a.bits = argv[++i];
    else if (w == "--selector" && has_value) a.selector = argv[++i];
    else if (a.config.empty() && !w.starts_with("--")) a.config = w;
    else return false;
  }
  return !a.key.empty();
}

std::string today() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
  return buf;
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The last link of `name`'s successor chain in cfg, or nullptr (printed).
const conf::KeyConfig* last_link(const conf::Config& cfg, const std::string& name) {
  std::map<std::string, const conf::KeyConfig*> by_name;
  for (const auto& k : cfg.keys) by_name[k.name] = &k;
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    std::cerr << "sigil keys rotate: no [[key]] named '" << name << "' in " << cfg.source << "\n";
    return nullptr;
  }
  const conf::KeyConfig* k = it->second;
  for (std::size_t n = 0; n < cfg.keys.size() && !k->successor.empty(); ++n)
    k = by_name.at(k->successor);  // conf/ checked that it exists
  return k;
}

// The new [[key]]: its selector (given, or from the date), name and file.
bool next_key(const conf::Config& cfg, const conf::KeyConfig& last, const RotateArgs& a,
              conf::KeyConfig& next) {
  auto taken = [&](const std::string& s) {
    for (const auto& k : cfg.keys)
      if (k.domain == last.domain && k.selector == s) return true;
    return exists(dir_of(last.file) + "/" + last.domain + "." + s + ".pem");
  };
  next.selector = a.selector.empty() ? dated_selector(today(), taken) : a.selector;
  if (next.selector.empty() || (!a.selector.empty() && taken(a.selector))) {
    std::cerr << "sigil keys rotate: selector " << (a.selector.empty() ? "s" : "")
              << (a.selector.empty() ? today() : a.selector) << " is taken for " << last.domain << "; give another with --selector\n";
    return false;
  }
  next.name = a.key + "-" + next.selector;
  next.domain = last.domain;
  next.file = dir_of(last.file) + "/" + last.domain + "." + next.selector + ".pem";
  for (const auto& k : cfg.keys)
    if (k.name == next.name) {
      std::cerr << "sigil keys rotate: a [[key]] is already named " << next.name << "\n";
      return false;
    }
  return true;
}

// The edited text must load, keys included (the new file among them).
bool check_edit(const std::string& text, const std::string& file) {
  auto cfg = conf::load_string(text, file);
  if (!cfg) {
    std::cerr << "sigil keys rotate: the edited configuration does not load:\n"
              << cfg.error().message << "\n";
    return false;
  }
  auto t = keys::SigningTable::load(*cfg);
  if (!t) {
    std::cerr << "sigil keys rotate: the edited configuration's keys do not load:\n"
              << t.error().message << "\n";
    return false;
  }
  return true;
}

// Replaces `file` by `text`: a temporary file in its directory with the
// file's mode (and owner, as root), written and synced, then renamed over it.
bool replace_file(const std::string& file, const std::string& text) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return false;
  std::string tmp = file + ".rotate.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    std::cerr << "sigil keys rotate: " << tmp << ": " << std::strerror(errno) << "\n";
    return false;
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fchmod(fd, st.st_mode & 07777) == 0;
  if (ok && ::geteuid() == 0) ok = ::fchown(fd, st.st_uid, st.st_gid) == 0;
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    std::cerr << "sigil keys rotate: cannot replace " << file << ": " << std::strerror(errno)
              << "\n";
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

void print_next_steps(const conf::KeyConfig& last, const conf::KeyConfig& next,
                      const keys::PrivateKey& key, const std::string& config) {
  std::cout << "; key " << next.name << " (" << next.file << ", " << keys::to_string(key.type())
            << ", " << key.bits() << " bits): publish this record\n"
            << keys::zone_file_record(next.selector, next.domain, key.dns_record()) << "\n"
            << "; " << config << ": key " << last.name << " now names " << next.name
            << " as its successor.\n"
            << "; Reload sigild (SIGHUP).  It keeps signing with " << last.name << " (s="
            << last.selector << ") and switches to " << next.name << " (s=" << next.selector
            << ")\n"
            << "; once the record above is published and matches the key (checked every\n"
            << "; [dkim_sign] key_check_interval); `sigil keys status` shows where it stands.\n"
            << "; Keep the " << last.selector << "._domainkey." << last.domain
            << " record published for a week after the switch\n"
            << "; (mail in transit and in queues still carries its signatures).\n";
}

}  // namespace

int keys_rotate(int argc, char** argv) {
  RotateArgs a;
  if (!parse_args(argc, argv, a)) return sigil_usage_error("keys", "rotate");
  std::string file = config_file(a.config, "rotate");
  if (file.empty()) return 1;
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto cfg = conf::load_string(text.str(), file);
  if (!in || !cfg) {
    std::cerr << (cfg ? file + ": cannot read" : cfg.error().message) << "\n";
    return 1;
  }
  const conf::KeyConfig* last = last_link(*cfg, a.key);
  if (!last) return 1;
  auto current = keys::load_private_key(last->file);
  if (!current) {
    std::cerr << "sigil keys rotate: " << current.error().message << "\n";
    return 1;
  }
  keys::KeyType type = (*current)->type();
  unsigned bits = type == keys::KeyType::Rsa ? (*current)->bits() : 2048;
  if (!parse_type_bits(a.type, a.bits, type, bits, "rotate")) return 2;
  conf::KeyConfig next;
  if (!next_key(*cfg, *last, a, next)) return 1;
  auto edited = add_successor_block(text.str(), last->name, next);
  if (!edited) {
    std::cerr << "sigil keys rotate: " << file << ": " << edited.error().message << "\n";
    return 1;
  }
  auto key = write_key_file(next.file, type, bits, "rotate");
  if (!key) return 1;
  // The new key belongs to whoever owns the current one (root or the daemon user).
  struct stat st {};
  if (::geteuid() == 0 && ::stat(last->file.c_str(), &st) == 0 &&
      ::chown(next.file.c_str(), st.st_uid, st.st_gid) != 0) {
    std::cerr << "sigil keys rotate: chown " << next.file << ": " << std::strerror(errno) << "\n";
    ::unlink(next.file.c_str());
    return 1;
  }
  if (!check_edit(*edited, file) || !replace_file(file, *edited)) {
    ::unlink(next.file.c_str());
    return 1;
  }
  print_next_steps(*last, next, *key, file);
  return 0;
}

}  // namespace sigil::filter
