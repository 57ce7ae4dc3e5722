// tests/dkim/key_publication_test.cpp — the rules of a published key record
// (dkim/key_publication.hpp) and the choice of the key in effect along a
// successor chain, with a fake record source standing in for DNS.
#include <gtest/gtest.h>

#include <map>

#include "dkim/key_publication.hpp"
#include "keys/key_in_effect.hpp"
#include "keys/private_key.hpp"

using namespace sigil;
using namespace sigil::keys;
using sigil::dkim::KeyAnswer;
using sigil::dkim::Publication;
using sigil::dkim::check_publication;

namespace {

KeyPtr make_key(KeyType t) {
  auto pem = generate_private_key(t, 2048);
  EXPECT_TRUE(pem.ok());
  auto k = parse_private_key(*pem, "test");
  EXPECT_TRUE(k.ok());
  return *k;
}

KeyAnswer found(std::vector<std::string> records) {
  return {KeyAnswer::Kind::Ok, std::move(records), ""};
}

}  // namespace

TEST(KeyPublication, MatchingRules) {
  auto rsa = make_key(KeyType::Rsa);
  auto ed = make_key(KeyType::Ed25519);
  auto other = make_key(KeyType::Rsa);
  using S = Publication::State;
  struct Case {
    KeyAnswer lookup;
    S want;
    std::string text;
  } cases[] = {
      {found({rsa->dns_record()}), S::Matches, "ok"},
      {found({"k=rsa; p=" + rsa->public_key_base64()}), S::Matches, "ok"},  // no v=, k= default
      {found({"p=" + rsa->public_key_base64()}), S::Matches, "ok"},
      {found({other->dns_record()}), S::Mismatch,
       "MISMATCH (p= is not this private key's public key)"},
      {found({"v=DKIM1; k=ed25519; p=" + rsa->public_key_base64()}), S::Mismatch,
       "MISMATCH (k=ed25519, the key is rsa)"},
      {found({"v=DKIM2; p=" + rsa->public_key_base64()}), S::Mismatch, "MISMATCH (v=DKIM2)"},
      {found({"v=DKIM1; k=rsa"}), S::Mismatch, "MISMATCH (no p= tag)"},
      {found({"v=DKIM1; k=rsa; p="}), S::Revoked, "REVOKED (empty p=)"},
      {found({rsa->dns_record(), rsa->dns_record()}), S::Mismatch,
       "MISMATCH (2 TXT records; verifiers need exactly one)"},
      {{KeyAnswer::Kind::NotFound, {}, "NXDOMAIN"}, S::NotPublished, "NOT PUBLISHED (NXDOMAIN)"},
      {{KeyAnswer::Kind::TempFail, {}, "timeout"}, S::DnsError, "DNS ERROR (timeout)"},
      // Read as a verifier reads it (RFC 6376 §3.2, §3.6.1): folding inside
      // p= is fine; a duplicate tag, a syntax error or v= not first is not.
      {found({" v = DKIM1 ;k=rsa;\tp=" + rsa->public_key_base64().substr(0, 20) + " \r\n " +
              rsa->public_key_base64().substr(20) + "; t=y:s "}),
       S::Matches, "ok"},
      {found({"v=DKIM1; p=x; p=" + rsa->public_key_base64()}), S::Mismatch,
       "MISMATCH (malformed: duplicate tag p)"},
      {found({"k=rsa; v=DKIM1; p=" + rsa->public_key_base64()}), S::Mismatch,
       "MISMATCH (v= is not the first tag)"},
  };
  for (const auto& c : cases) {
    auto p = check_publication(*rsa, c.lookup);
    EXPECT_EQ(p.state, c.want) << c.text;
    EXPECT_EQ(p.text(), c.text);
  }
  EXPECT_TRUE(check_publication(*ed, found({ed->dns_record()})).matches());
  EXPECT_EQ(check_publication(*ed, found({"v=DKIM1; p=" + ed->public_key_base64()})).text(),
            "MISMATCH (k=rsa, the key is ed25519)")
      << "no k= means rsa (RFC 6376 §3.6.1)";
}

// The chain a -> b -> c (and a lone key d); the record source is a map
// from key index to what "DNS" says, checked with the real rules.
TEST(KeyPublication, KeyInEffectAlongTheChain) {
  std::vector<KeyPtr> k = {make_key(KeyType::Ed25519), make_key(KeyType::Ed25519),
                           make_key(KeyType::Ed25519), make_key(KeyType::Ed25519)};
  const std::size_t none = static_cast<std::size_t>(-1);
  std::vector<std::size_t> successor = {1, 2, none, none};
  std::map<std::size_t, KeyAnswer> dns;
  auto matches = [&](std::size_t i) {
    auto it = dns.find(i);
    KeyAnswer nx{KeyAnswer::Kind::NotFound, {}, "NXDOMAIN"};
    return check_publication(*k[i], it == dns.end() ? nx : it->second).matches();
  };
  EXPECT_EQ(key_in_effect(0, successor, matches), 0u) << "nothing published: a signs";
  dns[2] = found({k[2]->dns_record()});
  EXPECT_EQ(key_in_effect(0, successor, matches), 0u) << "c published, b not: the walk stops at b";
  dns[1] = found({k[3]->dns_record()});
  EXPECT_EQ(key_in_effect(0, successor, matches), 0u) << "b's record is another key's: a signs";
  dns[1] = found({k[1]->dns_record()});
  EXPECT_EQ(key_in_effect(0, successor, matches), 2u) << "b and c match: c signs";
  EXPECT_EQ(key_in_effect(1, successor, matches), 2u);
  dns[2] = found({"v=DKIM1; k=ed25519; p="});
  EXPECT_EQ(key_in_effect(0, successor, matches), 1u) << "c revoked: b signs";
  EXPECT_EQ(key_in_effect(3, successor, matches), 3u) << "a key without successor signs itself";
  std::vector<std::size_t> cycle = {1, 0};
  EXPECT_EQ(key_in_effect(0, cycle, [](std::size_t) { return true; }), 1u)
      << "a cycle (conf/ refuses it) still ends";
}

TEST(KeyPublication, InEffectSlot) {
  InEffectSlot slot;
  EXPECT_EQ(slot.get(), nullptr);
  slot.set(std::make_shared<InEffect>(InEffect{2, 1, 2}));
  ASSERT_NE(slot.get(), nullptr);
  EXPECT_EQ((*slot.get())[0], 2u);
}
