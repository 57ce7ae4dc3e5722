// filter/app/keys_cli.cpp — see keys_cli.hpp.
#include "filter/app/keys_cli.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "filter/app/config_path.hpp"
#include "filter/app/help.hpp"
#include "dkim/key_publication.hpp"
#include "keys/signing_table.hpp"

namespace sigil::filter {

namespace {

// Loads FILE and its keys.  Prints the error and returns nullptr on failure.
std::shared_ptr<const keys::SigningTable> load(const char* file, const char* cmd) {
  auto cfg = conf::load_file(file);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return nullptr;
  }
  if (cfg->keys.empty()) {
    std::cerr << "sigil keys " << cmd << ": " << file << " has no [[key]]\n";
    return nullptr;
  }
  auto t = keys::SigningTable::load(*cfg);
  if (!t) {
    std::cerr << t.error().message << "\n";
    return nullptr;
  }
  return *t;
}

}  // namespace

dkim::KeyAnswer lookup_txt(const std::string& name, const std::string& server) {
  using Kind = dkim::KeyAnswer::Kind;
  dkim::KeyAnswer out;
  struct __res_state rs;
  std::memset(&rs, 0, sizeof rs);
  if (res_ninit(&rs) != 0) {
    out.reason = "resolver initialisation failed";
    return out;
  }
  if (!server.empty()) {
    std::string host = server;
    unsigned port = 53;
    auto colon = server.rfind(':');
    if (colon != std::string::npos && server.find(':') == colon) {
      host = server.substr(0, colon);
      std::from_chars(server.data() + colon + 1, server.data() + server.size(), port);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
      out.reason = "--dns wants IPv4[:PORT], got '" + server + "'";
      res_nclose(&rs);
      return out;
    }
    rs.nsaddr_list[0] = sa;
    rs.nscount = 1;
  }
  rs.retrans = 2;
  rs.retry = 2;
  unsigned char ans[65536];
  int n = res_nquery(&rs, name.c_str(), ns_c_in, ns_t_txt, ans, sizeof ans);
  if (n < 0) {
    int herr = rs.res_h_errno;
    res_nclose(&rs);
    if (herr == HOST_NOT_FOUND || herr == NO_DATA) {
      out.kind = Kind::NotFound;
      out.reason = herr == HOST_NOT_FOUND ? "NXDOMAIN" : "no TXT record";
    } else {
      out.reason = herr == TRY_AGAIN ? "timeout or SERVFAIL" : "lookup failed";
    }
    return out;
  }
  res_nclose(&rs);
  ns_msg msg;
  if (ns_initparse(ans, n, &msg) != 0) {
    out.reason = "unparsable reply";
    return out;
  }
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_txt) continue;
    const unsigned char* p = ns_rr_rdata(rr);
    const unsigned char* end = p + ns_rr_rdlen(rr);
    std::string rec;
    while (p < end) {
      unsigned len = *p++;
      if (p + len > end) break;
      rec.append(reinterpret_cast<const char*>(p), len);
      p += len;
    }
    out.records.push_back(rec);
  }
  out.kind = out.records.empty() ? Kind::NotFound : Kind::Ok;
  if (out.records.empty()) out.reason = "no TXT record";
  return out;
}

keys::KeyPtr write_key_file(const std::string& out, keys::KeyType type, unsigned bits,
                            const char* cmd) {
  auto pem = keys::generate_private_key(type, bits);
  if (!pem) {
    std::cerr << "sigil keys " << cmd << ": " << pem.error().message << "\n";
    return nullptr;
  }
  // O_EXCL: never replace a key that may already be published.
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "sigil keys " << cmd << ": " << out << ": " << std::strerror(errno) << "\n";
    return nullptr;
  }
  bool ok = ::write(fd, pem->data(), pem->size()) == static_cast<ssize_t>(pem->size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::cerr << "sigil keys " << cmd << ": " << out << ": write failed\n";
    ::unlink(out.c_str());
    return nullptr;
  }
  auto key = keys::load_private_key(out);
  if (!key) {
    std::cerr << "sigil keys " << cmd << ": " << key.error().message << "\n";
    ::unlink(out.c_str());
    return nullptr;
  }
  return *key;
}

bool parse_type_bits(const std::string& type, const std::string& bits_text, keys::KeyType& kt,
                     unsigned& bits, const char* cmd) {
  if (!type.empty() && type != "rsa" && type != "ed25519") {
    std::cerr << "sigil keys " << cmd << ": --type is rsa or ed25519, got '" << type << "'\n";
    return false;
  }
  if (!type.empty()) kt = type == "rsa" ? keys::KeyType::Rsa : keys::KeyType::Ed25519;
  if (bits_text.empty()) return true;
  unsigned b = 0;
  auto [p, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), b);
  if (ec != std::errc() || p != bits_text.data() + bits_text.size()) {
    std::cerr << "sigil keys " << cmd << ": --bits wants a number, got '" << bits_text << "'\n";
    return false;
  }
  bits = b;
  return true;
}

std::string config_file(const std::string& named, const char* cmd) {
  auto chosen = choose_config(named);
  if (chosen.path.empty())
    std::cerr << "sigil keys " << cmd << ": no configuration file (" << default_config_path()
              << " does not exist; name one)\n";
  return chosen.path;
}

namespace {

// Days since FILE was modified, or -1.
long age_days(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return -1;
  return static_cast<long>((std::time(nullptr) - st.st_mtime) / 86400);
}

}  // namespace

