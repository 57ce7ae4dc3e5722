// dkim/verifier.cpp — DKIM verification through libopendkim (RFC 6376 §6,
// RFC 8301, RFC 8463): the library's callbacks and the verdicts (which key
// record is used, and how it is given to the library: key_record.cpp).
// The interface, the policy and the limits are in verifier.hpp.
// Does not: DNS (the caller fetches the keys), DomainKeys, ARC or DMARC; the
// DKIM-Signature parsing and checks are in signature_parse.cpp, the
// Authentication-Results field in auth_results.cpp.
//
// libopendkim does the canonicalization, the hashing and the signature check.
// Sigil parses every DKIM-Signature field itself as well, because the library
// is lenient where RFC 6376 is not (a duplicated tag: the last one wins; a
// tag-list syntax error after the required tags: the signature is still
// verified; q= is not checked once a key-lookup callback is set) and because
// domain and selector must be vetted before anything is looked up.  A field
// Sigil rejects is marked "ignore" in the library, which then never asks for
// its key.
//
// Library settings and why:
//   DELAYSIGPROC   keys are asked for at end of message, not end of headers:
//                  the caller fetches them in between (steps 2-3);
//   BADSIGHANDLES  every DKIM-Signature field gets a DKIM_SIGINFO, malformed
//                  ones included, so the library's list and ours line up one
//                  to one, top first;
//   MINKEYBITS 1   key size is Sigil's policy (`policy`, not the library's
//                  KEYTOOSMALL), so that a bad signature with a small key is
//                  still reported as `fail`;
//   CLOCKDRIFT     VerifyOptions::clock_drift (x= and t= use time()).
#include "dkim/verifier.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

// dkim.h is C99 and spells bool as _Bool.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include "conf/ascii.hpp"
#include "dkim/key_record.hpp"
#include "dkim/signature_parse.hpp"
#include "dkim/signer.hpp"

namespace sigil::dkim {

using detail::b_prefix;
using detail::field_name;
using detail::key_qname;
using detail::KeyUse;
using detail::use_key_answer;
using detail::parse_signature;
using detail::ParsedSig;

namespace {

const char* sigerror_reason(int e) {
  switch (e) {
    case DKIM_SIGERROR_EXPIRED: return "signature expired";
    case DKIM_SIGERROR_FUTURE: return "signature timestamp in the future";
    case DKIM_SIGERROR_TIMESTAMPS: return "x= not after t=";
    case DKIM_SIGERROR_NOKEY: return "no key record";
    case DKIM_SIGERROR_DNSSYNTAX: return "malformed key record";
    case DKIM_SIGERROR_KEYFAIL: return "key lookup failed";
    case DKIM_SIGERROR_SUBDOMAIN: return "key forbids subdomain i= (t=s)";
    case DKIM_SIGERROR_KEYVERSION: return "unsupported key version";
    case DKIM_SIGERROR_KEYUNKNOWNHASH: return "key h= names no known hash";
    case DKIM_SIGERROR_KEYHASHMISMATCH: return "key h= does not allow this hash";
    case DKIM_SIGERROR_NOTEMAILKEY: return "key not for email (s=)";
    case DKIM_SIGERROR_KEYTYPEMISSING: return "key type missing";
    case DKIM_SIGERROR_KEYTYPEUNKNOWN: return "unknown key type";
    case DKIM_SIGERROR_KEYREVOKED: return "key revoked";
    case DKIM_SIGERROR_KEYDECODE: return "key could not be decoded";
    case DKIM_SIGERROR_TOOLARGE_L: return "body shorter than l=";
    case DKIM_SIGERROR_MULTIREPLY: return "several key records";
    default: break;
  }
  const char* s = dkim_sig_geterrorstr(e);
  return s ? s : "signature not verified";
}

}  // namespace

// ------------------------------------------------------------- public bits

const char* to_string(AuthResult r) noexcept {
  switch (r) {
    case AuthResult::None: return "none";
    case AuthResult::Pass: return "pass";
    case AuthResult::Fail: return "fail";
    case AuthResult::Policy: return "policy";
    case AuthResult::Neutral: return "neutral";
    case AuthResult::TempError: return "temperror";
    case AuthResult::PermError: return "permerror";
  }
  return "permerror";
}

std::string KeyRequest::qname() const { return key_qname(selector, domain); }

// ---------------------------------------------------------------- library

struct VerifierLib::Impl {
  DKIM_LIB* lib = nullptr;
};

struct Verification::State {
  std::shared_ptr<const VerifierLib> lib;
  VerifyOptions opts;  // lib's (the defaults without one)
  std::string log_id;  // libopendkim keeps the pointer: lives as long as `dkim`
  DKIM* dkim = nullptr;
  enum class Phase { Headers, Body, Done } phase = Phase::Headers;
  std::vector<ParsedSig> sigs;
  DKIM_SIGINFO** siglist = nullptr;  // the library's, same order as `sigs`
  int nsigs = 0;
  bool broken = false;  // the library failed; every result is temperror
  std::string broken_reason;
  bool mismatch = false;  // the library's list does not match ours
  bool flood = false;     // more DKIM-Signature fields than flood_limit()
  std::map<std::string, KeyAnswer> answers;  // by qname
  std::map<std::string, KeyUse> used;        // by qname, filled by the callback
  std::unique_ptr<BodyHasher> len_simple, len_relaxed;  // full canonical lengths, for l=
  std::uint64_t body_bytes = 0;
  std::string body_tail;  // the last (up to) two body bytes
  std::vector<SignatureResult> results;
  bool finished = false;

