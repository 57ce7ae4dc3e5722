// keys/key_publication.cpp — see key_publication.hpp.
#include "keys/key_publication.hpp"

#include <mutex>

namespace sigil::keys {

std::map<std::string, std::string> record_tags(std::string_view rec) {
  std::map<std::string, std::string> t;
  auto squeeze = [](std::string_view s) {
    std::string out;
    for (char c : s)
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
    return out;
  };
  std::size_t pos = 0;
  while (pos <= rec.size()) {
    auto semi = rec.find(';', pos);
    auto item = rec.substr(pos, semi == std::string_view::npos ? std::string_view::npos
                                                               : semi - pos);
    auto eq = item.find('=');
    if (eq != std::string_view::npos) t[squeeze(item.substr(0, eq))] = squeeze(item.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return t;
}

std::string Publication::text() const {
  switch (state) {
    case State::Matches: return "ok";
    case State::NotPublished: return "NOT PUBLISHED (" + why + ")";
    case State::DnsError: return "DNS ERROR (" + why + ")";
    case State::Mismatch: return "MISMATCH (" + why + ")";
    case State::Revoked: return "REVOKED (" + why + ")";
  }
  return why;
}

namespace {

// One record against the key (RFC 6376 §3.6.1, RFC 8463 §4).
Publication check_record(const PrivateKey& key, const std::string& record) {
  using S = Publication::State;
  auto t = record_tags(record);
  std::string want_k = to_string(key.type());
  std::string got_k = t.count("k") ? t["k"] : "rsa";
  if (t.count("v") && t["v"] != "DKIM1") return {S::Mismatch, "v=" + t["v"]};
  if (!t.count("p")) return {S::Mismatch, "no p= tag"};
  if (t["p"].empty()) return {S::Revoked, "empty p="};
  if (got_k != want_k) return {S::Mismatch, "k=" + got_k + ", the key is " + want_k};
  if (t["p"] != key.public_key_base64())
    return {S::Mismatch, "p= is not this private key's public key"};
  return {S::Matches, ""};
}

}  // namespace

Publication check_publication(const PrivateKey& key, const TxtLookup& r) {
  using S = Publication::State;
  switch (r.status) {
    case TxtLookup::Status::NotFound: return {S::NotPublished, r.why};
    case TxtLookup::Status::Error: return {S::DnsError, r.why};
    case TxtLookup::Status::Ok: break;
  }
  if (r.records.empty()) return {S::NotPublished, "no TXT record"};
  if (r.records.size() > 1)
    return {S::Mismatch,
            std::to_string(r.records.size()) + " TXT records; verifiers need exactly one"};
  return check_record(key, r.records[0]);
}

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
