// tests/keys/signing_table_test.cpp — the signing table: address parsing,
// rule choice (author, then Sender, then envelope), pattern kinds, option
// resolution and key loading.  Keys are generated at test time into a
// private temporary directory.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "conf/config.hpp"
#include "keys/private_key.hpp"
#include "keys/signing_table.hpp"

namespace sigil::keys {
namespace {

namespace fs = std::filesystem;

TEST(ParseAddress, Forms) {
  struct Case {
    std::string in, want;
  } cases[] = {
      // plain and display names
      {"user@example.com", "user@example.com"},
      {"User@EXAMPLE.Com", "User@example.com"},  // only the domain is lower-cased
      {"<user@example.com>", "user@example.com"},
      {"John Doe <john@example.com>", "john@example.com"},
      {"\"Doe, John\" <john@example.com>", "john@example.com"},
      {"\"John <x@evil.test>\" <john@example.com>", "john@example.com"},
      {"=?utf-8?q?J=C3=B6rg?= <jorg@example.com>", "jorg@example.com"},
      {"J\xc3\xb6rg <jorg@example.com>", "jorg@example.com"},  // RFC 6532 UTF-8 display name
      {"john@elsewhere.example <john@example.com>", "john@example.com"},  // angle wins
      // comments
      {"john@example.com (John Doe)", "john@example.com"},
      {"(comment) john (more) @ (x) example.com", "john@example.com"},
      {"John (the (nested) one) <john@example.com>", "john@example.com"},
      {"(a@evil.test) <john@example.com>", "john@example.com"},
      {"John \\(x) <john@example.com>", "john@example.com"},  // junk display name, clear angle-addr
      // quoted local parts
      {"\"john@home\"@example.com", "\"john@home\"@example.com"},
      {"Joe <\"joe@home\"@Example.COM>", "\"joe@home\"@example.com"},
      {"\"john.doe\"@example.com", "john.doe@example.com"},  // a dot-atom needs no quotes
      {"\"john doe\"@example.com", "\"john doe\"@example.com"},
      {"\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"},
      {"\"john\".doe@example.com", "john.doe@example.com"},  // obs-local-part
      {"j\xc3\xb6rg@example.com", "j\xc3\xb6rg@example.com"},
      // groups and lists
      {"Friends: alice@example.com, bob@example.org;", "alice@example.com"},
      {"undisclosed-recipients:;", ""},
      {"Empty:; carol@example.com", "carol@example.com"},
      {"alice@example.com, bob@example.org", "alice@example.com"},
      {"Alice <alice@example.com>, Bob <bob@example.org>", "alice@example.com"},
      {"junk, bob@example.org", "bob@example.org"},
      // folding
      {"John Doe\r\n <john@example.com>", "john@example.com"},
      {"\"John\r\n Doe\" <john@\r\n\texample.com>", "john@example.com"},
      {" \t john@example.com \r\n", "john@example.com"},
      // routes and literals
      {"<@relay.example,@other.example:user@example.com>", "user@example.com"},
      {"user@[192.0.2.1]", "user@[192.0.2.1]"},
      {"user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]"},
      // garbage and nothing
      {"", ""},
      {"   ", ""},
      {"<>", ""},
      {"John Doe", ""},
      {"john", ""},
      {"@example.com", ""},
      {"john@", ""},
      {"john@example..com", ""},
      {"john@example.com.", ""},
      {".john@example.com", ""},
      {"john..doe@example.com", ""},
      {"John Doe john@example.com", ""},  // no angle brackets: not an addr-spec
      {"John <john@example.com", ""},
      {"\"unterminated <john@example.com>", ""},
      {"(unterminated <john@example.com>", ""},
      {"<john@example.com> trailing, ok@example.org", "john@example.com"},
      {"a@b@example.com", ""},
      {"john@exa mple.com", ""},
      {std::string("jo\0hn@example.com", 17), ""},
  };
  for (auto& c : cases) {
    EXPECT_EQ(parse_address(c.in), c.want) << "parse_address(\"" << c.in << "\"): got "
                                           << parse_address(c.in) << ", want " << c.want;
  }
}

// Noise made of the characters the parser cares about: it never reads out of
// bounds (ASan) and whatever it returns has an '@' with a domain after it.
TEST(ParseAddress, NoiseNeverBreaksIt) {
  const std::string alphabet = "ab.@<>,:;()\\\"[] \t\r\n\x01\xc3";
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    int len = static_cast<int>(x % 24);
    for (int j = 0; j < len; ++j) {
      x = x * 1664525u + 1013904223u;
      in += alphabet[(x >> 16) % alphabet.size()];
    }
    x = x * 1664525u + 1013904223u;
    std::string got = parse_address(in);
    if (got.empty()) continue;
    auto at = got.rfind('@');
    EXPECT_TRUE(at != std::string::npos && at > 0 && at + 1 < got.size())
        << "parse_address(\"" << in << "\"): got " << got << ", want local@domain or \"\"";
  }
}

// Keys generated once for the whole suite (RSA generation takes a while).
class SigningTableTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sigil-signing-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all);
    rsa_ = write("rsa.pem", KeyType::Rsa, 2048);
    ed_ = write("ed.pem", KeyType::Ed25519, 0);
    weak_ = write("weak.pem", KeyType::Rsa, 1024);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string write(const std::string& name, KeyType type, unsigned bits,
                           mode_t mode = 0600) {
    auto pem = generate_private_key(type, bits);
    EXPECT_TRUE(pem.ok()) << (pem ? "" : pem.error().message);
    if (!pem) return "";
    auto p = (dir_ / name).string();
    std::ofstream(p) << pem.value();
    ::chmod(p.c_str(), mode);
    return p;
  }

  // A configuration with keys "rsa" (example.com/s1), "ed" (example.com/e1),
  // "third" (signer.example/t1, Ed25519) and the given signing rules.
  static conf::Config config(const std::string& signing) {
    std::string text = "[[listener]]\naddress = \"127.0.0.1:10024\"\n";
    text += "[[key]]\nname = \"rsa\"\nfile = \"" + rsa_ +
            "\"\ndomain = \"example.com\"\nselector = \"s1\"\n";
    text += "[[key]]\nname = \"ed\"\nfile = \"" + ed_ +
            "\"\ndomain = \"example.com\"\nselector = \"e1\"\n";
    text += "[[key]]\nname = \"third\"\nfile = \"" + ed_ +
            "\"\ndomain = \"signer.example\"\nselector = \"t1\"\n";
    text += signing;
    auto r = conf::load_string(text, "t.toml");
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return r ? std::move(r).value() : conf::Config{};
  }

  static std::shared_ptr<const SigningTable> table(const std::string& signing) {
    auto t = SigningTable::load(config(signing));
    EXPECT_TRUE(t.ok()) << (t ? "" : t.error().message);
    return t ? t.value() : nullptr;
  }

  static std::string matched(const SigningTable& t, std::string_view author,
                             std::string_view sender, std::string_view envelope) {
    std::string which;
    auto v = t.match(author, sender, envelope, &which);
    if (!v) return "none";
    return "signing[" + std::to_string(v->index) + "] " + v->pattern + " via " + which;
  }

  static inline fs::path dir_;
  static inline std::string rsa_, ed_, weak_;
};