  std::size_t verified_count() const {
    return std::min(sigs.size(), opts.max_signatures);
  }
  // libopendkim canonicalizes and hashes for every DKIM-Signature field,
  // ignored ones included: one pass over the body per distinct (c=, a=, l=)
  // and one over the signed headers per field.  Beyond this many fields the
  // message is not given to it at all (see verifier.hpp).
  std::size_t flood_limit() const {
    return std::max<std::size_t>(50, 4 * opts.max_signatures);
  }
};

namespace {

Verification::State* state_of(DKIM* dkim) {
  return static_cast<Verification::State*>(dkim_get_user_context(dkim));
}

// Called by dkim_eoh() with the library's signature list: remember it, and
// mark "ignore" whatever Sigil refused or will not verify.
DKIM_CBSTAT prescreen(DKIM* dkim, DKIM_SIGINFO** sigs, int nsigs) noexcept {
  try {
    auto* st = state_of(dkim);
    if (st == nullptr) return DKIM_CBSTAT_ERROR;
    st->siglist = sigs;
    st->nsigs = nsigs;
    st->mismatch = nsigs < 0 || static_cast<std::size_t>(nsigs) != st->sigs.size();
    const std::size_t limit = st->verified_count();
    for (int i = 0; i < nsigs; ++i) {
      auto k = static_cast<std::size_t>(i);
      if (st->mismatch || k >= limit || !st->sigs[k].ok) dkim_sig_ignore(sigs[i]);
    }
    return DKIM_CBSTAT_CONTINUE;
  } catch (...) {
    return DKIM_CBSTAT_ERROR;
  }
}

// The library's key lookup: served only from provide_key() answers.  A key
// not provided makes the signature temperror; the library is never told
// DEFAULT, which would make it query DNS itself.
DKIM_CBSTAT lookup_key(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) noexcept {
  try {
    auto* st = state_of(dkim);
    if (st == nullptr || st->siglist == nullptr || buflen == 0) return DKIM_CBSTAT_ERROR;
    int idx = -1;
    for (int i = 0; i < st->nsigs; ++i)
      if (st->siglist[i] == sig) idx = i;
    if (idx < 0 || static_cast<std::size_t>(idx) >= st->sigs.size()) return DKIM_CBSTAT_ERROR;
    const ParsedSig& p = st->sigs[static_cast<std::size_t>(idx)];
    if (!p.ok) return DKIM_CBSTAT_ERROR;
    auto it = st->used.find(p.qname);
    if (it == st->used.end()) {
      KeyUse u;
      auto a = st->answers.find(p.qname);
      if (a != st->answers.end()) u = use_key_answer(a->second, buflen);
      it = st->used.emplace(p.qname, std::move(u)).first;
    }
    const KeyUse& u = it->second;
    switch (u.kind) {
      case KeyUse::Kind::Ok:
        std::memcpy(buf, u.record.c_str(), u.record.size() + 1);
        return DKIM_CBSTAT_CONTINUE;
      case KeyUse::Kind::NotFound:
        return DKIM_CBSTAT_NOTFOUND;
      case KeyUse::Kind::NotProvided:
      case KeyUse::Kind::TempFail:
        return DKIM_CBSTAT_TRYAGAIN;
      default:
        return DKIM_CBSTAT_ERROR;
    }
  } catch (...) {
    return DKIM_CBSTAT_ERROR;
  }
}

// ------------------------------------------------------- end of message

// The library failed for the whole message: every result is temperror.
void mark_broken(Verification::State& st, DKIM_STAT s) {
  st.broken = true;
  const char* e = dkim_geterror(st.dkim);
  st.broken_reason = std::string("verifier error: ") + (e && *e ? e : dkim_getresultstr(s));
}

// libopendkim's end of message, which asks for the keys and verifies; its
// verdict on each signature is read afterwards (verdict()).
void end_of_message(Verification::State& st) {
  if (!st.dkim || st.broken || st.flood || st.sigs.empty()) return;
  // RFC 6376 §3.4.3, §3.4.4: a body without a final CRLF is canonicalized
  // as if it had one; libopendkim 2.11 instead fails the whole message
  // ("CRLF at end of body missing"), so it gets the CRLF here.
  if (st.body_bytes > 0 && st.body_tail != "\r\n")
    (void)dkim_body(st.dkim, reinterpret_cast<u_char*>(const_cast<char*>("\r\n")), 2);
  DKIM_STAT s = dkim_eom(st.dkim, nullptr);
  // Failed before any signature was looked at (the other statuses are the
  // verdict on one signature, read per signature).
  if (s == DKIM_STAT_SYNTAX || s == DKIM_STAT_INVALID || s == DKIM_STAT_NORESOURCE ||
      s == DKIM_STAT_INTERNAL)
    mark_broken(st, s);
}

// The canonical length of the whole body, for each canonicalization that a
// signature with l= uses (unset for the others).
struct BodyLengths {
  std::optional<std::uint64_t> simple, relaxed;
  std::optional<std::uint64_t> of(Canon c) const { return c == Canon::Simple ? simple : relaxed; }
};

BodyLengths full_body_lengths(Verification::State& st) {
  auto length = [](BodyHasher* h) -> std::optional<std::uint64_t> {
    if (h == nullptr) return std::nullopt;
    (void)h->finish();
    return h->canonical_length();
  };
  return BodyLengths{length(st.len_simple.get()), length(st.len_relaxed.get())};
}

// What libopendkim says of one signature after dkim_eom().
struct LibSig {
  DKIM_SIGINFO* si;
  int err;
  unsigned flags;
  int bh;
  explicit LibSig(DKIM_SIGINFO* s)
      : si(s), err(dkim_sig_geterror(s)), flags(dkim_sig_getflags(s)), bh(dkim_sig_getbh(s)) {}
  bool processed() const { return (flags & DKIM_SIGFLAG_PROCESSED) != 0; }
  bool passed() const { return (flags & DKIM_SIGFLAG_PASSED) != 0; }
};

// A signature's result and, unless it is pass, why.
struct Verdict {
  AuthResult result;
  std::string reason;
};

// The result's fields the library measured (key size and test mode, the
// canonical body length) and the key answer's note.
void add_library_facts(SignatureResult& r, DKIM* dkim, const ParsedSig& p, const LibSig& s,
                       const KeyUse* use, std::optional<std::uint64_t> full_length) {
  if (use != nullptr) r.note = use->note;
  unsigned bits = 0;
  if (dkim_sig_getkeysize(s.si, &bits) == DKIM_STAT_OK && bits > 0) r.key_bits = bits;
  if (!p.rsa && s.processed() && s.err != DKIM_SIGERROR_KEYDECODE &&
      (s.err == DKIM_SIGERROR_OK || s.err == DKIM_SIGERROR_BADSIG || s.passed()))
    r.key_bits = 256;  // Ed25519 public keys are 256 bits; the library reports 0
  r.key_testing = (s.flags & DKIM_SIGFLAG_TESTKEY) != 0;
  ssize_t canonlen = 0;
  if (dkim_sig_getcanonlen(dkim, s.si, nullptr, &canonlen, nullptr) == DKIM_STAT_OK &&
      canonlen > 0)
    r.canonical_body_length = static_cast<std::uint64_t>(canonlen);
  if (p.l && full_length) r.canonical_body_length = *full_length;
}

// A signature the library did not process: the key callback said why (or
// was never reached).
Verdict unprocessed_verdict(const Verification::State& st, const ParsedSig& p,
                            const KeyUse* use) {
  if (st.broken) return {AuthResult::TempError, st.broken_reason};
  KeyUse::Kind k = use == nullptr ? KeyUse::Kind::NotProvided : use->kind;
  std::string why = use == nullptr ? std::string() : use->reason;
  switch (k) {
    case KeyUse::Kind::NotProvided:
      return {AuthResult::TempError,
              st.answers.count(p.qname) ? "signature not processed" : "key not fetched"};
    case KeyUse::Kind::TempFail:
      return {AuthResult::TempError, why};
    case KeyUse::Kind::Ok:  // the library gave up without saying why
      return {AuthResult::TempError, "signature not processed"};
    default:
      return {AuthResult::PermError, why};
  }
}

// The library's error on a processed signature (not DKIM_SIGERROR_OK).
Verdict library_error_verdict(const LibSig& s, const KeyUse* use) {
  switch (s.err) {
    case DKIM_SIGERROR_BADSIG:
      return {AuthResult::Fail,
              s.bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch" : "signature did not verify"};
    // An expired signature is not a failed one: nothing was tampered with,
    // it just may no longer be used (RFC 6376 §6.1.1 PERMFAIL).  permerror,
    // as dkimpy, Mail::DKIM, OpenDKIM and go-msgauth all report it.
    case DKIM_SIGERROR_EXPIRED:
      return {AuthResult::PermError, sigerror_reason(s.err)};
    case DKIM_SIGERROR_TOOLARGE_L:
      return {AuthResult::Fail, sigerror_reason(s.err)};
    case DKIM_SIGERROR_FUTURE:
      return {AuthResult::Policy, sigerror_reason(s.err)};
    case DKIM_SIGERROR_NOKEY:
      return {AuthResult::PermError, use != nullptr && !use->reason.empty()
                                         ? use->reason
                                         : std::string(sigerror_reason(s.err))};
    case DKIM_SIGERROR_KEYFAIL:
      return {AuthResult::TempError, sigerror_reason(s.err)};
    default:
      return {AuthResult::PermError, sigerror_reason(s.err)};
  }
}

// Sigil's policy on a signature that verified (RFC 8301, RFC 6376 §8.2).
Verdict policy_verdict(const ParsedSig& p, unsigned key_bits,
                       std::optional<std::uint64_t> full_length, const VerifyOptions& opts) {
  if (p.sha1) return {AuthResult::Policy, "rsa-sha1 not accepted (RFC 8301)"};
  if (p.rsa && key_bits < opts.min_key_bits)
    return {AuthResult::Policy, "RSA key too small (" + std::to_string(key_bits) + " bits)"};
  if (p.l && full_length && *p.l < *full_length && !opts.accept_partial_body)
    return {AuthResult::Policy, "l= leaves part of the body unsigned"};
  return {AuthResult::Pass, {}};
}

// The verdict on signature `i`; once the library has looked at it, `r` also
// gets what the library measured.
Verdict verdict(const Verification::State& st, std::size_t i, const BodyLengths& lengths,
                SignatureResult& r) {
  const ParsedSig& p = st.sigs[i];
  if (!p.ok) return {AuthResult::PermError, p.error};
  if (st.flood)
    return {AuthResult::Policy, "too many signatures (" + std::to_string(st.sigs.size()) + ")"};
  if (st.mismatch || st.siglist == nullptr) {
    if (st.broken) return {AuthResult::TempError, st.broken_reason};
    return {AuthResult::PermError, "signature not parsed by libopendkim"};
  }
  const LibSig s(st.siglist[i]);
  auto found = st.used.find(p.qname);
  const KeyUse* use = found == st.used.end() ? nullptr : &found->second;
  const std::optional<std::uint64_t> full_length = lengths.of(p.body_canon);
  add_library_facts(r, st.dkim, p, s, use, full_length);

  if (s.err == DKIM_SIGERROR_UNKNOWN && !s.processed()) return unprocessed_verdict(st, p, use);
  if (s.err != DKIM_SIGERROR_OK) return library_error_verdict(s, use);
  if (!s.passed() || s.bh != DKIM_SIGBH_MATCH)
    return {AuthResult::Fail, "signature did not verify"};
  // Verified.  Sigil's policy on top.
  return policy_verdict(p, r.key_bits, full_length, st.opts);
}

// The result for signature `i` (one of the first verified_count()).
SignatureResult signature_result(const Verification::State& st, std::size_t i,
                                 const BodyLengths& lengths) {
  const ParsedSig& p = st.sigs[i];
  SignatureResult r;
  r.domain = p.domain;
  r.selector = p.selector;
  r.algorithm = p.algorithm;
  r.identity = p.identity;
  r.b_prefix = b_prefix(st.sigs, i);
  r.body_length = p.l;
  Verdict v = verdict(st, i, lengths, r);
  r.result = v.result;
  r.reason = v.result == AuthResult::Pass ? std::string() : std::move(v.reason);
  return r;
}

}  // namespace

VerifierLib::VerifierLib(const VerifyOptions& opts) : opts_(opts), impl_(std::make_unique<Impl>()) {}

VerifierLib::~VerifierLib() {
  if (impl_ && impl_->lib) dkim_close(impl_->lib);
}

Result<std::shared_ptr<const VerifierLib>> VerifierLib::create(const VerifyOptions& opts) {
  std::shared_ptr<VerifierLib> v(new VerifierLib(opts));
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (lib == nullptr) return make_error(ErrorKind::Internal, "libopendkim: dkim_init failed");
  v->impl_->lib = lib;
  unsigned int flags = DKIM_LIBFLAGS_DELAYSIGPROC | DKIM_LIBFLAGS_BADSIGHANDLES;
  unsigned int minbits = 1;
  std::uint64_t drift = static_cast<std::uint64_t>(std::max<std::int64_t>(0, opts.clock_drift.count()));
  if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
      dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits, sizeof minbits) !=
          DKIM_STAT_OK ||
      dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift, sizeof drift) !=
          DKIM_STAT_OK)
    return make_error(ErrorKind::Internal, "libopendkim: dkim_options refused");
  dkim_set_key_lookup(lib, lookup_key);
  dkim_set_prescreen(lib, prescreen);
  return std::shared_ptr<const VerifierLib>(std::move(v));
}

