// bench/sign_micro.cpp — "why not sign with libopendkim": CPU per DKIM
// signature of one message, signed N times,
//
//   opendkim        libopendkim's dkim_sign() .. dkim_getsighdr_d().  Its API
//                   takes the private key as PEM text, so it decodes the key
//                   for every message.
//   openssl-cached  a minimal relaxed/simple DKIM signer on OpenSSL with the
//                   EVP_PKEY decoded once (what a daemon with a parsed key
//                   store does): canonicalize, body hash, header hash, sign.
//   openssl-parse   the same signer, but decoding the PEM key per message: the
//                   difference to openssl-cached is the key decoding alone.
//
// for an RSA and/or an Ed25519 key.  Figures: CPU µs per signature
// (CLOCK_PROCESS_CPUTIME_ID over the N signatures, after a short warm-up) and
// wall µs.  One thread, no I/O in the timed loop.
//
//   sigil-sign-micro --message msg5k.eml [--rsa-key rsa.pem] [--ed25519-key ed.pem]
//                    [--domain example.com] [--rsa-selector s1] [--ed25519-selector s2]
//                    [-n 2000] [--out-dir DIR]
//
// Prints one human line and one JSON line per (method, key).  With --out-dir
// it writes DIR/micro-<method>-<key>.eml: the message with the signature the
// method produced, so a verifier (bench/dkim_check.py) can show that every
// method signs for real.  Exit status 0 only when every method signed.
//
// A bench tool only: it links none of Sigil's libraries.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sys/types.h>
// dkim.h is C99 and spells bool as _Bool, which C++ lacks (GCC accepts it,
// clang does not); bool has the same ABI.
#define _Bool bool
extern "C" {
#include <dkim.h>
}
#undef _Bool

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "conf/ascii.hpp"