TEST_F(SigningTableTest, PatternKinds) {
  auto t = table(
      "[[signing]]\nmatch = [\"Boss@Example.NET\"]\nkeys = [\"rsa\"]\n"         // 0: exact address
      "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"rsa\"]\n"              // 1: the domain
      "[[signing]]\nmatch = [\".example.org\"]\nkeys = [\"rsa\"]\n"             // 2: and subdomains
      "[[signing]]\nmatch = [\"example.net\"]\nkeys = [\"ed\", \"rsa\"]\n");    // 3
  ASSERT_TRUE(t);
  struct Case {
    std::string address, want;
  } cases[] = {
      {"boss@example.net", "signing[0] boss@example.net via author"},
      {"BOSS@EXAMPLE.NET", "signing[0] boss@example.net via author"},
      {"other@example.net", "signing[3] example.net via author"},
      {"boss@sub.example.net", "none"},
      {"a@example.com", "signing[1] example.com via author"},
      {"a@EXAMPLE.COM", "signing[1] example.com via author"},
      {"a@example.com.", "signing[1] example.com via author"},
      {"a@sub.example.com", "none"},  // "example.com" is that domain only
      {"a@badexample.com", "none"},
      {"a@example.com.evil.test", "none"},
      {"a@example.org", "signing[2] .example.org via author"},
      {"a@x.y.example.org", "signing[2] .example.org via author"},
      {"a@Mail.Example.Org", "signing[2] .example.org via author"},
      {"a@badexample.org", "none"},
      {"a@example.org.evil.test", "none"},
      {"example.com", "none"},  // no local part, no '@'
      {"@example.com", "none"},
      {"a@", "none"},
      {"", "none"},
  };
  for (auto& c : cases) {
    std::string got = matched(*t, c.address, "", "");
    EXPECT_EQ(got, c.want) << "match(\"" << c.address << "\"): got " << got << ", want " << c.want;
  }
}

