// dkim/verifier.hpp — DKIM verification through libopendkim (RFC 6376 §6,
// RFC 8301, RFC 8463) and results in the RFC 8601 vocabulary.  The
// Authentication-Results field is in auth_results.hpp (included here).
//
// libopendkim never does DNS here.  A Verification works in steps:
//   1. header() for each field, exactly as received (the library needs the
//      original bytes, DESIGN.md §7);
//   2. end_of_headers() parses the signatures and lists the keys needed
//      (domain, selector), de-duplicated, at most `max_signatures` of them;
//   3. the caller fetches those keys however it likes (filter/ uses dns/,
//      asynchronously and concurrently) and hands each answer to
//      provide_key();
//   4. body() with the body bytes, in chunks;
//   5. finish() runs the library's end-of-message, whose key-lookup callback
//      is served only from the provided answers (a key not provided is a
//      temperror, never a lookup by the library), and returns one
//      SignatureResult per DKIM-Signature field, top first.
// Steps 1, 2, 4 and 5 are synchronous CPU work with no I/O; a Verification
// may be moved to another thread between steps but is used by one thread at a
// time.  A VerifierLib (the DKIM_LIB and the options) is immutable after
// creation and shared by all threads.
//
// Policy applied on top of the library:
//   - rsa-sha1 signatures are never valid (RFC 8301 §3.1): `policy`, or `fail`
//     when the signature does not verify anyway;
//   - RSA keys below `min_key_bits` are not valid (RFC 8301 §3.2): `policy`
//     (again only for a signature that verifies; a bad one is `fail`);
//   - a signature whose l= covers less than the whole body: `policy` unless
//     accept_partial_body (appended text is unsigned; RFC 6376 §8.2); l=
//     longer than the body: `fail` ("body shorter than l=");
//   - x= in the past (beyond clock_drift): `permerror`, reason "signature
//     expired" (as dkimpy, Mail::DKIM, OpenDKIM and go-msgauth report it)
//     (RFC 6376 §6.1.1 calls it PERMFAIL; other verifiers say permerror);
//     t= in the future beyond clock_drift: `policy` (RFC 6376 §3.5: verifiers
//     MAY ignore such signatures);
//   - key record missing (NXDOMAIN/NODATA), revoked (p= empty) or malformed,
//     or a malformed signature field: `permerror`; DNS timeout/SERVFAIL:
//     `temperror`;
//   - signatures beyond `max_signatures` are not verified and not reported
//     (ignored_signatures() counts them, for the log);
//   - more than max(50, 4 x max_signatures) DKIM-Signature fields: nothing
//     is verified, the first max_signatures well-formed ones are `policy`
//     "too many signatures (N)" (libopendkim hashes the body once per
//     distinct c=/a=/l= of every field, ignored ones included, so a flood
//     of signatures with different l= would cost that many passes).
// What counts as malformed (checked here, before any lookup; the library is
// laxer): a tag-list syntax error or a duplicated tag (RFC 6376 §3.2); v=
// other than 1 (so pre-RFC drafts without v= or with v=0.5); a missing a=,
// b=, bh=, d=, h= or s=; an unknown a= or c=; d= or s= that is no DNS name
// (e.g. `legitimate.com(.attacker.com`); h= without From (§5.4); i= outside
// d=; q= without dns/txt; x= not after t=.  Key records: of several TXT
// records the first that starts with v=DKIM1 or has p= is used (noted in
// SignatureResult::note); k=rsa keys in PKCS#1 RSAPublicKey form (the form
// RFC 6376's text names) are accepted as well as the SubjectPublicKeyInfo
// every signer publishes and libopendkim reads; g= (RFC 4871) is ignored.  A body without a final CRLF gets one (RFC 6376 §3.4.3/§3.4.4).
// XXX: libopendkim copies the key record into a 1 KiB buffer, so keys above
// about 6000 bits (8192-bit RSA) cannot be used: `permerror` "key record too
// long" (RFC 8301 §3.2 only requires 1024..4096).
// XXX: libopendkim tests bh= only once the header signature verifies, so a
// message changed in both header and body reports "signature did not
// verify", not "body hash mismatch".
// Does not: DomainKeys (RFC 4870) signatures (ignored), ARC, DMARC, EAI
// (U-label d=/s=: permerror), or any I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.hpp"
#include "dkim/auth_results.hpp"  // authentication_results(), claims_authserv_id()