// ----------------------------------------------------------- verification

Verification::Verification(std::shared_ptr<const VerifierLib> lib, std::string log_id)
    : st_(std::make_unique<State>()) {
  st_->lib = std::move(lib);
  if (st_->lib) st_->opts = st_->lib->options();
  st_->log_id = std::move(log_id);
  DKIM_STAT stat = DKIM_STAT_OK;
  if (st_->lib && st_->lib->impl() && st_->lib->impl()->lib) {
    st_->dkim = dkim_verify(st_->lib->impl()->lib,
                            reinterpret_cast<const unsigned char*>(st_->log_id.c_str()), nullptr,
                            &stat);
  }
  if (st_->dkim == nullptr) {
    st_->broken = true;
    st_->broken_reason = "verifier unavailable";
  } else {
    dkim_set_user_context(st_->dkim, st_.get());
  }
}

Verification::~Verification() {
  if (st_ && st_->dkim) dkim_free(st_->dkim);
}

void Verification::header(std::string_view field) {
  auto& st = *st_;
  if (st.phase != State::Phase::Headers) return;
  if (field.size() >= 2 && field.substr(field.size() - 2) == "\r\n") field.remove_suffix(2);
  else if (!field.empty() && field.back() == '\n') field.remove_suffix(1);
  if (field.empty()) return;
  if (ascii::iequals(field_name(field), "DKIM-Signature")) {
    // libopendkim refuses (and does not record) a field whose name has bytes
    // outside 32..126; it is then no signature for either of us.
    auto name = field.substr(0, field.find(':'));
    bool printable = std::all_of(name.begin(), name.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 32 && static_cast<unsigned char>(c) <= 126;
    });
    if (printable) st.sigs.push_back(parse_signature(field));
    if (st.sigs.size() > st.flood_limit()) st.flood = true;
  }
  if (st.dkim && !st.flood) {
    // SYNTAX is expected for a malformed DKIM-Signature (the field is still
    // recorded) and for a field that is no header at all (ignored).
    (void)dkim_header(st.dkim, reinterpret_cast<u_char*>(const_cast<char*>(field.data())),
                      field.size());
  }
}

