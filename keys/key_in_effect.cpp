// keys/key_in_effect.cpp — see key_in_effect.hpp.
#include "keys/key_in_effect.hpp"

#include <mutex>

namespace sigil::keys {

std::size_t key_in_effect(std::size_t start, const std::vector<std::size_t>& successor,
                          const std::function<bool(std::size_t)>& matches) {
  std::size_t at = start;
  for (std::size_t step = 0; step < successor.size(); ++step) {
    if (at >= successor.size()) break;
    std::size_t next = successor[at];
    if (next >= successor.size() || next == start || !matches(next)) break;
    at = next;
  }
  return at;
}

struct InEffectSlot::Impl {
  mutable std::mutex mu;
  std::shared_ptr<const InEffect> snapshot;
};

InEffectSlot::InEffectSlot() : impl_(std::make_unique<Impl>()) {}
InEffectSlot::~InEffectSlot() = default;

std::shared_ptr<const InEffect> InEffectSlot::get() const {
  std::lock_guard lock(impl_->mu);
  return impl_->snapshot;
}

void InEffectSlot::set(std::shared_ptr<const InEffect> snapshot) const {
  std::lock_guard lock(impl_->mu);
  impl_->snapshot = std::move(snapshot);
}

}  // namespace sigil::keys
