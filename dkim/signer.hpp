// dkim/signer.hpp — DKIM signing (RFC 6376 §3, §5; RFC 8463 ed25519-sha256).
//
// Sigil signs outside libopendkim, with keys parsed once (keys::PrivateKey
// holds the EVP_PKEY).  libopendkim's dkim_sign() takes the key as PEM text
// and parses it for every message, which costs about as much again as the
// RSA signature itself (DESIGN.md §7; measured in bench/sign_micro and
// bench/results/sign-*.md); Sigil's target for signing (CPU per signed
// message at most 1.25x the bare RSA sign) cannot be met through it.
// libopendkim stays the reference: tests/dkim verifies every signature made
// here with it, and it remains the verifier (dkim/verifier.hpp).
//
// What this implements:
//   - body canonicalization simple and relaxed (§3.4.3, §3.4.4), streamed:
//     memory does not grow with the body; bh= is SHA-256 (RFC 8301: no sha1);
//   - header canonicalization simple and relaxed (§3.4.1, §3.4.2);
//   - header selection bottom-up (§5.4.2), with oversigning: each oversigned
//     name is listed once more than it occurs, so an added field of that name
//     breaks the signature;
//   - the DKIM-Signature field is built and folded here, before it is hashed,
//     so the bytes signed are the bytes sent (the libopendkim Ed25519 folding
//     pitfall in DESIGN.md §7 cannot happen); b= is last and folded only
//     inside its value, which verifiers strip entirely (§3.5);
//   - rsa-sha256 (PKCS#1 v1.5 over the SHA-256 of the header hash input) and
//     ed25519-sha256 (PureEdDSA over that SHA-256 digest, RFC 8463 §3).
// Does not: choose keys or decide who is signed (keys/, filter/), l= body
// length limits (never emitted: they let anyone append content), or I/O.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "conf/result.hpp"
#include "keys/private_key.hpp"

struct evp_md_ctx_st;

namespace sigil::dkim {

using conf::Canon;

// SHA-256 of the canonicalized body, fed in chunks of the body bytes (after
// the header section's empty line; CRLF line ends).
class BodyHasher {
 public:
  explicit BodyHasher(Canon canon);
  ~BodyHasher();
  BodyHasher(const BodyHasher&) = delete;
  BodyHasher& operator=(const BodyHasher&) = delete;

  void update(std::string_view chunk);
  // The bh= value (base64).  Call once.
  std::string finish();
  // Canonical body bytes hashed so far (for tests and logs).
  std::uint64_t canonical_length() const { return hashed_ + out_.size(); }

 private:
  void emit(std::string_view s);
  void flush();
  void start_content();
  void end_line();

  Canon canon_;
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> md_;
  // State across chunks (a line may span chunks; nothing is buffered but the
  // canonical output):
  std::uint64_t pending_empty_ = 0;  // empty lines held back (dropped at the end)
  bool any_line_ = false;    // a non-empty line was written
  bool cr_ = false;          // a CR was seen; its LF may start the next chunk
  bool content_ = false;     // the current line has content (relaxed: non-WSP)
  bool wsp_ = false;         // relaxed: WSP after content, not yet written as SP
  std::string out_;          // canonical bytes not yet hashed
  std::uint64_t hashed_ = 0;
};

// One signature to make.
struct SignatureSpec {
  keys::KeyPtr key;
  std::string domain;    // d=
  std::string selector;  // s=
  Canon header_canon = Canon::Relaxed;
  Canon body_canon = Canon::Relaxed;
  std::vector<std::string> headers;   // names to sign, as written in h=
  std::vector<std::string> oversign;  // names listed once more than present
  std::string identity;               // i=, empty for none
  std::int64_t timestamp = 0;         // t=
  std::int64_t expire_after = 0;      // x= = t= + this; 0 = no x=
};

// Header fields of the message as sent, top to bottom, each the exact bytes
// of the field including continuation lines and its final CRLF.
using FieldList = std::vector<std::string_view>;

// Canonical form of one field (with its CRLF).
std::string canon_header(std::string_view field, Canon canon);

// The h= names in order: each name of `headers` as often as the message has
// it (absent names are left out), then each name of `oversign` once more.
std::vector<std::string> signed_header_names(const SignatureSpec& spec, const FieldList& fields);

// The hash input of §3.7 for the given h= names: the selected fields
// (bottom-up per name; a name with no instance left contributes nothing),
// canonicalized, then the DKIM-Signature field with an empty b= value,
// canonicalized, without its final CRLF.
std::string header_hash_input(const FieldList& fields, const std::vector<std::string>& names,
                              std::string_view signature_field_without_b, Canon canon);

// Signs a header hash input (SHA-256 of it, then RSA PKCS#1 v1.5 or
// Ed25519 per RFC 8463 §3) and returns the b= value, base64.
// Failure (Internal): OpenSSL refused ("key unavailable: ...").
Result<std::string> sign_hash_input(const keys::PrivateKey& key, std::string_view input);

// Makes the complete DKIM-Signature field (ending in CRLF) for a message with
// these header fields and body hash (BodyHasher for spec.body_canon).
// Failure (Internal): OpenSSL could not sign with the key ("key unavailable").
Result<std::string> sign(const SignatureSpec& spec, const FieldList& fields,
                         std::string_view body_hash);

// sign() in two steps, so that the costly part — the private-key operation —
// can run on another thread with nothing but owned data:
//   prepare(): canonicalization, the field without b=, its SHA-256 digest;
//   key->sign_digest(digest) anywhere;
//   finish(): the field with b= folded in.
struct Prepared {
  keys::KeyPtr key;
  std::string field;  // the DKIM-Signature field up to and including "b="
  std::array<unsigned char, 32> digest{};
};
Result<Prepared> prepare(const SignatureSpec& spec, const FieldList& fields,
                         std::string_view body_hash);
std::string finish(const Prepared& p, std::string_view raw_signature);

// "rsa-sha256" or "ed25519-sha256".
const char* algorithm(keys::KeyType t) noexcept;

}  // namespace sigil::dkim