TEST_F(SigningTableTest, DotMatchesAnyAddressButNotAnEmptyOne) {
  auto t = table("[[signing]]\nmatch = [\".\"]\nkeys = [\"rsa\"]\n");
  ASSERT_TRUE(t);
  struct Case {
    std::string author, sender, envelope, want;
  } cases[] = {
      {"a@anything.test", "", "", "signing[0] . via author"},
      {"", "", "bounce@x.test", "signing[0] . via envelope"},
      {"", "", "<bounce@x.test>", "signing[0] . via envelope"},
      {"", "", "<>", "none"},
      {"", "", "", "none"},
      {"no-domain", "", "<postmaster>", "none"},
  };
  for (auto& c : cases) {
    std::string got = matched(*t, c.author, c.sender, c.envelope);
    EXPECT_EQ(got, c.want) << "match(" << c.author << ", " << c.sender << ", " << c.envelope
                           << "): got " << got << ", want " << c.want;
  }
}

TEST_F(SigningTableTest, AuthorThenSenderThenEnvelope) {
  auto t = table(
      "[[signing]]\nmatch = [\"lists.example.com\"]\nkeys = [\"ed\"]\n"  // 0
      "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"rsa\"]\n"        // 1
      "[[signing]]\nmatch = [\"bounces.example.net\"]\nkeys = [\"rsa\"]\n");  // 2
  ASSERT_TRUE(t);
  struct Case {
    std::string author, sender, envelope, want;
  } cases[] = {
      // The author decides even when a later address would match an earlier rule.
      {"a@example.com", "l@lists.example.com", "b@bounces.example.net",
       "signing[1] example.com via author"},
      // No rule for the author: the Sender address decides.
      {"someone@gmail.test", "l@lists.example.com", "b@example.com",
       "signing[0] lists.example.com via sender"},
      // Neither: the envelope sender.
      {"someone@gmail.test", "other@gmail.test", "b@bounces.example.net",
       "signing[2] bounces.example.net via envelope"},
      {"", "", "B@Bounces.Example.NET", "signing[2] bounces.example.net via envelope"},
      {"someone@gmail.test", "", "<>", "none"},
      {"someone@gmail.test", "x@gmail.test", "y@gmail.test", "none"},
  };
  for (auto& c : cases) {
    std::string got = matched(*t, c.author, c.sender, c.envelope);
    EXPECT_EQ(got, c.want) << "match(" << c.author << ", " << c.sender << ", " << c.envelope
                           << "): got " << got << ", want " << c.want;
  }
  std::string which = "untouched";
  EXPECT_EQ(t->match("x@gmail.test", "", "", &which), nullptr);
  EXPECT_EQ(which, "untouched") << "which is left alone when nothing matches";
}