std::vector<KeyRequest> Verification::end_of_headers() {
  auto& st = *st_;
  if (st.phase != State::Phase::Headers) return {};
  st.phase = State::Phase::Body;
  if (st.flood) return {};
  if (st.dkim && !st.broken) {
    DKIM_STAT s = dkim_eoh(st.dkim);
    if (s != DKIM_STAT_OK && s != DKIM_STAT_NOSIG) mark_broken(st, s);
  }
  std::vector<KeyRequest> out;
  if (st.broken || st.mismatch) return out;
  std::set<std::string> seen;
  bool want_simple = false, want_relaxed = false;
  for (std::size_t i = 0; i < st.verified_count(); ++i) {
    const ParsedSig& p = st.sigs[i];
    if (!p.ok) continue;
    if (p.l) (p.body_canon == Canon::Simple ? want_simple : want_relaxed) = true;
    if (seen.insert(p.qname).second) out.push_back(KeyRequest{p.domain, p.selector});
  }
  if (want_simple) st.len_simple = std::make_unique<BodyHasher>(Canon::Simple);
  if (want_relaxed) st.len_relaxed = std::make_unique<BodyHasher>(Canon::Relaxed);
  return out;
}

void Verification::provide_key(const KeyRequest& key, KeyAnswer answer) {
  if (st_->finished) return;
  st_->answers[key.qname()] = std::move(answer);
}

