// opendkim_verify — verifies DKIM signatures with libopendkim (Debian's
// libopendkim11, the library behind opendkim and opendkim-testmsg) and prints
// one line per signature, for tests/interop/interop.sh.
//
//   opendkim_verify FILE...
//   opendkim_verify --features      (prints "ed25519<TAB>yes|no")
//   → FILE<TAB>INDEX<TAB>d<TAB>s<TAB>a<TAB>RESULT<TAB>DETAIL
//
// RESULT is pass, fail (bad signature or body hash mismatch), temperror,
// permerror or unsupported.  Exit status: 0 when every file could be read and
// processed (whatever the verdicts), 1 otherwise.
//
// Keys come from REAL DNS: the library's default query method (DKIM_QUERY_DNS,
// libresolv's res_query via /etc/resolv.conf).  interop.sh runs this inside
// a private network + mount namespace where /etc/resolv.conf is bind-mounted
// to "nameserver 127.0.0.1" and dnsmasq serves the keys; the file query
// method (DKIM_QUERY_FILE) is deliberately not used.
//
// The message is fed exactly as stored: each header field with its folding
// bytes (only the final CRLF removed), then the body bytes verbatim.
//
// This is a test tool, not Sigil code: the daemon never lets libopendkim do
// DNS (DESIGN.md §1).

// XXX: dkim.h uses C99's _Bool in its prototypes, which C++ lacks; bool has
// the same size and ABI (GCC/Clang on every Debian architecture).
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