namespace sigil::dkim {

// RFC 8601 §2.7.1 result words for dkim=.
enum class AuthResult { None, Pass, Fail, Policy, Neutral, TempError, PermError };
const char* to_string(AuthResult r) noexcept;  // "none", "pass", ...

struct VerifyOptions {
  std::size_t max_signatures = 8;  // verified per message; the rest ignored
  unsigned min_key_bits = 1024;    // RSA keys below this are `policy`
  bool accept_partial_body = false;  // l= shorter than the body: pass instead of policy
  std::chrono::seconds clock_drift{300};  // tolerance for x= and a future t=
};

struct KeyRequest {
  std::string domain;    // d=, as written
  std::string selector;  // s=, as written
  // "selector._domainkey.domain" (lower case), the TXT name to look up.
  std::string qname() const;
};

struct KeyAnswer {
  enum class Kind { Ok, NotFound, TempFail, PermFail };
  Kind kind = Kind::TempFail;
  std::vector<std::string> records;  // Ok: the TXT records (strings concatenated)
  std::string reason;                // NotFound/TempFail/PermFail: why (for the A-R reason)
};

struct SignatureResult {
  AuthResult result = AuthResult::PermError;
  std::string reason;      // empty for pass; else a short human reason
  std::string domain;      // d=
  std::string selector;    // s=
  std::string algorithm;   // a= as written ("rsa-sha256", "ed25519-sha256", ...)
  std::string identity;    // i= (or "@d" when absent); empty if the field did not parse
  std::string b_prefix;    // header.b: leading b= characters, unique among the
                           // message's signatures (at least 8, RFC 6008)
  unsigned key_bits = 0;   // 0 when the key was not obtained
  bool key_testing = false;  // t=y in the key record
  std::optional<std::uint64_t> body_length;  // l=, when present
  std::uint64_t canonical_body_length = 0;   // canonical body bytes seen
  // For the log only, never in the A-R field: e.g. "2 TXT records, used the
  // first DKIM key record", "p= in PKCS#1 form".  Often empty.
  std::string note;
};

class VerifierLib {
 public:
  // Failure (Internal): libopendkim could not be initialised.
  static Result<std::shared_ptr<const VerifierLib>> create(const VerifyOptions& opts);
  ~VerifierLib();
  VerifierLib(const VerifierLib&) = delete;
  VerifierLib& operator=(const VerifierLib&) = delete;
  const VerifyOptions& options() const { return opts_; }

  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  explicit VerifierLib(const VerifyOptions& opts);
  VerifyOptions opts_;
  std::unique_ptr<Impl> impl_;
};

class Verification {
 public:
  Verification(std::shared_ptr<const VerifierLib> lib, std::string log_id);
  ~Verification();
  Verification(const Verification&) = delete;
  Verification& operator=(const Verification&) = delete;

  // One header field, with its CRLF and continuation lines as received.
  void header(std::string_view field);
  // End of the header section.  The keys to fetch, de-duplicated (empty when
  // nothing is signed or no signature is usable).
  std::vector<KeyRequest> end_of_headers();
  // A later answer for the same name replaces an earlier one; an answer for
  // a name not requested is never used.  Ok records that hold no DKIM key
  // record make the signature permerror ("no DKIM key record").
  void provide_key(const KeyRequest& key, KeyAnswer answer);
  // Body bytes (CRLF line ends), after the header section's empty line.
  // Called before end_of_headers(), it ends the header section first.
  void body(std::string_view chunk);
  // End of message: one result per DKIM-Signature field, top first, except
  // those beyond max_signatures.  Empty: the message carries no
  // DKIM-Signature (dkim=none).  Never fails as a whole: trouble inside
  // libopendkim makes each signature temperror ("verifier error: ...").
  // Call once (a second call returns the same results).
  std::vector<SignatureResult> finish();
  // Signatures present but not verified because of max_signatures.
  std::size_t ignored_signatures() const;

  struct State;

 private:
  std::unique_ptr<State> st_;
};

// Verifies a whole message held in memory (CRLF or bare LF line ends; bare LF
// is taken as CRLF), fetching keys synchronously through `fetch`.  For tests
// and tools.
std::vector<SignatureResult> verify_message(
    const std::shared_ptr<const VerifierLib>& lib, std::string_view message,
    const std::function<KeyAnswer(const KeyRequest&)>& fetch);

}  // namespace sigil::dkim
