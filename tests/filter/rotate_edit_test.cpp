// tests/filter/rotate_edit_test.cpp — `sigil keys rotate`'s configuration
// edit (filter/app/rotate_config_edit.hpp): comments and layout kept, the
// successor named in the right block, the result loads with the chain.
#include <gtest/gtest.h>

#include <set>

#include "conf/config.hpp"
#include "filter/app/rotate_config_edit.hpp"

using namespace sigil;
using namespace sigil::filter;

namespace {

const char* kText =
    "# Signing relay.\n"
    "[[listener]]\n"
    "address = \"127.0.0.1:10024\"   # the content filter port\n"
    "\n"
    "# The RSA key, published 2025.\n"
    "[[key]]   # first\n"
    "name = \"ex\"\n"
    "file = \"/etc/sigil/keys/example.com.s2025.pem\"  # 0600\n"
    "domain = \"example.com\"\n"
    "selector = \"s2025\"\n"
    "# a comment before the next key\n"
    "\n"
    "[[key]]\n"
    "name = 'other'\n"
    "file = \"/etc/sigil/keys/other.pem\"\n"
    "domain = \"example.org\"\n"
    "selector = \"s1\"\n"
    "\n"
    "[[signing]]\n"
    "match = [\"example.com\"]\n"
    "keys = [\"ex\"]\n";

conf::KeyConfig next_key() {
  return {"ex-s20261207", "/etc/sigil/keys/example.com.s20261207.pem", "example.com",
          "s20261207", ""};
}

}  // namespace

TEST(RotateConfigEdit, KeepsEveryLineAndLoads) {
  auto out = add_successor_block(kText, "ex", next_key());
  ASSERT_TRUE(out.ok()) << out.error().message;
  // Every original line is still there, in order.
  std::string_view rest = *out;
  std::string_view in = kText;
  for (std::size_t pos = 0; pos < in.size();) {
    auto nl = in.find('\n', pos);
    auto line = in.substr(pos, nl - pos + 1);
    auto at = rest.find(line);
    ASSERT_NE(at, std::string_view::npos) << "lost or moved: " << line;
    rest = rest.substr(at + line.size());
    pos = nl + 1;
  }
  EXPECT_NE(out->find("selector = \"s2025\"\nsuccessor = \"ex-s20261207\"\n\n[[key]]\n"
                      "name = \"ex-s20261207\"\n"),
            std::string::npos)
      << *out;
  EXPECT_NE(out->find("selector = \"s20261207\"\n# a comment before the next key\n"),
            std::string::npos)
      << "the new block sits between the old one and what followed it:\n"
      << *out;
  auto cfg = conf::load_string(*out, "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  ASSERT_EQ(cfg->keys.size(), 3u);
  EXPECT_EQ(cfg->keys[0].successor, "ex-s20261207");
  EXPECT_EQ(cfg->keys[1].name, "ex-s20261207");
  EXPECT_EQ(cfg->keys[1].selector, "s20261207");
  EXPECT_EQ(cfg->keys[2].successor, "");
}

TEST(RotateConfigEdit, SingleQuotedNamesAndChains) {
  conf::KeyConfig n = next_key();
  n.domain = "example.org";
  auto out = add_successor_block(kText, "other", n);
  ASSERT_TRUE(out.ok()) << out.error().message;
  auto cfg = conf::load_string(*out, "t.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->keys[1].successor, "ex-s20261207");
  // Rotating again from the new last link makes a chain a -> b -> c.
  conf::KeyConfig c = n;
  c.name = "ex-s20270101";
  c.selector = "s20270101";
  auto again = add_successor_block(*out, "ex-s20261207", c);
  ASSERT_TRUE(again.ok()) << again.error().message;
  auto cfg2 = conf::load_string(*again, "t.toml");
  ASSERT_TRUE(cfg2.ok()) << cfg2.error().message;
  EXPECT_EQ(cfg2->keys[2].successor, "ex-s20270101");
}

TEST(RotateConfigEdit, Refusals) {
  auto none = add_successor_block(kText, "missing", next_key());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no [[key]] block with name = \"missing\""),
            std::string::npos);
  auto once = add_successor_block(kText, "ex", next_key());
  ASSERT_TRUE(once.ok());
  auto twice = add_successor_block(*once, "ex", next_key());
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("already has a successor"), std::string::npos);
}

TEST(RotateConfigEdit, DatedSelector) {
  std::set<std::string> taken;
  auto is_taken = [&](const std::string& s) { return taken.count(s) > 0; };
  EXPECT_EQ(dated_selector("20261207", is_taken), "s20261207");
  taken = {"s20261207"};
  EXPECT_EQ(dated_selector("20261207", is_taken), "s20261207b");
  taken = {"s20261207", "s20261207b"};
  EXPECT_EQ(dated_selector("20261207", is_taken), "s20261207c");
}