namespace {

std::string clean(const char* s) {
  std::string out = s != nullptr ? s : "";
  for (char& c : out) {
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

const char* alg_name(DKIM_SIGINFO* sig) {
  dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
  if (dkim_sig_getsignalg(sig, &alg) != DKIM_STAT_OK) return "?";
  switch (alg) {
    case DKIM_SIGN_RSASHA1: return "rsa-sha1";
    case DKIM_SIGN_RSASHA256: return "rsa-sha256";
    case DKIM_SIGN_ED25519SHA256: return "ed25519-sha256";
    default: return "?";
  }
}

// Splits the stored message into header fields and body and feeds them.
DKIM_STAT feed(DKIM* dkim, const std::string& msg) {
  size_t pos = 0;
  size_t field_start = std::string::npos;
  auto flush = [&](size_t end) -> DKIM_STAT {
    if (field_start == std::string::npos) return DKIM_STAT_OK;
    size_t len = end - field_start;
    // Drop the field's final line end (CRLF or LF) only.
    if (len > 0 && msg[field_start + len - 1] == '\n') --len;
    if (len > 0 && msg[field_start + len - 1] == '\r') --len;
    std::string field = msg.substr(field_start, len);
    field_start = std::string::npos;
    return dkim_header(dkim, reinterpret_cast<u_char*>(field.data()), field.size());
  };
  while (pos < msg.size()) {
    size_t nl = msg.find('\n', pos);
    size_t next = nl == std::string::npos ? msg.size() : nl + 1;
    bool empty_line = msg.compare(pos, next - pos, "\r\n") == 0 ||
                      msg.compare(pos, next - pos, "\n") == 0;
    if (empty_line) {
      if (DKIM_STAT st = flush(pos); st != DKIM_STAT_OK) return st;
      pos = next;
      break;
    }
    bool continuation = msg[pos] == ' ' || msg[pos] == '\t';
    if (!continuation) {
      if (DKIM_STAT st = flush(pos); st != DKIM_STAT_OK) return st;
      field_start = pos;
    }
    pos = next;
  }
  if (DKIM_STAT st = flush(pos > msg.size() ? msg.size() : pos); st != DKIM_STAT_OK) return st;
  if (DKIM_STAT st = dkim_eoh(dkim); st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG) return st;
  if (pos < msg.size()) {
    std::string body = msg.substr(pos);
    if (DKIM_STAT st = dkim_body(dkim, reinterpret_cast<u_char*>(body.data()), body.size());
        st != DKIM_STAT_OK && st != DKIM_STAT_NOSIG) {
      return st;
    }
  }
  return DKIM_STAT_OK;
}

bool verify_file(DKIM_LIB* lib, const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "opendkim_verify: cannot read %s\n", path);
    return false;
  }
  std::string msg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* dkim = dkim_verify(lib, reinterpret_cast<const u_char*>(path), nullptr, &st);
  if (dkim == nullptr) {
    std::fprintf(stderr, "opendkim_verify: dkim_verify: %s\n", dkim_getresultstr(st));
    return false;
  }
  DKIM_STAT fed = feed(dkim, msg);
  DKIM_STAT eom = fed == DKIM_STAT_OK ? dkim_eom(dkim, nullptr) : fed;

  DKIM_SIGINFO** sigs = nullptr;
  int nsigs = 0;
  if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK) nsigs = 0;
  if (nsigs == 0) {
    std::printf("%s\t-\t-\t-\t-\tnone\t%s\n", path, clean(dkim_getresultstr(eom)).c_str());
  }
  for (int i = 0; i < nsigs; ++i) {
    DKIM_SIGINFO* sig = sigs[i];
    unsigned int flags = dkim_sig_getflags(sig);
    if ((flags & DKIM_SIGFLAG_PROCESSED) == 0 && (flags & DKIM_SIGFLAG_IGNORE) == 0) {
      // Not reached by dkim_eom (e.g. after an earlier error): do it now so
      // that every signature gets its own verdict.
      (void)dkim_sig_process(dkim, sig);
      flags = dkim_sig_getflags(sig);
    }
    int err = dkim_sig_geterror(sig);
    int bh = dkim_sig_getbh(sig);
    const char* result = "permerror";
    std::string detail = clean(dkim_sig_geterrorstr(static_cast<DKIM_SIGERROR>(err)));
    if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MATCH) {
      result = "pass";
    } else if ((flags & DKIM_SIGFLAG_IGNORE) != 0) {
      result = "permerror";
      detail = "ignored by library: " + detail;
    } else if (err == DKIM_SIGERROR_BADSIG || bh == DKIM_SIGBH_MISMATCH ||
               ((flags & DKIM_SIGFLAG_PROCESSED) != 0 && err == DKIM_SIGERROR_OK)) {
      result = "fail";
      if (bh == DKIM_SIGBH_MISMATCH) detail += " (body hash mismatch)";
      if (err == DKIM_SIGERROR_OK && bh != DKIM_SIGBH_MISMATCH) detail = "signature did not verify";
    } else if (err == DKIM_SIGERROR_KEYFAIL || err == DKIM_SIGERROR_DNSSYNTAX) {
      result = "temperror";
    } else if (err == DKIM_SIGERROR_INVALID_A || err == DKIM_SIGERROR_KEYTYPEUNKNOWN) {
      result = "unsupported";
    }
    // The library's own words: the signature error, dkim_eom()'s status and
    // the handle's last error text, verbatim.
    if (detail.empty()) detail = "sigerror " + std::to_string(err);
    std::string lib_error = clean(dkim_geterror(dkim));
    std::printf("%s\t%d\t%s\t%s\t%s\t%s\t%s [dkim_eom: %s%s%s]\n", path, i,
                clean(reinterpret_cast<const char*>(dkim_sig_getdomain(sig))).c_str(),
                clean(reinterpret_cast<const char*>(dkim_sig_getselector(sig))).c_str(),
                alg_name(sig), result, detail.c_str(), clean(dkim_getresultstr(eom)).c_str(),
                lib_error.empty() ? "" : "; ", lib_error.c_str());
  }
  dkim_free(dkim);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: opendkim_verify FILE...\n");
    return 2;
  }
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (lib == nullptr) {
    std::fprintf(stderr, "opendkim_verify: dkim_init failed\n");
    return 1;
  }
  if (std::strcmp(argv[1], "--features") == 0) {
    std::printf("ed25519\t%s\n", dkim_libfeature(lib, DKIM_FEATURE_ED25519) ? "yes" : "no");
    dkim_close(lib);
    return 0;
  }
  // Real DNS through the system resolver; short timeout, no key cache.
  int method = DKIM_QUERY_DNS;
  (void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof method);
  unsigned int timeout = 5;
  (void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout, sizeof timeout);
  bool ok = true;
  for (int i = 1; i < argc; ++i) ok = verify_file(lib, argv[i]) && ok;
  dkim_close(lib);
  std::fflush(stdout);
  return ok ? 0 : 1;
}