void Verification::body(std::string_view chunk) {
  auto& st = *st_;
  if (st.phase == State::Phase::Headers) (void)end_of_headers();
  if (st.phase != State::Phase::Body || chunk.empty()) return;
  if (st.dkim && !st.broken && !st.flood)
    (void)dkim_body(st.dkim, reinterpret_cast<u_char*>(const_cast<char*>(chunk.data())),
                    chunk.size());
  st.body_bytes += chunk.size();
  if (chunk.size() >= 2) {
    st.body_tail.assign(chunk.substr(chunk.size() - 2));
  } else {
    st.body_tail += chunk;
    if (st.body_tail.size() > 2) st.body_tail.erase(0, st.body_tail.size() - 2);
  }
  if (st.len_simple) st.len_simple->update(chunk);
  if (st.len_relaxed) st.len_relaxed->update(chunk);
}

std::size_t Verification::ignored_signatures() const {
  return st_->sigs.size() - st_->verified_count();
}

std::vector<SignatureResult> Verification::finish() {
  auto& st = *st_;
  if (st.finished) return st.results;
  if (st.phase == State::Phase::Headers) (void)end_of_headers();
  st.phase = State::Phase::Done;
  st.finished = true;
  end_of_message(st);
  const BodyLengths lengths = full_body_lengths(st);
  for (std::size_t i = 0; i < st.verified_count(); ++i)
    st.results.push_back(signature_result(st, i, lengths));
  return st.results;
}