namespace {

[[noreturn]] void die(const std::string& what) {
  std::cerr << "sigil-sign-micro: " << what << "\n";
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Wire form: every line ends in CRLF (bare LF and CRLF in, CRLF out).
std::string to_crlf(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 40 + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\n' && (i == 0 || in[i - 1] != '\r')) out += '\r';
    out += c;
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

struct Message {
  std::vector<std::string> headers;  // raw fields, folding kept, no final CRLF
  std::string body;                  // after the empty line
};

Message split(const std::string& wire) {
  Message m;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    std::size_t eol = wire.find("\r\n", pos);
    if (eol == std::string::npos) eol = wire.size();
    if (eol == pos) {  // the empty line
      pos += 2;
      break;
    }
    std::string_view line(wire.data() + pos, eol - pos);
    if ((line[0] == ' ' || line[0] == '\t') && !m.headers.empty()) {
      m.headers.back() += "\r\n";
      m.headers.back() += line;
    } else {
      m.headers.emplace_back(line);
    }
    pos = eol + 2;
  }
  if (pos < wire.size()) m.body = wire.substr(pos);
  return m;
}

std::string header_name(const std::string& field) {
  auto colon = field.find(':');
  std::string_view n(field.data(), colon == std::string::npos ? field.size() : colon);
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
  return std::string(n);
}

// RFC 6376 §3.4.2 relaxed header canonicalization, with the final CRLF.
void relaxed_header(std::string_view field, std::string& out, bool crlf = true) {
  auto colon = field.find(':');
  std::string_view name = field.substr(0, colon), value = field.substr(colon + 1);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  out += sigil::ascii::lower(name);
  out += ':';
  bool wsp = false, started = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (c == ' ' || c == '\t') {
      wsp = true;
      continue;
    }
    if (wsp && started) out += ' ';
    wsp = false;
    started = true;
    out += c;
  }
  if (crlf) out += "\r\n";
}

// RFC 6376 §3.4.3 simple body canonicalization: trailing empty lines removed.
std::string_view simple_body(std::string_view body) {
  while (body.size() >= 4 && body.substr(body.size() - 4) == "\r\n\r\n") body.remove_suffix(2);
  if (body.empty()) return "\r\n";
  return body;
}

std::string b64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

EVP_PKEY* parse_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

// The headers both signers are asked to sign (those present are used; the
// same names libopendkim signs by default for this message).
const char* const kSignHeaders[] = {"from", "to", "cc", "subject", "date", "message-id",
                                    "in-reply-to", "references", "mime-version",
                                    "content-type", nullptr};

struct Key {
  std::string kind;      // "rsa" or "ed25519"
  std::string pem;
  std::string selector;
  EVP_PKEY* pkey = nullptr;  // parsed once, for openssl-cached
};

// A minimal relaxed/simple DKIM signer with an already-parsed key.  Returns
// the DKIM-Signature field (one line, no CRLF), or "" on failure.
std::string openssl_sign(const Message& m, const Key& k, EVP_PKEY* pkey,
                         const std::string& domain, long t) {
  unsigned char bh[32];
  std::string_view body = simple_body(m.body);
  unsigned int bhlen = 0;
  EVP_Digest(body.data(), body.size(), bh, &bhlen, EVP_sha256(), nullptr);
  // h=: for each name, the last instance (one instance each).
  std::string hlist, data;
  data.reserve(2048);
  for (const char* const* h = kSignHeaders; *h; ++h) {
    for (auto it = m.headers.rbegin(); it != m.headers.rend(); ++it) {
      if (sigil::ascii::lower(header_name(*it)) == *h) {
        relaxed_header(*it, data);
        if (!hlist.empty()) hlist += ':';
        hlist += *h;
        break;
      }
    }
  }
  bool ed = k.kind == "ed25519";
  std::string sig = "DKIM-Signature: v=1; a=";
  sig += ed ? "ed25519-sha256" : "rsa-sha256";
  sig += "; c=relaxed/simple; d=" + domain + "; s=" + k.selector + "; t=" + std::to_string(t) +
         "; h=" + hlist + "; bh=" + b64(bh, sizeof bh) + "; b=";
  relaxed_header(sig, data, false);

  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char out[1024];
  std::size_t outlen = sizeof out;
  bool ok;
  if (ed) {  // RFC 8463: Ed25519 over the SHA-256 of the header data
    unsigned char hh[32];
    unsigned int hl = 0;
    EVP_Digest(data.data(), data.size(), hh, &hl, EVP_sha256(), nullptr);
    ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
         EVP_DigestSign(ctx, out, &outlen, hh, sizeof hh) == 1;
  } else {
    ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
         EVP_DigestSign(ctx, out, &outlen, reinterpret_cast<const unsigned char*>(data.data()),
                        data.size()) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  return sig + b64(out, outlen);
}

DKIM_LIB* g_lib = nullptr;
std::string g_last_error;

// libopendkim: the whole signing transaction for one message.
std::string opendkim_sign(const Message& m, const Key& k, const std::string& domain) {
  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* d = dkim_sign(g_lib, reinterpret_cast<const unsigned char*>("bench"), nullptr,
                      reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(k.pem.c_str())),
                      reinterpret_cast<const unsigned char*>(k.selector.c_str()),
                      reinterpret_cast<const unsigned char*>(domain.c_str()), DKIM_CANON_RELAXED,
                      DKIM_CANON_SIMPLE,
                      k.kind == "ed25519" ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
  if (d == nullptr) {
    g_last_error = std::string("dkim_sign: ") + dkim_getresultstr(st);
    return {};
  }
  std::string result;
  for (const auto& h : m.headers) {
    st = dkim_header(d, reinterpret_cast<u_char*>(const_cast<char*>(h.data())), h.size());
    if (st != DKIM_STAT_OK) goto fail;
  }
  if ((st = dkim_eoh(d)) != DKIM_STAT_OK) goto fail;
  st = dkim_body(d, reinterpret_cast<u_char*>(const_cast<char*>(m.body.data())), m.body.size());
  if (st != DKIM_STAT_OK) goto fail;
  if ((st = dkim_eom(d, nullptr)) != DKIM_STAT_OK) goto fail;
  {
    u_char* buf = nullptr;
    std::size_t len = 0;
    static constexpr std::string_view kName = "DKIM-Signature: ";
    if ((st = dkim_getsighdr_d(d, kName.size(), &buf, &len)) != DKIM_STAT_OK) goto fail;
    result.assign(kName);
    result.append(reinterpret_cast<char*>(buf), len);
  }
  dkim_free(d);
  return result;
fail: {
  const char* e = dkim_geterror(d);
  g_last_error = std::string(dkim_getresultstr(st)) + (e ? std::string(": ") + e : "");
  dkim_free(d);
  return {};
}
}

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Line endings as on the wire: libopendkim folds with bare LF.
std::string crlf_fold(const std::string& field) { return to_crlf(field); }

}  // namespace

int main(int argc, char** argv) {
  std::string msg_path, rsa_path, ed_path, out_dir, domain = "example.com";
  std::string rsa_sel = "s1", ed_sel = "s2";
  long n = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " wants a value");
      return argv[++i];
    };
    if (a == "--message") msg_path = val();
    else if (a == "--rsa-key") rsa_path = val();
    else if (a == "--ed25519-key") ed_path = val();
    else if (a == "--domain") domain = val();
    else if (a == "--rsa-selector") rsa_sel = val();
    else if (a == "--ed25519-selector") ed_sel = val();
    else if (a == "-n") n = std::strtol(val().c_str(), nullptr, 10);
    else if (a == "--out-dir") out_dir = val();
    else if (a == "-h" || a == "--help") {
      std::cout << "usage: sigil-sign-micro --message FILE [--rsa-key PEM] [--ed25519-key PEM]\n"
                   "       [--domain D] [--rsa-selector S] [--ed25519-selector S] [-n N] [--out-dir DIR]\n";
      return 0;
    } else die("unknown argument '" + a + "' (see --help)");
  }
  if (msg_path.empty() || (rsa_path.empty() && ed_path.empty()) || n < 1 || n > 10000000)
    die("needs --message, a key and -n between 1 and 10000000 (see --help)");

  const std::string wire = to_crlf(read_file(msg_path));
  const Message msg = split(wire);
  std::vector<Key> keys;
  if (!rsa_path.empty()) keys.push_back({"rsa", read_file(rsa_path), rsa_sel});
  if (!ed_path.empty()) keys.push_back({"ed25519", read_file(ed_path), ed_sel});
  for (auto& k : keys) {
    k.pkey = parse_pem(k.pem);
    if (!k.pkey) die(k.kind + " key: " + openssl_error());
    bool is_ed = EVP_PKEY_get_id(k.pkey) == EVP_PKEY_ED25519;
    if (is_ed != (k.kind == "ed25519")) die(k.kind + " key is of another type");
  }
  g_lib = dkim_init(nullptr, nullptr);
  if (!g_lib) die("dkim_init failed");
  const long t = static_cast<long>(std::time(nullptr));

  bool all_ok = true;
  const char* const methods[] = {"opendkim", "openssl-cached", "openssl-parse"};
  for (const auto& k : keys) {
    for (const char* method : methods) {
      std::string_view mth = method;
      auto once = [&]() -> std::string {
        if (mth == "opendkim") return opendkim_sign(msg, k, domain);
        if (mth == "openssl-cached") return openssl_sign(msg, k, k.pkey, domain, t);
        EVP_PKEY* p = parse_pem(k.pem);  // openssl-parse
        if (!p) return {};
        std::string s = openssl_sign(msg, k, p, domain, t);
        EVP_PKEY_free(p);
        return s;
      };
      std::string sig;
      for (int w = 0; w < 20; ++w) sig = once();  // warm-up
      if (sig.empty()) {
        std::cerr << "sigil-sign-micro: " << method << " " << k.kind
                  << " failed: " << (g_last_error.empty() ? openssl_error() : g_last_error)
                  << "\n";
        std::cout << "{\"method\":\"" << method << "\",\"key\":\"" << k.kind
                  << "\",\"ok\":false}\n";
        all_ok = false;
        continue;
      }
      std::size_t failures = 0;
      double c0 = cpu_now(), w0 = wall_now();
      for (long i = 0; i < n; ++i)
        if (once().empty()) ++failures;
      double c1 = cpu_now(), w1 = wall_now();
      double cpu_us = (c1 - c0) * 1e6 / static_cast<double>(n);
      double wall_us = (w1 - w0) * 1e6 / static_cast<double>(n);
      if (failures) all_ok = false;
      char line[512];
      std::snprintf(line, sizeof line, "%-15s %-8s %7ld signatures: %9.1f us CPU, %9.1f us wall per signature%s",
                    method, k.kind.c_str(), n, cpu_us, wall_us, failures ? " (FAILURES)" : "");
      std::cerr << line << "\n";
      std::snprintf(line, sizeof line,
                    "{\"method\":\"%s\",\"key\":\"%s\",\"ok\":%s,\"n\":%ld,\"failures\":%zu,"
                    "\"message_bytes\":%zu,\"cpu_us\":%.1f,\"wall_us\":%.1f}",
                    method, k.kind.c_str(), failures ? "false" : "true", n, failures, wire.size(),
                    cpu_us, wall_us);
      std::cout << line << "\n";
      if (!out_dir.empty()) {
        std::ofstream out(out_dir + "/micro-" + method + "-" + k.kind + ".eml", std::ios::binary);
        out << crlf_fold(sig) << wire;
        if (!out) die("cannot write into " + out_dir);
      }
    }
  }
  for (auto& k : keys) EVP_PKEY_free(k.pkey);
  dkim_close(g_lib);
  return all_ok ? 0 : 1;
}