TEST_F(SigningTableTest, FirstRuleInFileOrderWins) {
  auto t = table(
      "[[signing]]\nmatch = [\"ceo@example.com\"]\nkeys = [\"ed\"]\n"           // 0
      "[[signing]]\nmatch = [\".example.com\", \"example.com\"]\nkeys = [\"rsa\"]\n"  // 1
      "[[signing]]\nmatch = [\"example.com\", \"x@example.com\"]\nkeys = [\"ed\"]\n"  // 2: never
      "[[signing]]\nmatch = [\".\"]\nkeys = [\"third\"]\n");                      // 3
  ASSERT_TRUE(t);
  struct Case {
    std::string address, want;
  } cases[] = {
      {"ceo@example.com", "signing[0] ceo@example.com via author"},
      {"x@example.com", "signing[1] .example.com via author"},  // first pattern of the rule
      {"x@a.example.com", "signing[1] .example.com via author"},
      {"x@example.org", "signing[3] . via author"},
  };
  for (auto& c : cases) {
    std::string got = matched(*t, c.address, "", "");
    EXPECT_EQ(got, c.want) << "match(\"" << c.address << "\"): got " << got << ", want " << c.want;
  }
  auto w = t->warnings();
  auto has = [&](const std::string& s) {
    return std::any_of(w.begin(), w.end(), [&](auto& x) { return x.find(s) != std::string::npos; });
  };
  EXPECT_TRUE(has("signing[2]: pattern 'example.com' never decides: signing[1] ('.example.com')"));
  EXPECT_TRUE(has("signing[2]: pattern 'x@example.com' never decides: signing[1]"));
  EXPECT_FALSE(has("signing[1]: pattern")) << "a pattern only shadowed within its own rule";
  EXPECT_FALSE(has("signing[3]: pattern '.'")) << "'.' after specific rules is the fallback";
}

TEST_F(SigningTableTest, OptionsResolveSignatureThenRuleThenDefaults) {
  auto t = table(
      "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"rsa\"]\n"
      "canonicalization = \"simple\"\nheaders = [\"From\", \"To\", \"Subject\", \"X-Mine\"]\n"
      "expire = 3600\nidentity = \"@example.com\"\n"
      "  [[signing.signature]]\n  key = \"ed\"\n  canonicalization = \"relaxed/relaxed\"\n"
      "  oversign = [\"X-Mine\"]\n  identity = \"news@mail.example.com\"\n"
      "  sign_if_signed = false\n  expire = 0\n"
      "  [[signing.signature]]\n  key = \"third\"\n  identity = \"@signer.example\"\n"
      "[[signing]]\nmatch = [\".\"]\nkeys = [\"rsa\"]\n");
  ASSERT_TRUE(t);
  auto v = t->match("a@example.com", "", "");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->signatures.size(), 3u);

  const auto& rsa = v->signatures[0];  // from keys = [...]: the rule's options
  EXPECT_EQ(rsa.key_name, "rsa");
  EXPECT_EQ(rsa.domain, "example.com");
  EXPECT_EQ(rsa.selector, "s1");
  ASSERT_TRUE(rsa.key);
  EXPECT_EQ(rsa.key->type(), KeyType::Rsa);
  EXPECT_EQ(rsa.header_canon, conf::Canon::Simple);
  EXPECT_EQ(rsa.body_canon, conf::Canon::Simple);
  std::vector<std::string> want_h = {"From", "To", "Subject", "X-Mine"};
  EXPECT_EQ(rsa.headers, want_h);
  std::vector<std::string> want_o = {"From", "Subject", "To"};
  EXPECT_EQ(rsa.oversign, want_o) << "default oversign, restricted to the signed names";
  EXPECT_EQ(rsa.expire, std::chrono::seconds(3600));
  EXPECT_EQ(rsa.identity, "@example.com");
  EXPECT_TRUE(rsa.sign_if_signed);

  const auto& ed = v->signatures[1];  // its own options over the rule's
  EXPECT_EQ(ed.key_name, "ed");
  EXPECT_EQ(ed.selector, "e1");
  EXPECT_EQ(ed.key->type(), KeyType::Ed25519);
  EXPECT_EQ(ed.header_canon, conf::Canon::Relaxed);
  EXPECT_EQ(ed.body_canon, conf::Canon::Relaxed);
  EXPECT_EQ(ed.headers, want_h);
  EXPECT_EQ(ed.oversign, std::vector<std::string>{"X-Mine"});
  EXPECT_EQ(ed.expire, std::chrono::seconds(0));
  EXPECT_EQ(ed.identity, "news@mail.example.com");
  EXPECT_FALSE(ed.sign_if_signed);

  const auto& third = v->signatures[2];
  EXPECT_EQ(third.domain, "signer.example");
  EXPECT_EQ(third.identity, "@signer.example");
  EXPECT_EQ(third.header_canon, conf::Canon::Simple) << "the rule's";

  auto any = t->match("a@elsewhere.test", "", "");
  ASSERT_NE(any, nullptr);
  ASSERT_EQ(any->signatures.size(), 1u);
  const auto& d = any->signatures[0];  // nothing set anywhere: built-in defaults
  EXPECT_EQ(d.header_canon, conf::Canon::Relaxed);
  EXPECT_EQ(d.body_canon, conf::Canon::Relaxed);
  EXPECT_EQ(d.headers, conf::default_signed_headers());
  EXPECT_EQ(d.oversign, conf::default_oversigned_headers());
  EXPECT_EQ(d.expire, std::chrono::seconds(0));
  EXPECT_EQ(d.identity, "");
  EXPECT_TRUE(d.sign_if_signed);
}