// ------------------------------------------------------------ one message

std::vector<SignatureResult> verify_message(
    const std::shared_ptr<const VerifierLib>& lib, std::string_view message,
    const std::function<KeyAnswer(const KeyRequest&)>& fetch) {
  // Bare LF becomes CRLF (a CR already before it is kept as is).
  std::string m;
  m.reserve(message.size() + message.size() / 32);
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) m += '\r';
    m += message[i];
  }
  Verification v(lib, "verify_message");
  std::size_t pos = 0;
  std::size_t body = m.size();
  std::string field;
  while (pos < m.size()) {
    auto eol = m.find("\r\n", pos);
    std::size_t end = eol == std::string::npos ? m.size() : eol + 2;
    if (eol == pos) {  // the empty line
      body = end;
      break;
    }
    std::string_view line(m.data() + pos, end - pos);
    if (!field.empty() && (line[0] == ' ' || line[0] == '\t')) {
      field += line;
    } else {
      if (!field.empty()) v.header(field);
      field.assign(line);
    }
    pos = end;
  }
  if (!field.empty()) v.header(field);
  for (const auto& k : v.end_of_headers()) v.provide_key(k, fetch(k));
  if (body < m.size()) v.body(std::string_view(m).substr(body));
  return v.finish();
}

}  // namespace sigil::dkim
