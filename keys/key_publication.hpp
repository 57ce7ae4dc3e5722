// keys/key_publication.hpp — does a published DKIM key record match a
// private key, and which key of a rotation chain signs now.
//
// One copy of these rules for everybody who asks: `sigil keys test` and
// `sigil keys status` (a blocking libresolv lookup) and sigild's key watch
// (filter/app/key_watch.hpp, through dns::Resolver).  Each caller turns its
// lookup into a TxtLookup; everything here is pure.
//
// Implements the key record's tag list (RFC 6376 §3.2, §3.6.1: v= first if
// present and DKIM1, k= defaulting to rsa, p= the public key, empty p= for a
// revoked key) and RFC 8463 §4 (k=ed25519, p= the raw 32-byte key).  A name
// with several TXT records does not match: verifiers disagree on which one
// they take (RFC 6376 §3.6.2.2 leaves it undefined).
// Does not: look anything up (the callers do), read key files, or decide
// when to look (key_watch).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keys/private_key.hpp"

namespace sigil::keys {

// The tags of a DKIM key record, whitespace removed from names and values
// (RFC 6376 §3.2); a later tag of the same name replaces an earlier one.
std::map<std::string, std::string> record_tags(std::string_view record);

// What a TXT lookup of selector._domainkey.domain found.
struct TxtLookup {
  enum class Status {
    Ok,        // records found
    NotFound,  // NXDOMAIN or no TXT record
    Error,     // timeout, SERVFAIL, malformed reply, ...: nothing is known
  };
  Status status = Status::Error;
  std::vector<std::string> records;  // Ok: each record's strings concatenated
  std::string why;                   // NotFound, Error: for messages
};

// The verdict on one key's record.
struct Publication {
  enum class State {
    Matches,       // exactly one record, v=DKIM1 or none, k= the key's type, p= its public key
    NotPublished,  // NotFound
    DnsError,      // the lookup failed: the previous verdict still holds
    Mismatch,      // a record that is not this key's (other p=, k=, v=, several records)
    Revoked,       // empty p=
  };
  State state = State::DnsError;
  std::string why;  // for every state but Matches, e.g. "k=rsa, the key is ed25519"

  bool matches() const { return state == State::Matches; }
  // "ok", "NOT PUBLISHED (why)", "DNS ERROR (why)", "MISMATCH (why)",
  // "REVOKED (empty p=)": the words of `sigil keys test`.
  std::string text() const;
};

Publication check_publication(const PrivateKey& key, const TxtLookup& lookup);

// The link a successor chain has reached: starting at `start`, follow
// `successor` (the index of a key's successor, or npos) as long as the
// successor's record matches (`matches(index)`); stop at the first that does
// not.  Returns the index of the key that signs for `start`.  A cycle (which
// conf/ refuses) stops after successor.size() steps.
std::size_t key_in_effect(std::size_t start, const std::vector<std::size_t>& successor,
                          const std::function<bool(std::size_t)>& matches);

// For every key of a signing table, the index of the key in effect (the
// same index when it signs itself).  Replaced whole by the key watch; the
// dkim-sign stage reads it once per message and never waits for DNS.
using InEffect = std::vector<std::size_t>;

// A thread-safe slot for the current InEffect snapshot.
class InEffectSlot {
 public:
  InEffectSlot();
  ~InEffectSlot();
  // The snapshot, or nullptr when nobody set one (every key signs itself).
  std::shared_ptr<const InEffect> get() const;
  void set(std::shared_ptr<const InEffect> snapshot) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sigil::keys