TEST_F(SigningTableTest, RsaAndEd25519PairLoadsEachFileOnce) {
  auto t = table("[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"rsa\", \"ed\"]\n");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->empty());
  const auto& ks = t->keys();
  ASSERT_EQ(ks.size(), 3u);
  EXPECT_EQ(ks[0].name, "rsa");
  EXPECT_EQ(ks[0].file, rsa_);
  EXPECT_EQ(ks[0].domain, "example.com");
  EXPECT_EQ(ks[0].selector, "s1");
  ASSERT_TRUE(ks[0].key);
  EXPECT_EQ(ks[0].key->type(), KeyType::Rsa);
  EXPECT_EQ(ks[0].key->bits(), 2048u);
  ASSERT_TRUE(ks[1].key);
  EXPECT_EQ(ks[1].key->type(), KeyType::Ed25519);
  EXPECT_EQ(ks[1].key.get(), ks[2].key.get()) << "two [[key]] on one file share one parse";
  auto v = t->match("a@example.com", "", "");
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->signatures.size(), 2u);
  EXPECT_EQ(v->signatures[0].key.get(), ks[0].key.get()) << "signatures share the loaded key";
  EXPECT_EQ(v->signatures[1].key.get(), ks[1].key.get());
  EXPECT_TRUE(t->warnings().empty()) << "got warning: " << t->warnings().front();
}

TEST_F(SigningTableTest, GroupReadableKeyIsRefusedWithItsName) {
  auto open = write("open.pem", KeyType::Ed25519, 0, 0644);
  auto cfg = config("[[signing]]\nmatch = [\".\"]\nkeys = [\"rsa\"]\n");
  cfg.keys.push_back(conf::KeyConfig{"leaky", open, "example.com", "leak", ""});
  cfg.keys.push_back(conf::KeyConfig{"gone", (dir_ / "missing.pem").string(), "example.com", "g", ""});
  auto t = SigningTable::load(cfg);
  ASSERT_FALSE(t.ok()) << "want a refusal for a 0644 key file";
  const std::string& got = t.error().message;
  EXPECT_EQ(t.error().kind, ErrorKind::Config);
  for (std::string want : std::vector<std::string>{"key leaky (" + open + "): private key is accessible by group or others "
                                                  "(mode 0644); run: chmod 600 " + open,
                           "key gone (" + (dir_ / "missing.pem").string() + "): "}) {
    EXPECT_NE(got.find(want), std::string::npos) << "got:\n" << got << "\nwant substring: " << want;
  }
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 1) << "got:\n" << got << "\nwant one line per key";
}

