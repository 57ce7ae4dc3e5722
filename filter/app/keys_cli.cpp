// filter/app/keys_cli.cpp — see keys_cli.hpp.
#include "filter/app/keys_cli.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <charconv>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "filter/app/help.hpp"
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

struct Txt {
  enum class Status { Ok, NotFound, Error } status = Status::Error;
  std::vector<std::string> records;  // each record's strings concatenated
  std::string why;
};

Txt lookup_txt(const std::string& name, const std::string& server) {
  Txt out;
  struct __res_state rs;
  std::memset(&rs, 0, sizeof rs);
  if (res_ninit(&rs) != 0) {
    out.why = "resolver initialisation failed";
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
      out.why = "--dns wants IPv4[:PORT], got '" + server + "'";
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
      out.status = Txt::Status::NotFound;
      out.why = herr == HOST_NOT_FOUND ? "NXDOMAIN" : "no TXT record";
    } else {
      out.why = herr == TRY_AGAIN ? "timeout or SERVFAIL" : "lookup failed";
    }
    return out;
  }
  res_nclose(&rs);
  ns_msg msg;
  if (ns_initparse(ans, n, &msg) != 0) {
    out.why = "unparsable reply";
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
  out.status = out.records.empty() ? Txt::Status::NotFound : Txt::Status::Ok;
  if (out.records.empty()) out.why = "no TXT record";
  return out;
}

// Tags of a DKIM key record (RFC 6376 §3.6.1), whitespace removed from values.
std::map<std::string, std::string> tags(const std::string& rec) {
  std::map<std::string, std::string> t;
  std::size_t pos = 0;
  while (pos <= rec.size()) {
    auto semi = rec.find(';', pos);
    std::string item = rec.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    auto eq = item.find('=');
    if (eq != std::string::npos) {
      std::string k, v;
      for (char c : item.substr(0, eq))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') k += c;
      for (char c : item.substr(eq + 1))
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') v += c;
      t[k] = v;
    }
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return t;
}

}  // namespace

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
    auto r = lookup_txt(name, server);
    std::string verdict;
    if (r.status == Txt::Status::NotFound) {
      verdict = "NOT PUBLISHED (" + r.why + ")";
    } else if (r.status == Txt::Status::Error) {
      verdict = "DNS ERROR (" + r.why + ")";
    } else if (r.records.size() > 1) {
      verdict = "MISMATCH (" + std::to_string(r.records.size()) +
                " TXT records; verifiers need exactly one)";
    } else {
      auto t = tags(r.records[0]);
      std::string want_k = keys::to_string(k.key->type());
      std::string got_k = t.count("k") ? t["k"] : "rsa";
      if (t.count("v") && t["v"] != "DKIM1") verdict = "MISMATCH (v=" + t["v"] + ")";
      else if (!t.count("p")) verdict = "MISMATCH (no p= tag)";
      else if (t["p"].empty()) verdict = "REVOKED (empty p=)";
      else if (got_k != want_k) verdict = "MISMATCH (k=" + got_k + ", the key is " + want_k + ")";
      else if (t["p"] != k.key->public_key_base64())
        verdict = "MISMATCH (p= is not this private key's public key)";
      else verdict = "ok";
    }
    if (verdict != "ok") ++bad;
    std::cout << k.name << " " << name << ": " << verdict << "\n";
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace sigil::filter