int keys_generate(int argc, char** argv) {
  std::string selector, domain, out, type = "rsa", bits_text;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return sigil_usage_error("keys", "generate");
    std::string v = argv[++i];
    if (a == "--selector") selector = v;
    else if (a == "--domain") domain = v;
    else if (a == "--out") out = v;
    else if (a == "--type") type = v;
    else if (a == "--bits") bits_text = v;
    else return sigil_usage_error("keys", "generate");
  }
  if (selector.empty() || domain.empty() || out.empty())
    return sigil_usage_error("keys", "generate");
  keys::KeyType kt = keys::KeyType::Rsa;
  unsigned bits = 2048;
  if (!parse_type_bits(type, bits_text, kt, bits, "generate")) return 2;
  auto key = write_key_file(out, kt, bits, "generate");
  if (!key) return 1;
  std::cout << keys::zone_file_record(selector, domain, key->dns_record()) << "\n";
  std::cerr << "sigil: wrote " << out << " (" << keys::to_string(kt) << ", " << key->bits()
            << " bits, mode 0600); publish the record above\n";
  return 0;
}

int keys_show(int argc, char** argv) {
  if (argc != 4) {
    return sigil_usage_error("keys", "show");
  }
  auto table = load(argv[3], "show");
  if (!table) return 1;
  for (const auto& k : table->keys()) {
    std::cout << "; key " << k.name << " (" << k.file << ", " << keys::to_string(k.key->type())
              << ", " << k.key->bits() << " bits" << (k.key->weak() ? ", below 2048: rotate" : "")
              << ")\n"
              << keys::zone_file_record(k.selector, k.domain, k.key->dns_record()) << "\n";
  }
  return 0;
}

int keys_test(int argc, char** argv) {
  std::string file, server;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dns" && i + 1 < argc) server = argv[++i];
    else if (file.empty() && a.rfind("--", 0) != 0) file = a;
    else {
      return sigil_usage_error("keys", "test");
    }
  }
  if (file.empty()) {
    return sigil_usage_error("keys", "test");
  }
  auto table = load(file.c_str(), "test");
  if (!table) return 1;
  int bad = 0;
  for (const auto& k : table->keys()) {
    std::string name = k.selector + "._domainkey." + k.domain;
    auto verdict = dkim::check_publication(*k.key, lookup_txt(name, server)).text();
    if (verdict != "ok") ++bad;
    std::cout << k.name << " " << name << ": " << verdict << "\n";
  }
  return bad == 0 ? 0 : 1;
}

namespace {

// What key `i` does now, given which records match: "signs", "signs for
// a", "replaced by b", "successor of a, waiting for DNS".
std::string role(const keys::SigningTable& t, std::size_t i, const std::vector<bool>& ok) {
  const auto& ks = t.keys();
  auto succ = t.successors();
  std::vector<std::size_t> pred(ks.size(), keys::SigningTable::kNoSuccessor);
  for (std::size_t j = 0; j < ks.size(); ++j)
    if (succ[j] < ks.size()) pred[succ[j]] = j;
  std::size_t head = i;
  for (std::size_t n = 0; n < ks.size() && pred[head] < ks.size(); ++n) head = pred[head];
  std::size_t eff = keys::key_in_effect(head, succ, [&](std::size_t j) { return bool(ok[j]); });
  if (i == eff) {
    if (i != head) return "signs for " + ks[head].name;
    if (succ[i] < ks.size()) return "signs (successor " + ks[succ[i]].name + " waiting for DNS)";
    return "signs";
  }
  for (std::size_t at = head, n = 0; at != eff && n < ks.size(); at = succ[at], ++n)
    if (at == i) return "replaced by " + ks[eff].name;
  return "successor of " + ks[pred[i]].name +
         (ok[i] ? ", published, waiting for " + ks[pred[i]].name : ", waiting for DNS");
}

const char* published_word(const dkim::Publication& p) {
  using S = dkim::Publication::State;
  if (p.state == S::NotPublished) return "no";
  if (p.state == S::DnsError) return "error";
  return "yes";
}

}  // namespace

int keys_status(int argc, char** argv) {
  std::string named, server;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dns" && i + 1 < argc) server = argv[++i];
    else if (named.empty() && a.rfind("--", 0) != 0) named = a;
    else return sigil_usage_error("keys", "status");
  }
  std::string file = config_file(named, "status");
  if (file.empty()) return 1;
  auto table = load(file.c_str(), "status");
  if (!table) return 1;
  const auto& ks = table->keys();
  std::vector<dkim::Publication> pub;
  std::vector<bool> ok;
  for (const auto& k : ks) {
    pub.push_back(dkim::check_publication(
        *k.key, lookup_txt(k.selector + "._domainkey." + k.domain, server)));
    ok.push_back(pub.back().matches());
  }
  std::printf("%-20s %-24s %-12s %-9s %-8s %6s  %s\n", "KEY", "DOMAIN", "SELECTOR", "PUBLISHED",
              "MATCHING", "AGE", "NOW");
  for (std::size_t i = 0; i < ks.size(); ++i) {
    const auto& k = ks[i];
    long days = age_days(k.file);
    std::string age = days < 0 ? "?" : std::to_string(days) + "d";
    const char* matching = pub[i].state == dkim::Publication::State::DnsError ? "-"
                           : ok[i]                                           ? "yes"
                                                                             : "no";
    std::printf("%-20s %-24s %-12s %-9s %-8s %6s  %s\n", k.name.c_str(), k.domain.c_str(),
                k.selector.c_str(), published_word(pub[i]), matching, age.c_str(),
                role(*table, i, ok).c_str());
    if (!ok[i] && pub[i].state != dkim::Publication::State::NotPublished)
      std::printf("  %s: %s\n", k.name.c_str(), pub[i].text().c_str());
  }
  return 0;
}

}  // namespace sigil::filter