TEST_F(SigningTableTest, Warnings) {
  auto cfg = config("[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"ed\"]\n"
                    "[[signing]]\nmatch = [\".\"]\nkeys = [\"rsa\"]\n");
  cfg.keys.push_back(conf::KeyConfig{"weak", weak_, "example.net", "w", ""});
  cfg.signing[1].signatures[0].key = "weak";  // conf checked names against its own keys
  auto t = SigningTable::load(cfg);
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto w = t.value()->warnings();
  std::vector<std::string> want = {
      "key weak (" + weak_ + "): RSA 1024 bits is below 2048",
      "signing[0]: signs with Ed25519 only",
  };
  ASSERT_EQ(w.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(w[i].find(want[i]), 0u) << "warning " << i << ": got " << w[i] << ", want prefix "
                                      << want[i];
}

TEST_F(SigningTableTest, EmptyTable) {
  auto t = SigningTable::load(config(""));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t.value()->empty());
  EXPECT_EQ(t.value()->keys().size(), 3u) << "keys are loaded even when no rule uses them";
  EXPECT_EQ(t.value()->match("a@example.com", "b@example.com", "c@example.com"), nullptr);
}

TEST_F(SigningTableTest, HandBuiltConfigIsCheckedToo) {
  conf::Config cfg;
  cfg.keys.push_back(conf::KeyConfig{"rsa", rsa_, "example.com", "s1", ""});
  cfg.keys.push_back(conf::KeyConfig{"rsa", ed_, "example.com", "s2", ""});
  conf::SigningRule r;
  r.match = {"example.com", ""};
  r.signatures.push_back(conf::SignatureConfig{"ghost", {}});
  cfg.signing.push_back(r);
  conf::SigningRule empty;
  empty.match = {"."};
  cfg.signing.push_back(empty);
  auto t = SigningTable::load(cfg);
  ASSERT_FALSE(t.ok());
  for (std::string want : std::vector<std::string>{"key rsa (" + ed_ + "): duplicate key name",
                           "signing[0]: no [[key]] named 'ghost'",
                           "signing[0]: bad match pattern ''", "signing[1]: no signature"})
    EXPECT_NE(t.error().message.find(want), std::string::npos)
        << "got:\n" << t.error().message << "\nwant substring: " << want;
}

// A successor: its index in keys(), and the key the slot says signs for a
// rule's key (the dkim-sign stage's view of a rotation).
TEST_F(SigningTableTest, SuccessorAndKeyInEffect) {
  auto cfg = config("[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"rsa\"]\n");
  cfg.keys[0].successor = "ed";  // both example.com
  auto t = SigningTable::load(cfg);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto& keys = (*t)->keys();
  EXPECT_EQ(keys[0].successor, 1u);
  EXPECT_EQ(keys[1].successor, SigningTable::kNoSuccessor);
  auto rule = (*t)->match("a@example.com", "", "");
  ASSERT_TRUE(rule);
  std::size_t k = rule->signatures[0].key_index;
  EXPECT_EQ(k, 0u);
  EXPECT_EQ((*t)->in_effect().get(), nullptr) << "nobody set it: every key signs itself";
  EXPECT_EQ((*t)->signer_for(k, nullptr).selector, "s1");
  (*t)->in_effect().set(std::make_shared<InEffect>(InEffect{1, 1, 2}));
  const auto& signer = (*t)->signer_for(k, (*t)->in_effect().get().get());
  EXPECT_EQ(signer.name, "ed");
  EXPECT_EQ(signer.selector, "e1");
  EXPECT_EQ(signer.domain, "example.com");
}

}  // namespace
}  // namespace sigil::keys
