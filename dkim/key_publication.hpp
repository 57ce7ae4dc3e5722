// dkim/key_publication.hpp — does a published DKIM key record match a
// private key: the signer's side of a key record (key_record.hpp is the
// verifier's).
//
// One copy of these rules for everybody who asks: `sigil keys test` and
// `sigil keys status` (a blocking libresolv lookup) and sigild's key watch
// (filter/app/key_watch.hpp, through dns::Resolver), which decides when a
// successor key takes over (keys/key_in_effect.hpp).  Each caller hands in
// its lookup as a KeyAnswer, as the verifier gets it; everything here is
// pure.
//
// Implements the key record (RFC 6376 §3.6.1) read with the verifier's own
// tag-list parser (§3.2: a syntax error or a duplicate tag makes the record
// unusable): v=, when present, first and DKIM1; k= defaulting to rsa; p= the
// public key, empty for a revoked key; RFC 8463 §4 (k=ed25519, p= the raw
// 32-byte key).  A name with several TXT records does not match: verifiers
// disagree on which one they take (RFC 6376 §3.6.2.2 leaves it undefined).
// Does not: look anything up (the callers do), read key files, or decide
// when to look (key_watch).
#pragma once

#include <string>

#include "dkim/verifier.hpp"
#include "keys/private_key.hpp"

namespace sigil::dkim {

// The verdict on one key's record.
struct Publication {
  enum class State {
    Matches,       // exactly one record, v=DKIM1 or none, k= the key's type, p= its public key
    NotPublished,  // NotFound
    DnsError,      // TempFail, PermFail: nothing is known, the previous verdict still holds
    Mismatch,      // a record that is not this key's (other p=, k=, v=, malformed, several)
    Revoked,       // empty p=
  };
  State state = State::DnsError;
  std::string why;  // for every state but Matches, e.g. "k=rsa, the key is ed25519"

  bool matches() const { return state == State::Matches; }
  // "ok", "NOT PUBLISHED (why)", "DNS ERROR (why)", "MISMATCH (why)",
  // "REVOKED (empty p=)": the words of `sigil keys test`.
  std::string text() const;
};

// `lookup`: the TXT answer for the key's selector._domainkey.domain.
Publication check_publication(const keys::PrivateKey& key, const KeyAnswer& lookup);

}  // namespace sigil::dkim
