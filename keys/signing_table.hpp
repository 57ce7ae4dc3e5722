// keys/signing_table.hpp — who is signed, and with which keys.
//
// A SigningTable is an immutable snapshot built from the [[key]] and
// [[signing]] tables of a conf::Config: every key file is read and parsed
// once, every signature's options are resolved (signature, then rule, then the
// built-in defaults), and the match patterns are indexed so that a lookup
// costs a few hash probes per address, not a scan of the rules.  Reload builds
// a new snapshot and swaps the shared_ptr; a message keeps the one it started
// with.
//
// Implements the choice of whose address decides the signing (From, then
// Sender, then the envelope sender; RFC 5322 §3.6.2), addr-spec extraction
// from From and Sender (RFC 5322 §3.4, with the obsolete forms of §4.4 that
// real mail still carries, and UTF-8 local parts per RFC 6532), and the
// i=/d= relation (RFC 6376 §3.5), which conf/ has already validated.
// Successor keys (key rotation): each KeyEntry knows its successor, and the
// table carries the slot saying which key signs for which now.
// Does not: sign (dkim/), look at DNS (`sigil keys test` and sigild's key
// watch check the published records and fill the slot), or decide whether a message is originating
// (filter/ policy banks).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.hpp"
#include "conf/result.hpp"
#include "keys/key_in_effect.hpp"
#include "keys/private_key.hpp"

namespace sigil::keys {

// One signature to make, with every option resolved (signature > rule >
// conf::default_signed_headers() / default_oversigned_headers() and the other
// built-in defaults, see conf::resolve_options).
struct ResolvedSignature {
  std::string key_name;
  KeyPtr key;
  std::string domain, selector;  // d=, s=
  conf::Canon header_canon = conf::Canon::Relaxed, body_canon = conf::Canon::Relaxed;
  std::vector<std::string> headers;   // h= candidates, as written
  std::vector<std::string> oversign;  // each signed once more than present
  std::chrono::seconds expire{0};     // x= = t= + expire; 0 = no x=
  std::string identity;               // i=, "" for none
  bool sign_if_signed = true;
  std::size_t key_index = 0;          // key_name's position in SigningTable::keys()
};

// A rule as matched: `index` is its position in Config::signing, `pattern`
// the pattern (lower-cased) that matched.
struct SigningRuleView {
  std::size_t index = 0;
  std::string pattern;
  std::vector<ResolvedSignature> signatures;
};

class SigningTable {
 public:
  struct KeyEntry {
    std::string name, file, domain, selector;
    KeyPtr key;
    // The position of its successor in keys(), or kNoSuccessor.
    std::size_t successor = kNoSuccessor;
  };
  static constexpr std::size_t kNoSuccessor = static_cast<std::size_t>(-1);

  // Loads every [[key]] file once (a file named by several keys is read
  // once) and resolves every rule.  Failure (Config), one line per problem:
  // a key file that load_private_key refuses ("key NAME (FILE): reason", e.g.
  // its mode with the chmod 600 hint), a duplicate key name, a signature
  // naming no [[key]], a rule without signatures, or a malformed pattern
  // (the last three only for a Config that did not come from conf::load_*).
  static Result<std::shared_ptr<const SigningTable>> load(const conf::Config& cfg);

  // The rule deciding this message: the author address (From) is tried
  // first, then the Sender address, then the envelope sender; for each, the
  // first rule (in file order) with a matching pattern wins, and the next
  // address is tried only when no rule matches.  Addresses are addr-specs as
  // parse_address returns them; the envelope sender may keep its angle
  // brackets.  An empty address, "<>", or one without a domain matches
  // nothing, not even ".".  Returns nullptr when nothing matches; `which`, if
  // given, is set to "author", "sender" or "envelope" (left alone on nullptr).
  const SigningRuleView* match(std::string_view author, std::string_view sender,
                               std::string_view envelope_from,
                               std::string* which = nullptr) const;

  // True when there is no [[signing]] rule.
  bool empty() const { return views_.empty(); }

  // Advice found while loading: weak RSA keys, Ed25519-only rules, patterns
  // that an earlier rule always wins.
  std::vector<std::string> warnings() const { return warnings_; }

  // Every [[key]], in file order (for `sigil keys show/test`).
  const std::vector<KeyEntry>& keys() const { return keys_; }
  // Each key's successor index (KeyEntry::successor), for key_in_effect().
  std::vector<std::size_t> successors() const;

  // Which key signs for each key now (key_in_effect.hpp): set by sigild's
  // key watch, read by dkim-sign once per message.  Empty slot: each key
  // signs itself.  The table stays immutable; the slot is its own object.
  const InEffectSlot& in_effect() const { return *in_effect_; }
  // The key that signs for keys()[index] under `snapshot` (nullptr: itself).
  const KeyEntry& signer_for(std::size_t index, const InEffect* snapshot) const;

 private:
  SigningTable() = default;
  // Index of the first view matching `address`, or npos.
  std::size_t lookup(std::string_view address) const;
  // The same for a pattern's whole set of addresses: the first earlier view
  // that matches all of them (for the shadowing warning), or npos.
  std::size_t covering(std::string_view pattern) const;
  void index(std::size_t view);
  // load(): the [[key]]s into keys_ (weak ones noted in warnings_); returns
  // each key's position in keys_ by name.
  // Key files may be owned by root or `daemon_uid`.
  std::map<std::string, std::size_t> load_keys(const std::vector<conf::KeyConfig>& keys,
                                               uid_t daemon_uid, std::vector<std::string>& errors);
  // load(): one [[signing]] rule (signing[ri]), its signatures resolved and
  // its patterns checked, added as one view per pattern, unless it has errors.
  void add_rule(std::size_t ri, const conf::SigningRule& rule,
                const std::map<std::string, std::size_t>& key_index,
                std::vector<std::string>& errors);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using Index = std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>>;

  std::vector<KeyEntry> keys_;
  std::vector<SigningRuleView> views_;  // one per (rule, pattern), in file order
  Index exact_;                         // "user@domain" -> first view
  Index domain_;                        // "domain"
  Index subtree_;                       // ".domain", stored without the dot
  std::optional<std::size_t> any_;      // "."
  std::vector<std::string> warnings_;
  std::shared_ptr<InEffectSlot> in_effect_ = std::make_shared<InEffectSlot>();
};

// The addr-spec of a From or Sender field value (RFC 5322 §3.4): display
// names, comments, quoted strings, angle brackets, obsolete routes, folding
// and group syntax are understood; of several addresses the first is
// returned.  The domain is lower-cased; the local part keeps its case and is
// returned unquoted when it is a dot-atom ("John.Doe"@x -> John.Doe@x),
// quoted otherwise ("a@b"@x stays so).  Returns "" when no address can be
// found (an empty group, "<>", garbage).
std::string parse_address(std::string_view header_value);

}  // namespace sigil::keys
