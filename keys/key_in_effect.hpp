// keys/key_in_effect.hpp — which key of a rotation chain signs now.
//
// A [[key]] may name a successor (conf/), and successors form chains
// (a -> b -> c).  The key in effect for a key is the furthest link of its
// chain whose published record matches its private key; whether a record
// matches is dkim/key_publication.hpp's question, asked by sigild's key watch
// (filter/app/key_watch.hpp) and `sigil keys status`.  The answer is an
// InEffect snapshot in a slot the signing table owns: the dkim-sign stage
// reads it once per message and never waits for DNS.
// Implements no RFC; pure, no I/O.
// Does not: look anything up, or judge a record.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace sigil::keys {

// The link a successor chain has reached: starting at `start`, follow
// `successor` (the index of a key's successor, or npos) as long as the
// successor's record matches (`matches(index)`); stop at the first that does
// not.  Returns the index of the key that signs for `start`.  A cycle (which
// conf/ refuses) stops after successor.size() steps.
std::size_t key_in_effect(std::size_t start, const std::vector<std::size_t>& successor,
                          const std::function<bool(std::size_t)>& matches);

// For every key of a signing table, the index of the key in effect (the
// same index when it signs itself).  Replaced whole by the key watch.
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
