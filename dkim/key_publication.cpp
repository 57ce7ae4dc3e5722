// dkim/key_publication.cpp — see key_publication.hpp.
#include "dkim/key_publication.hpp"

#include <optional>

#include "dkim/signature_parse.hpp"

namespace sigil::dkim {

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
Publication check_record(const keys::PrivateKey& key, const std::string& record) {
  using S = Publication::State;
  detail::TagList t;
  std::string error;
  if (!detail::parse_tag_list(record, t, error)) return {S::Mismatch, "malformed: " + error};
  auto tag = [&](const char* name) -> std::optional<std::string> {
    const std::string* v = t.find(name);
    if (v == nullptr) return std::nullopt;
    return detail::strip_fws(*v);
  };
  auto v = tag("v");
  if (v && (*v != "DKIM1" || t.tags.front().first != "v"))
    return {S::Mismatch, *v != "DKIM1" ? "v=" + *v : "v= is not the first tag"};
  auto p = tag("p");
  if (!p) return {S::Mismatch, "no p= tag"};
  if (p->empty()) return {S::Revoked, "empty p="};
  std::string want_k = keys::to_string(key.type());
  std::string got_k = tag("k").value_or("rsa");
  if (got_k != want_k) return {S::Mismatch, "k=" + got_k + ", the key is " + want_k};
  if (*p != key.public_key_base64()) return {S::Mismatch, "p= is not this private key's public key"};
  return {S::Matches, ""};
}

}  // namespace

Publication check_publication(const keys::PrivateKey& key, const KeyAnswer& r) {
  using S = Publication::State;
  switch (r.kind) {
    case KeyAnswer::Kind::NotFound: return {S::NotPublished, r.reason};
    case KeyAnswer::Kind::TempFail:
    case KeyAnswer::Kind::PermFail: return {S::DnsError, r.reason};
    case KeyAnswer::Kind::Ok: break;
  }
  if (r.records.empty()) return {S::NotPublished, "no TXT record"};
  if (r.records.size() > 1)
    return {S::Mismatch,
            std::to_string(r.records.size()) + " TXT records; verifiers need exactly one"};
  return check_record(key, r.records[0]);
}

}  // namespace sigil::dkim
