// tests/interop/opendkim_sign.cpp — signs messages with Debian's libopendkim
// (dkim_sign), for interop.sh's "foreign signers" part (the signatures are
// then verified by Sigil's dkim_verify_tool).
//
//   interop_opendkim_sign JOBS
//   JOBS lines: IN<TAB>OUT<TAB>KEYFILE<TAB>DOMAIN<TAB>SELECTOR<TAB>ALG<TAB>CANON
//
// ALG is rsa-sha256 or ed25519-sha256; KEYFILE a PEM private key.  The
// message is signed as SMTP would carry it (line ends made CRLF, a final
// CRLF added when missing); OUT is the signature followed by that message.
// libopendkim signs every header field (its default).  Ed25519 with simple
// header canonicalization is signed with dkim_set_margin(0): the library
// hashes its field unfolded but would emit it folded (DESIGN.md §7).
// Exit 1 with a message on the first failure.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> v;
  std::size_t p = 0;
  for (;;) {
    auto t = line.find('\t', p);
    v.push_back(line.substr(p, t == std::string::npos ? std::string::npos : t - p));
    if (t == std::string::npos) return v;
    p = t + 1;
  }
}

dkim_canon_t canon(const std::string& c) {
  if (c == "simple") return DKIM_CANON_SIMPLE;
  if (c == "relaxed") return DKIM_CANON_RELAXED;
  throw std::runtime_error("unknown canonicalization " + c);
}

std::string sign_one(DKIM_LIB* lib, const std::vector<std::string>& job) {
  const std::string& alg = job[5];
  std::string c = job[6];
  auto slash = c.find('/');
  dkim_canon_t hc = canon(c.substr(0, slash));
  dkim_canon_t bc = canon(slash == std::string::npos ? "simple" : c.substr(slash + 1));
  dkim_alg_t a;
  if (alg == "rsa-sha256") a = DKIM_SIGN_RSASHA256;
  else if (alg == "ed25519-sha256") a = DKIM_SIGN_ED25519SHA256;
  else throw std::runtime_error("unknown algorithm " + alg);

  std::string raw = slurp(job[0]);
  std::string msg;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) msg += '\r';
    msg += raw[i];
  }
  if (msg.size() < 2 || msg.compare(msg.size() - 2, 2, "\r\n") != 0) msg += "\r\n";
  std::string key = slurp(job[2]);

  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* d = dkim_sign(lib, reinterpret_cast<const u_char*>(job[0].c_str()), nullptr,
                      reinterpret_cast<dkim_sigkey_t>(key.data()),
                      reinterpret_cast<const u_char*>(job[4].c_str()),
                      reinterpret_cast<const u_char*>(job[3].c_str()), hc, bc, a, -1, &st);
  if (d == nullptr) throw std::runtime_error("dkim_sign: " + std::string(dkim_getresultstr(st)));
  std::string out;
  std::string err;
  if (a == DKIM_SIGN_ED25519SHA256 && hc == DKIM_CANON_SIMPLE) dkim_set_margin(d, 0);
  st = dkim_chunk(d, reinterpret_cast<u_char*>(msg.data()), msg.size());
  if (st == DKIM_STAT_OK) st = dkim_chunk(d, nullptr, 0);
  if (st == DKIM_STAT_OK) st = dkim_eom(d, nullptr);
  u_char* hdr = nullptr;
  size_t len = 0;
  const std::string name = "DKIM-Signature: ";
  if (st == DKIM_STAT_OK) st = dkim_getsighdr_d(d, name.size(), &hdr, &len);
  if (st == DKIM_STAT_OK) {
    out = name + std::string(reinterpret_cast<char*>(hdr), len) + "\r\n" + msg;
  } else {
    const char* e = dkim_geterror(d);
    err = std::string(dkim_getresultstr(st)) + (e ? std::string(": ") + e : "");
  }
  dkim_free(d);
  if (!err.empty()) throw std::runtime_error(err);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: interop_opendkim_sign JOBS\n");
    return 2;
  }
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (lib == nullptr) {
    std::fprintf(stderr, "interop_opendkim_sign: dkim_init failed\n");
    return 1;
  }
  int rc = 0;
  try {
    std::istringstream jobs(slurp(argv[1]));
    std::string line;
    while (std::getline(jobs, line)) {
      if (line.empty()) continue;
      auto job = split(line);
      if (job.size() != 7) throw std::runtime_error("bad job line: " + line);
      std::string signed_msg = sign_one(lib, job);
      std::ofstream o(job[1], std::ios::binary);
      o << signed_msg;
      if (!o) throw std::runtime_error("cannot write " + job[1]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop_opendkim_sign: %s\n", e.what());
    rc = 1;
  }
  dkim_close(lib);
  return rc;
}
