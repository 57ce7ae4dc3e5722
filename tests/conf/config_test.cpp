// tests/conf/config_test.cpp — configuration loading and validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "conf/config.hpp"

using namespace sigil;
using namespace sigil::conf;

namespace {

std::string load_error(const std::string& text) {
  auto r = load_string(text, "t.toml");
  if (r) return "";
  return r.error().message;
}

const char* kMinimal = "[[listener]]\naddress = \"127.0.0.1:10024\"\n";

}  // namespace

TEST(Config, EmbeddedDefaultLoads) {
  auto r = load_string(embedded_default(), "<embedded>");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->forward.target.kind, ForwardTarget::Kind::Maildir);
  ASSERT_EQ(r->listeners.size(), 1u);
  EXPECT_EQ(r->listeners[0].address.port, 10024);
  EXPECT_TRUE(r->banks.count("mynets"));
  EXPECT_TRUE(r->banks.at("mynets").originating.value_or(false));
  EXPECT_FALSE(r->daemon.crypto_threads.has_value()) << "unset: one thread per CPU";
  auto t = load_string("[daemon]\ncrypto_threads = 0\n[[listener]]\nname = \"a\"\n"
                       "address = \"127.0.0.1:10024\"\n",
                       "t.toml");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->daemon.crypto_threads, std::optional<std::size_t>(0));
}

TEST(Config, EverySampleFileLoads) {
  const char* src = SIGIL_SOURCE_DIR;
  int n = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::string(src) + "/conf")) {
    if (e.path().extension() != ".toml") continue;
    auto r = load_file(e.path().string());
    EXPECT_TRUE(r.ok()) << e.path() << ": " << (r ? "" : r.error().message);
    ++n;
  }
  EXPECT_GE(n, 4) << "want the default plus three samples";
}

TEST(Config, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {std::string(kMinimal) + "[daemon]\nlog_levle = \"info\"\n", "t.toml:4:daemon.log_levle: unknown key"},
      {std::string(kMinimal) + "[smtp]\nmax_recipients = \"many\"\n", "t.toml:4:smtp.max_recipients: must be an integer"},
      {std::string(kMinimal) + "[smtp]\nmax_recipients = 0\n", "t.toml:4:smtp.max_recipients: out of range"},
      {std::string(kMinimal) + "[daemon]\ncrypto_threads = 65\n", "t.toml:4:daemon.crypto_threads: out of range"},
      {std::string(kMinimal) + "[daemon]\nuser = \"\"\n", "t.toml:4:daemon.user: must not be empty"},
      {std::string(kMinimal) + "[daemon]\ngroup = \"mail\"\n", "t.toml:4:daemon.group: needs daemon.user"},
      {std::string(kMinimal) + "[daemon]\nallow_root = \"yes\"\n", "t.toml:4:daemon.allow_root: must be"},
      {std::string(kMinimal) + "[forward]\ntarget = \"smtp:localhost:25\"\n", "t.toml:4:forward.target: bad [host]:port"},
      {std::string(kMinimal) + "[daemon]\nlog_level = \"loud\"\n", "t.toml:4:daemon.log_level: must be one of"},
      {std::string(kMinimal) + "[bank.x]\nstages = [\"dkim-sing\"]\n", "t.toml:4:bank.x.stages: unknown stage 'dkim-sing'"},
      {std::string(kMinimal) + "[[network]]\ncidrs = [\"10.0.0.0/33\"]\nbank = \"default\"\n", "t.toml:4:network[0].cidrs: bad prefix length"},
      {std::string(kMinimal) + "[[network]]\ncidrs = [\"10.0.0.0/8\"]\nbank = \"nope\"\n", "t.toml:5:network[0].bank: no such bank 'nope'"},
      {"[[listener]]\naddress = \"127.0.0.1:10024\"\nbank = \"ghost\"\n", "t.toml:3:listener[0].bank: no such bank 'ghost'"},
      {"[[listener]]\naddress = \"localhost:10024\"\n", "t.toml:2:listener[0].address: bad listen address"},
      {"[smtp]\n", "listener: at least one [[listener]] is required"},
      {"[[listener]\n", "t.toml:1: TOML syntax error"},
      {std::string(kMinimal) + "surprise = 1\n", "t.toml:3:listener[0].surprise: unknown key"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(Config, ForwardTargets) {
  struct Case {
    std::string in;
    bool ok;
    ForwardTarget::Kind kind;
    std::string host, path;
    int port;
  } cases[] = {
      {"smtp:[127.0.0.1]:10025", true, ForwardTarget::Kind::Smtp, "127.0.0.1", "", 10025},
      {"lmtp:[::1]:24", true, ForwardTarget::Kind::Lmtp, "::1", "", 24},
      {"lmtp:unix:/run/dovecot/lmtp", true, ForwardTarget::Kind::LmtpUnix, "", "/run/dovecot/lmtp", 0},
      {"maildir:/var/mail/x/", true, ForwardTarget::Kind::Maildir, "", "/var/mail/x", 0},
      {"smtp:[127.0.0.1]:0", false, {}, "", "", 0},
      {"smtp:127.0.0.1:25", false, {}, "", "", 0},
      {"maildir:relative", false, {}, "", "", 0},
      {"lmtp:unix:rel", false, {}, "", "", 0},
      {"pipe:/bin/cat", false, {}, "", "", 0},
  };
  for (auto& c : cases) {
    auto r = parse_forward_target(c.in);
    ASSERT_EQ(r.ok(), c.ok) << c.in;
    if (!c.ok) continue;
    EXPECT_EQ(r->kind, c.kind) << c.in;
    EXPECT_EQ(r->host, c.host) << c.in;
    EXPECT_EQ(r->path, c.path) << c.in;
    EXPECT_EQ(r->port, c.port) << c.in;
  }
}

TEST(Config, ListenAddresses) {
  auto a = parse_listen_address("[::1]:10024");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  auto u = parse_listen_address("unix:/run/sigil/s.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, ListenAddress::Kind::Unix);
  EXPECT_FALSE(parse_listen_address("::1:10024").ok()) << "bare IPv6 needs brackets";
  EXPECT_FALSE(parse_listen_address("127.0.0.1").ok());
  EXPECT_FALSE(parse_listen_address("unix:relative").ok());
}

TEST(Config, CidrMatching) {
  struct Case {
    std::string cidr, ip;
    bool want;
  } cases[] = {
      {"127.0.0.0/8", "127.1.2.3", true},   {"127.0.0.0/8", "128.0.0.1", false},
      {"10.1.2.3/8", "10.200.0.1", true},   {"192.0.2.0/25", "192.0.2.200", false},
      {"2001:db8::/32", "2001:db8:1::5", true}, {"2001:db8::/32", "2001:db9::1", false},
      {"::1/128", "::1", true},             {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},  {"192.0.2.7", "192.0.2.7", true},
  };
  for (auto& c : cases) {
    auto cidr = parse_cidr(c.cidr);
    ASSERT_TRUE(cidr.ok()) << c.cidr;
    auto ip = parse_ip(c.ip);
    ASSERT_TRUE(ip.has_value()) << c.ip;
    EXPECT_EQ(cidr->contains(*ip), c.want) << c.cidr << " contains " << c.ip;
  }
}

// ------------------------------------------------------------ DKIM signing

namespace {

// Lines 1-2: the listener; lines 3-7: one key; lines 8-12: a second key.
const char* kKeys =
    "[[listener]]\naddress = \"127.0.0.1:10024\"\n"
    "[[key]]\nname = \"rsa\"\nfile = \"/nonexistent/rsa.pem\"\ndomain = \"Example.COM\"\n"
    "selector = \"s2026\"\n"
    "[[key]]\nname = \"ed\"\nfile = \"/nonexistent/ed.pem\"\ndomain = \"example.com\"\n"
    "selector = \"e2026\"\n";

// kKeys plus a rule starting on line 13 (`[[signing]]`), `body` from line 14.
std::string rule(const std::string& body) { return std::string(kKeys) + "[[signing]]\n" + body; }

}  // namespace

TEST(ConfigSigning, GoodFileLoadsWithoutReadingKeys) {
  // The key files do not exist: conf/ never reads them (keys::SigningTable does).
  auto r = load_string(rule("match = [\"Example.com\", \".example.ORG\", \"User@Example.net\", \".\"]\n"
                            "keys = [\"rsa\"]\n"
                            "canonicalization = \"relaxed\"\n"
                            "headers = [\"from\", \"To\", \"Subject\"]\n"
                            "oversign = [\"From\"]\n"
                            "expire = 604800\n"
                            "identity = \"Bounce@MAIL.Example.com\"\n"
                            "sign_if_signed = false\n"
                            "  [[signing.signature]]\n"
                            "  key = \"ed\"\n"
                            "  canonicalization = \"simple/relaxed\"\n"
                            "  identity = \"@example.com\"\n"),
                       "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->keys.size(), 2u);
  EXPECT_EQ(r->keys[0].domain, "example.com") << "domain is lower-cased";
  EXPECT_EQ(r->keys[0].selector, "s2026");
  EXPECT_EQ(r->keys[0].file, "/nonexistent/rsa.pem");
  ASSERT_EQ(r->signing.size(), 1u);
  const auto& s = r->signing[0];
  std::vector<std::string> want_match = {"example.com", ".example.org", "user@example.net", "."};
  EXPECT_EQ(s.match, want_match) << "patterns are lower-cased";
  ASSERT_EQ(s.signatures.size(), 2u) << "one from keys = [...], one [[signing.signature]]";
  EXPECT_EQ(s.signatures[0].key, "rsa");
  EXPECT_EQ(s.signatures[1].key, "ed");
  EXPECT_FALSE(s.signatures[0].options.header_canon.has_value()) << "shorthand has no own options";
  EXPECT_EQ(s.options.header_canon, Canon::Relaxed);
  EXPECT_EQ(s.options.body_canon, Canon::Simple) << "\"relaxed\" alone is relaxed/simple";
  EXPECT_EQ(s.options.expire, Seconds(604800));
  EXPECT_EQ(s.options.identity, "Bounce@mail.example.com") << "only the domain is lower-cased";
  EXPECT_EQ(s.options.sign_if_signed, false);
  EXPECT_EQ(s.signatures[1].options.header_canon, Canon::Simple);
  EXPECT_EQ(s.signatures[1].options.body_canon, Canon::Relaxed);
  EXPECT_EQ(s.signatures[1].options.identity, "@example.com");
  EXPECT_FALSE(s.signatures[1].options.expire.has_value()) << "not set: inherited later";
}

TEST(ConfigSigning, SignatureOnlyRuleLoads) {
  auto r = load_string(rule("match = [\".\"]\n[[signing.signature]]\nkey = \"rsa\"\n"), "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->signing[0].signatures.size(), 1u);
}

TEST(ConfigSigning, ErrorsNameFileLineAndKey) {
  std::string k = kKeys;
  struct Case {
    std::string text, want;
  } cases[] = {
      // [[key]]
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"s\"\nsize = 1\n",
       "t.toml:18:key[2].size: unknown key"},
      {k + "[[key]]\nname = \"rsa\"\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:14:key[2].name: duplicate key name 'rsa' (also key[0])"},
      {k + "[[key]]\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:13:key[2].name: missing"},
      {k + "[[key]]\nname = \"x\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:13:key[2].file: missing"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\nselector = \"s\"\n", "t.toml:13:key[2].domain: missing"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"example.net\"\n",
       "t.toml:13:key[2].selector: missing"},
      {k + "[[key]]\nname = \"a b\"\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:14:key[2].name: 'a b'"},
      {k + "[[key]]\nname = \"x\"\nfile = \"k.pem\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:15:key[2].file: must be an absolute path"},
      {k + "[[key]]\nname = \"x\"\nfile = \"\"\ndomain = \"example.net\"\nselector = \"s\"\n",
       "t.toml:15:key[2].file: must not be empty"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"localhost\"\nselector = \"s\"\n",
       "t.toml:16:key[2].domain: 'localhost' is not a valid domain name"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"ex_ample.com\"\nselector = \"s\"\n",
       "t.toml:16:key[2].domain: 'ex_ample.com' is not a valid domain name"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"-x.com\"\nselector = \"s\"\n",
       "t.toml:16:key[2].domain: '-x.com' is not a valid domain name"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"example.com.\"\nselector = \"s\"\n",
       "t.toml:16:key[2].domain: 'example.com.' is not a valid domain name"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = 7\nselector = \"s\"\n",
       "t.toml:16:key[2].domain: must be a string"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"s 1\"\n",
       "t.toml:17:key[2].selector: 's 1' is not a valid selector"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k\"\ndomain = \"example.net\"\nselector = \"a..b\"\n",
       "t.toml:17:key[2].selector: 'a..b' is not a valid selector"},
      {k + "[[key]]\nname = \"x\"\nfile = \"/k2\"\ndomain = \"EXAMPLE.com\"\nselector = \"S2026\"\n",
       "t.toml:17:key[2].selector: key[0] is already published at s2026._domainkey.example.com"},
      {"key = \"x\"\n" + std::string(kMinimal), "t.toml:1:key: must be an array of tables ([[key]])"},
      // [[signing]]: the rule itself
      {rule("keys = [\"rsa\"]\n"), "t.toml:13:signing[0].match: missing"},
      {rule("match = []\nkeys = [\"rsa\"]\n"), "t.toml:14:signing[0].match: must not be empty"},
      {rule("match = \"example.com\"\nkeys = [\"rsa\"]\n"),
       "t.toml:14:signing[0].match: must be an array of strings"},
      {rule("match = [\"example.com\",\n  \"bad..example.com\"]\nkeys = [\"rsa\"]\n"),
       "t.toml:15:signing[0].match: 'bad..example.com' is not a valid domain name"},
      {rule("match = [\"..example.com\"]\nkeys = [\"rsa\"]\n"),
       "t.toml:14:signing[0].match: '..example.com' is not '.' followed by a valid domain name"},
      {rule("match = [\"a b@example.com\"]\nkeys = [\"rsa\"]\n"),
       "t.toml:14:signing[0].match: 'a b@example.com': the local part must be a dot-atom"},
      {rule("match = [\"@example.com\"]\nkeys = [\"rsa\"]\n"),
       "t.toml:14:signing[0].match: '@example.com': the local part must be a dot-atom"},
      {rule("match = [\"user@\"]\nkeys = [\"rsa\"]\n"),
       "t.toml:14:signing[0].match: 'user@': not a valid domain name after '@'"},
      {rule("match = [\"\"]\nkeys = [\"rsa\"]\n"), "t.toml:14:signing[0].match: '' is not a valid domain name"},
      {rule("match = [\".\"]\n"), "t.toml:13:signing[0].keys: no signature"},
      {rule("match = [\".\"]\nkeys = []\n"), "t.toml:15:signing[0].keys: must name at least one key"},
      {rule("match = [\".\"]\nkeys = [\"rsa\", \"ghost\"]\n"),
       "t.toml:15:signing[0].keys: no [[key]] named 'ghost'"},
      {rule("match = [\".\"]\nkeys = [\"rsa\", \"rsa\"]\n"),
       "t.toml:15:signing[0].keys: key 'rsa' signs twice in this rule"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nselector = \"s\"\n"),
       "t.toml:16:signing[0].selector: unknown key"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nsignature = 1\n"),
       "t.toml:16:signing[0].signature: must be an array of tables ([[signing.signature]])"},
      // rule options
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\ncanonicalization = \"relaxed/\"\n"),
       "t.toml:16:signing[0].canonicalization: 'relaxed/': want header/body"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\ncanonicalization = \"nofws\"\n"),
       "t.toml:16:signing[0].canonicalization: 'nofws'"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\ncanonicalization = \"Relaxed/Simple\"\n"),
       "t.toml:16:signing[0].canonicalization: 'Relaxed/Simple'"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = []\n"), "t.toml:16:signing[0].headers: must not be empty"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"To\", \"Subject\"]\n"),
       "t.toml:16:signing[0].headers: must include From"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"From\", \"Sub ject\"]\n"),
       "t.toml:16:signing[0].headers: 'Sub ject' is not a header field name"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"From\", \"To:\"]\n"),
       "t.toml:16:signing[0].headers: 'To:' is not a header field name"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"From\", \"to\", \"To\"]\n"),
       "t.toml:16:signing[0].headers: 'To' is listed twice"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"From\", 3]\n"),
       "t.toml:16:signing[0].headers: must be an array of strings"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\noversign = [\"\"]\n"),
       "t.toml:16:signing[0].oversign: '' is not a header field name"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nheaders = [\"From\"]\noversign = [\"Subject\"]\n"),
       "t.toml:17:signing[0].oversign: 'Subject' is not among the signed headers"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nexpire = -5\n"), "t.toml:16:signing[0].expire: out of range"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nexpire = \"1w\"\n"), "t.toml:16:signing[0].expire: must be an integer"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nidentity = \"example.com\"\n"),
       "t.toml:16:signing[0].identity: 'example.com': must be \"@domain\" or \"user@domain\""},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nidentity = \"a b@example.com\"\n"),
       "t.toml:16:signing[0].identity: 'a b@example.com': the local part must be a dot-atom"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nidentity = \"@bad_domain\"\n"),
       "t.toml:16:signing[0].identity: '@bad_domain': 'bad_domain' is not a valid domain name"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nidentity = \"@example.org\"\n"),
       "t.toml:16:signing[0].identity: identity '@example.org' is outside key 'rsa''s domain example.com"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nidentity = \"@badexample.com\"\n"),
       "t.toml:16:signing[0].identity: identity '@badexample.com' is outside key 'rsa''s domain"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\nsign_if_signed = 1\n"),
       "t.toml:16:signing[0].sign_if_signed: must be true or false"},
      // [[signing.signature]]
      {rule("match = [\".\"]\n[[signing.signature]]\ncanonicalization = \"simple\"\n"),
       "t.toml:15:signing[0].signature[0].key: missing"},
      {rule("match = [\".\"]\n[[signing.signature]]\nkey = \"ghost\"\n"),
       "t.toml:16:signing[0].signature[0].key: no [[key]] named 'ghost'"},
      {rule("match = [\".\"]\n[[signing.signature]]\nkey = \"rsa\"\nmatch = [\".\"]\n"),
       "t.toml:17:signing[0].signature[0].match: unknown key"},
      {rule("match = [\".\"]\n[[signing.signature]]\nkey = \"rsa\"\nheaders = [\"To\"]\n"),
       "t.toml:17:signing[0].signature[0].headers: must include From"},
      {rule("match = [\".\"]\nkeys = [\"rsa\"]\n[[signing.signature]]\nkey = \"rsa\"\n"),
       "t.toml:17:signing[0].signature[0].key: key 'rsa' signs twice"},
      {rule("match = [\".\"]\nidentity = \"@example.com\"\n[[signing.signature]]\nkey = \"rsa\"\n"
            "identity = \"@example.org\"\n"),
       "t.toml:18:signing[0].signature[0].identity: identity '@example.org' is outside key 'rsa''s"},
      {rule("match = [\".\"]\noversign = [\"X-Mine\"]\n[[signing.signature]]\nkey = \"rsa\"\n"
            "headers = [\"From\", \"X-Mine\"]\n[[signing.signature]]\nkey = \"ed\"\n"),
       "t.toml:15:signing[0].oversign: 'X-Mine' is not among the signed headers"},
      {"signing = [\"x\"]\n" + std::string(kKeys),
       "t.toml:1:signing: must be an array of tables ([[signing]])"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigSigning, EveryProblemIsReportedNotOnlyTheFirst) {
  std::string got = load_error(rule("match = [\"bad..x\"]\nkeys = [\"ghost\"]\n"
                                    "canonicalization = \"fast\"\nexpire = -1\n"));
  for (const char* want : {"t.toml:14:signing[0].match", "t.toml:15:signing[0].keys",
                           "t.toml:16:signing[0].canonicalization", "t.toml:17:signing[0].expire"})
    EXPECT_NE(got.find(want), std::string::npos) << "got:\n" << got << "\nwant substring: " << want;
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 3) << "got:\n" << got << "\nwant 4 lines";
}

TEST(ConfigSigning, OversignErrorIsReportedOnceForAllKeysOfARule) {
  std::string got = load_error(
      rule("match = [\".\"]\nkeys = [\"rsa\", \"ed\"]\nheaders = [\"From\"]\noversign = [\"To\"]\n"));
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 0) << "got:\n" << got << "\nwant one line";
}

TEST(ConfigSigning, CanonicalizationForms) {
  struct Case {
    std::string in;
    Canon header, body;
  } cases[] = {
      {"simple", Canon::Simple, Canon::Simple},
      {"relaxed", Canon::Relaxed, Canon::Simple},
      {"simple/simple", Canon::Simple, Canon::Simple},
      {"simple/relaxed", Canon::Simple, Canon::Relaxed},
      {"relaxed/simple", Canon::Relaxed, Canon::Simple},
      {"relaxed/relaxed", Canon::Relaxed, Canon::Relaxed},
  };
  for (auto& c : cases) {
    auto r = load_string(rule("match = [\".\"]\nkeys = [\"rsa\"]\ncanonicalization = \"" + c.in + "\"\n"),
                         "t.toml");
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.error().message;
    EXPECT_EQ(r->signing[0].options.header_canon, c.header) << c.in;
    EXPECT_EQ(r->signing[0].options.body_canon, c.body) << c.in;
  }
}

TEST(ConfigSigning, ResolveOptions) {
  SignatureOptions none;
  auto d = resolve_options(none, none);
  EXPECT_EQ(d.header_canon, Canon::Relaxed);
  EXPECT_EQ(d.body_canon, Canon::Relaxed);
  EXPECT_EQ(*d.headers, default_signed_headers());
  EXPECT_EQ(*d.oversign, default_oversigned_headers());
  EXPECT_EQ(d.expire, Seconds(0));
  EXPECT_EQ(d.identity, "");
  EXPECT_EQ(d.sign_if_signed, true);

  SignatureOptions rule_o;
  rule_o.header_canon = Canon::Simple;
  rule_o.headers = std::vector<std::string>{"From", "subject", "X-Custom"};
  rule_o.expire = Seconds(60);
  rule_o.identity = "@example.com";
  SignatureOptions sig_o;
  sig_o.header_canon = Canon::Relaxed;
  sig_o.expire = Seconds(0);
  sig_o.sign_if_signed = false;
  auto r = resolve_options(sig_o, rule_o);
  EXPECT_EQ(r.header_canon, Canon::Relaxed) << "the signature's own value wins";
  EXPECT_EQ(r.body_canon, Canon::Relaxed) << "built-in default";
  EXPECT_EQ(*r.headers, *rule_o.headers) << "the rule's value";
  std::vector<std::string> want_over = {"From", "Subject"};
  EXPECT_EQ(*r.oversign, want_over) << "default oversign restricted to the signed names";
  EXPECT_EQ(r.expire, Seconds(0)) << "an explicit 0 at the signature overrides the rule";
  EXPECT_EQ(r.identity, "@example.com");
  EXPECT_EQ(r.sign_if_signed, false);

  sig_o.oversign = std::vector<std::string>{};
  EXPECT_TRUE(resolve_options(sig_o, rule_o).oversign->empty()) << "an empty list turns it off";
}

TEST(ConfigSigning, EmptyIdentityDropsTheRulesOne) {
  auto r = load_string(rule("match = [\".\"]\nidentity = \"@example.com\"\nkeys = [\"rsa\"]\n"
                            "[[signing.signature]]\nkey = \"ed\"\nidentity = \"\"\n"),
                       "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto o = resolve_options(r->signing[0].signatures[1].options, r->signing[0].options);
  EXPECT_EQ(*o.identity, "") << "got i= " << *o.identity << ", want none";
}

// The commented-out signing example in conf/sigil.toml, uncommented, loads
// (with the third-party key it mentions defined).
TEST(ConfigSigning, CommentedExampleInDefaultConfigLoads) {
  std::ifstream in(std::string(SIGIL_SOURCE_DIR) + "/conf/sigil.toml");
  std::string line, text =
                        "[[listener]]\naddress = \"127.0.0.1:10024\"\n"
                        "[[key]]\nname = \"thirdparty-ed\"\nfile = \"/k/t.pem\"\n"
                        "domain = \"signer.example\"\nselector = \"t1\"\n";
  bool on = false;
  int n = 0;
  while (std::getline(in, line)) {
    if (line == "# [[key]]") on = true;
    if (!on) continue;
    if (line.starts_with("# and add")) break;
    if (line.starts_with("# ")) text += line.substr(2) + "\n", ++n;
    else if (line == "#") text += "\n";
  }
  ASSERT_GT(n, 10) << "the commented example was not found in conf/sigil.toml";
  auto r = load_string(text, "sigil.toml(uncommented)");
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << text;
  EXPECT_EQ(r->keys.size(), 2u);
  ASSERT_EQ(r->signing.size(), 1u);
  EXPECT_EQ(r->signing[0].signatures.size(), 2u);
}

TEST(ConfigSigning, SigningRelayExampleSigns) {
  auto r = load_file(std::string(SIGIL_SOURCE_DIR) + "/conf/examples/signing-relay.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->keys.size(), 3u);
  ASSERT_EQ(r->signing.size(), 3u);
  EXPECT_EQ(r->signing.back().match, std::vector<std::string>{"."}) << "a catch-all last";
}

// ------------------------------------------------ dkim_verify, dkim_whitelist

TEST(ConfigVerify, DefaultsAndEveryKey) {
  auto d = load_string(std::string(kMinimal) + "[smtp]\nhostname = \"mx.example.net\"\n", "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->verify.authserv_id, "mx.example.net") << "authserv_id defaults to smtp.hostname";
  EXPECT_EQ(d->verify.max_signatures, 8u);
  EXPECT_EQ(d->verify.min_key_bits, 1024u);
  EXPECT_FALSE(d->verify.accept_partial_body);
  EXPECT_EQ(d->verify.whitelist_min_key_bits, 1024u);

  auto r = load_string(std::string(kMinimal) +
                           "[dkim_verify]\nauthserv_id = \"auth.example\"\nmax_signatures = 3\n"
                           "min_key_bits = 2048\naccept_partial_body = true\nclock_drift = 60\n"
                           "whitelist_min_key_bits = 2048\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->verify.authserv_id, "auth.example");
  EXPECT_EQ(r->verify.max_signatures, 3u);
  EXPECT_EQ(r->verify.min_key_bits, 2048u);
  EXPECT_TRUE(r->verify.accept_partial_body);
  EXPECT_EQ(r->verify.clock_drift.count(), 60);
  EXPECT_EQ(r->verify.whitelist_min_key_bits, 2048u);
}

TEST(ConfigVerify, WhitelistPatterns) {
  using A = WhitelistPattern::Author;
  struct Case {
    std::string in;
    bool ok;
    A author;
    std::string author_value, signer;
    bool tree;
  } cases[] = {
      {"example.com", true, A::Domain, "example.com", "", false},
      {"Example.COM", true, A::Domain, "example.com", "", false},
      {".example.com", true, A::DomainTree, "example.com", "", false},
      {"User@Example.com", true, A::Address, "user@example.com", "", false},
      {".", true, A::Any, "", "", false},
      {"./@Signer.net", true, A::Any, "", "signer.net", false},
      {"example.com/@esp.example", true, A::Domain, "example.com", "esp.example", false},
      {".example.com/@.esp.example", true, A::DomainTree, "example.com", "esp.example", true},
      {"/@signer.net", false, A::Any, "", "", false},
      {"./@", false, A::Any, "", "", false},
      {"./@com", false, A::Any, "", "", false},  // a signer needs two labels (RFC 6376 §3.5 d=)
      {"exa mple.com", false, A::Any, "", "", false},
      {"a@@b.com", false, A::Any, "", "", false},
  };
  for (const auto& c : cases) {
    auto r = parse_whitelist_pattern(c.in);
    EXPECT_EQ(bool(r), c.ok) << c.in << ": got " << (r ? "ok" : r.error().message);
    if (!r || !c.ok) continue;
    EXPECT_EQ(r->author, c.author) << c.in;
    EXPECT_EQ(r->author_value, c.author_value) << c.in;
    EXPECT_EQ(r->signer, c.signer) << c.in;
    EXPECT_EQ(r->signer_tree, c.tree) << c.in;
    EXPECT_EQ(r->text, c.in) << c.in;
  }
}

TEST(ConfigVerify, ErrorsNameFileLineAndKey) {
  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[dkim_verify]\nauthserv = \"x\"\n", "t.toml:4:dkim_verify.authserv: unknown key"},
      {m + "[dkim_verify]\nauthserv_id = \"mx example\"\n", "t.toml:4:dkim_verify.authserv_id: must be a host name"},
      {m + "[dkim_verify]\nauthserv_id = \"a;b\"\n", "t.toml:4:dkim_verify.authserv_id: must be a host name"},
      {m + "[dkim_verify]\nmax_signatures = 0\n", "t.toml:4:dkim_verify.max_signatures: out of range"},
      {m + "[dkim_verify]\nmin_key_bits = 256\n", "t.toml:4:dkim_verify.min_key_bits: out of range"},
      {m + "[[dkim_whitelist]]\nbanks = [\"default\"]\n", "t.toml:3:dkim_whitelist[0].match: missing"},
      {m + "[[dkim_whitelist]]\nmatch = [\"example.com\"]\n", "t.toml:3:dkim_whitelist[0].banks: missing"},
      {m + "[[dkim_whitelist]]\nmatch = [\"example.com\"]\nbanks = [\"ghost\"]\n",
       "t.toml:5:dkim_whitelist[0].banks: no such bank 'ghost'"},
      {m + "[[dkim_whitelist]]\nmatch = [\"ok.example\", \"/@x.example\"]\nbanks = [\"default\"]\n",
       "t.toml:4:dkim_whitelist[0].match: '/@x.example': no author"},
      {m + "[[dkim_whitelist]]\nmatch = []\nbanks = [\"default\"]\n", "t.toml:4:dkim_whitelist[0].match: must not be empty"},
      {m + "[[dkim_whitelist]]\nmatch = [\"a.example\"]\nbanks = [\"default\"]\nbank = \"x\"\n",
       "t.toml:6:dkim_whitelist[0].bank: unknown key"},
      {m + "[dkim_whitelist]\nmatch = [\"a.example\"]\n", "t.toml:3:dkim_whitelist: must be an array of tables"},
      {m + "[bank.t]\nskip_stages = [\"spma\"]\n", "t.toml:4:bank.t.skip_stages: unknown stage 'spma'"},
      {m + "[bank.t]\nadd_header = [\"no colon here\"]\n", "t.toml:4:bank.t.add_header: 'no colon here' is not a header field"},
      {m + "[bank.t]\nadd_header = [\"X-A: 1\\r\\nX-B: 2\"]\n", "t.toml:4:bank.t.add_header:"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigVerify, WhitelistRulesLoadInOrder) {
  auto r = load_string(std::string(kMinimal) +
                           "[bank.trusted]\nskip_stages = [\"spam\"]\nadd_header = [\"X-Trusted: yes\"]\n"
                           "[[dkim_whitelist]]\nmatch = [\".example.com\", \"./@esp.example\"]\n"
                           "banks = [\"trusted\"]\n"
                           "[[dkim_whitelist]]\nmatch = [\"user@example.org\"]\nbanks = [\"trusted\", \"default\"]\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->whitelist.size(), 2u);
  EXPECT_EQ(r->whitelist[0].match.size(), 2u);
  EXPECT_EQ(r->whitelist[1].index, 1u);
  EXPECT_EQ(r->whitelist[1].banks, (std::vector<std::string>{"trusted", "default"}));
  const auto& b = r->banks.at("trusted");
  ASSERT_TRUE(b.skip_stages.has_value());
  EXPECT_EQ(*b.skip_stages, std::vector<std::string>{"spam"});
  EXPECT_EQ(b.add_header, std::vector<std::string>{"X-Trusted: yes"});
}

// ------------------------------------------------ destinies, [av], [spam]

TEST(ConfigDestiny, PerCategoryAndErrors) {
  auto r = load_string(std::string(kMinimal) +
                           "[bank.strict]\ndestiny = { virus = \"reject\", spam = \"tempfail\", "
                           "bad-header = \"discard\", clean = \"pass\" }\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& d = r->banks.at("strict").destiny;
  EXPECT_EQ(d.at(Category::Virus), Destiny::Reject);
  EXPECT_EQ(d.at(Category::Spam), Destiny::TempFail);
  EXPECT_EQ(d.at(Category::BadHeader), Destiny::Discard);
  EXPECT_EQ(d.count(Category::Banned), 0u) << "unset categories stay unset (defaults apply later)";
  EXPECT_EQ(default_destiny(Category::Virus), Destiny::Discard);
  EXPECT_EQ(default_destiny(Category::Banned), Destiny::Discard);
  EXPECT_EQ(default_destiny(Category::Spam), Destiny::Pass);
  EXPECT_EQ(default_destiny(Category::Unchecked), Destiny::Pass);

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[bank.b]\ndestiny = { virsu = \"discard\" }\n", "t.toml:4:bank.b.destiny.virsu: unknown category"},
      {m + "[bank.b]\ndestiny = { virus = \"drop\" }\n", "t.toml:4:bank.b.destiny.virus: must be one of pass, discard, bounce, reject, tempfail"},
      {m + "[bank.b]\ndestiny = \"discard\"\n", "t.toml:4:bank.b.destiny: must be a table"},
      {m + "[av]\nscanner = \"clamd\"\n", "t.toml:4:av.scanner: unknown key"},
      {m + "[spam]\nspamd = \"x\"\n", "t.toml:4:spam.spamd: unknown key"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
  for (std::size_t i = 0; i < kCategoryNames.size(); ++i)
    EXPECT_EQ(to_string(static_cast<Category>(i)), kCategoryNames[i]);
}

// ------------------------------------------------------------------ [av]

TEST(ConfigAv, DefaultsAndEveryKey) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->av.scanners.empty());
  EXPECT_EQ(d->av.max_size, 25ull * 1024 * 1024) << "clamd's default StreamMaxLength";
  EXPECT_EQ(d->av.on_error, AvConfig::OnError::TempFail);

  auto r = load_string(std::string(kMinimal) +
                           "[bank.default]\nstages = [\"av\"]\n"
                           "[av]\n"
                           "scanners = [ { name = \"local\", address = \"unix:/run/clamav/clamd.ctl\", timeout = 20 },\n"
                           "             { name = \"backup\", address = \"127.0.0.1:3310\" },\n"
                           "             { address = \"[::1]:3311\", timeout = 5 } ]\n"
                           "max_size = 52428800\non_error = \"continue\"\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->av.scanners.size(), 3u);
  const auto& s = r->av.scanners;
  EXPECT_EQ(s[0].name, "local");
  EXPECT_EQ(s[0].kind, AvScanner::Kind::Unix);
  EXPECT_EQ(s[0].path, "/run/clamav/clamd.ctl");
  EXPECT_EQ(s[0].timeout, Seconds(20));
  EXPECT_EQ(s[1].kind, AvScanner::Kind::Tcp);
  EXPECT_EQ(s[1].host, "127.0.0.1");
  EXPECT_EQ(s[1].port, 3310);
  EXPECT_EQ(s[1].timeout, Seconds(30)) << "default timeout";
  EXPECT_EQ(s[2].name, "[::1]:3311") << "an unnamed scanner is named by its address";
  EXPECT_EQ(s[2].host, "::1");
  EXPECT_EQ(r->av.max_size, 52428800u);
  EXPECT_EQ(r->av.on_error, AvConfig::OnError::Continue);

  // The [[av.scanners]] form is the same array of tables.
  auto t = load_string(std::string(kMinimal) +
                           "[av]\non_error = \"reject\"\n[[av.scanners]]\nname = \"a\"\n"
                           "address = \"unix:/tmp/c.sock\"\n",
                       "t.toml");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_EQ(t->av.scanners.size(), 1u);
  EXPECT_EQ(t->av.on_error, AvConfig::OnError::Reject);
}

TEST(ConfigAv, ErrorsNameFileLineAndKey) {
  const std::string m = kMinimal;
  const std::string av = "[av]\nscanners = [ ";
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[av]\nscanner = \"clamd\"\n", "t.toml:4:av.scanner: unknown key"},
      {m + "[av]\nscanners = \"unix:/x\"\n", "t.toml:4:av.scanners: must be an array of tables"},
      {m + "[av]\nscanners = []\n", "t.toml:4:av.scanners: must not be empty"},
      {m + av + "{ name = \"a\" } ]\n", "t.toml:4:av.scanners[0].address: missing"},
      {m + av + "{ address = \"\" } ]\n", "t.toml:4:av.scanners[0].address: must not be empty"},
      {m + av + "{ address = \"localhost:3310\" } ]\n",
       "t.toml:4:av.scanners[0].address: bad scanner address 'localhost:3310'"},
      {m + av + "{ address = \"127.0.0.1\" } ]\n", "t.toml:4:av.scanners[0].address: bad scanner address"},
      {m + av + "{ address = \"127.0.0.1:0\" } ]\n", "t.toml:4:av.scanners[0].address: bad scanner address"},
      {m + av + "{ address = \"::1:3310\" } ]\n", "t.toml:4:av.scanners[0].address: bad scanner address"},
      {m + av + "{ address = \"unix:run/clamd.ctl\" } ]\n",
       "t.toml:4:av.scanners[0].address: unix socket path must be absolute"},
      {m + av + "{ address = \"unix:/" + std::string(120, 'x') + "\" } ]\n",
       "t.toml:4:av.scanners[0].address: unix socket path must be absolute and under 108 bytes"},
      {m + av + "{ address = \"unix:/a\", timeout = 0 } ]\n",
       "t.toml:4:av.scanners[0].timeout: out of range (1..3600)"},
      {m + av + "{ address = \"unix:/a\", timeout = \"30s\" } ]\n",
       "t.toml:4:av.scanners[0].timeout: must be an integer"},
      {m + av + "{ address = \"unix:/a\", host = \"x\" } ]\n", "t.toml:4:av.scanners[0].host: unknown key"},
      {m + av + "{ address = \"unix:/a\", name = \"a b\" } ]\n",
       "t.toml:4:av.scanners[0].name: 'a b': use letters, digits"},
      {m + av + "{ address = \"unix:/a\", name = \"x\" },\n{ address = \"unix:/b\", name = \"x\" } ]\n",
       "t.toml:5:av.scanners[1].name: duplicate scanner name 'x' (also av.scanners[0])"},
      {m + av + "{ address = \"unix:/a\" }, { address = \"unix:/a\" } ]\n",
       "av.scanners[1].name: duplicate scanner name 'unix:/a'"},
      {m + "[av]\nmax_size = 10\n", "t.toml:4:av.max_size: out of range"},
      {m + "[av]\nmax_size = \"big\"\n", "t.toml:4:av.max_size: must be an integer"},
      {m + "[av]\non_error = \"pass\"\n", "t.toml:4:av.on_error: 'pass': must be one of tempfail, continue, reject"},
      {m + "[av]\non_error = true\n", "t.toml:4:av.on_error: must be a string"},
      {"av = 3\n" + m, "t.toml:1:av: must be a table"},
      // A bank that runs the stage needs a scanner.
      {m + "[bank.default]\nstages = [\"av\"]\n", "t.toml:4:bank.default.stages: the av stage needs [av] scanners"},
      {m + "[bank.default]\nstages = [\"av\"]\n[av]\non_error = \"continue\"\n",
       "t.toml:4:bank.default.stages: the av stage needs [av] scanners"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigAv, AddressParser) {
  struct Case {
    const char* in;
    bool ok;
    AvScanner::Kind kind;
    const char* host_or_path;
    std::uint16_t port;
  } cases[] = {
      {"unix:/run/clamav/clamd.ctl", true, AvScanner::Kind::Unix, "/run/clamav/clamd.ctl", 0},
      {"127.0.0.1:3310", true, AvScanner::Kind::Tcp, "127.0.0.1", 3310},
      {"[2001:db8::1]:3310", true, AvScanner::Kind::Tcp, "2001:db8::1", 3310},
      {"10.0.0.1:65536", false, AvScanner::Kind::Tcp, "", 0},
      {"clamd.example:3310", false, AvScanner::Kind::Tcp, "", 0},
      {"tcp:127.0.0.1:3310", false, AvScanner::Kind::Tcp, "", 0},
      {"unix:", false, AvScanner::Kind::Unix, "", 0},
  };
  for (auto& c : cases) {
    auto r = parse_av_address(c.in);
    ASSERT_EQ(r.ok(), c.ok) << c.in << ": got " << (r ? "ok" : r.error().message) << ", want "
                            << (c.ok ? "ok" : "an error");
    if (!c.ok) continue;
    EXPECT_EQ(r->kind, c.kind) << c.in;
    EXPECT_EQ(r->kind == AvScanner::Kind::Unix ? r->path : r->host, c.host_or_path) << c.in;
    EXPECT_EQ(r->port, c.port) << c.in;
    EXPECT_EQ(r->address, c.in);
  }
}

// ------------------------------------------------------------------ [spam]

TEST(ConfigSpam, DefaultsEveryKeyAndBankLevels) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->spam.scanners.empty());
  EXPECT_EQ(d->spam.max_size, 512000u) << "spamc's default limit";
  EXPECT_EQ(d->spam.on_error, SpamConfig::OnError::Continue) << "Amavis passes mail when spamd is down";
  EXPECT_EQ(d->spam.command, SpamConfig::Command::Report);
  EXPECT_EQ(d->spam.user, "sigil");
  const auto& db = d->banks.at("default").spam;
  EXPECT_FALSE(db.tag_level || db.tag2_level || db.kill_level || db.score_offset || db.subject_tag)
      << "unset bank levels stay unset (SpamLevels' defaults apply later)";
  SpamLevels lv;
  EXPECT_EQ(lv.tag_level, -999) << "headers always";
  EXPECT_EQ(lv.tag2_level, 6.2);
  EXPECT_EQ(lv.kill_level, 6.9);
  EXPECT_EQ(lv.subject_tag, "***Spam*** ");
  EXPECT_EQ(lv.score_offset, 0);

  auto r = load_string(std::string(kMinimal) +
                           "[bank.default]\nstages = [\"spam\"]\n"
                           "spam_tag_level = 2\nspam_tag2_level = 5.5\nspam_kill_level = 10\n"
                           "spam_subject_tag = \"[SPAM] \"\n"
                           "[bank.trusted]\nspam_score_offset = -5.0\nspam_subject_tag = \"\"\n"
                           "[spam]\n"
                           "scanners = [ { name = \"local\", address = \"127.0.0.1:783\", timeout = 60 },\n"
                           "             { address = \"unix:/run/spamd.sock\" },\n"
                           "             { name = \"v6\", address = \"[::1]:784\", timeout = 5 } ]\n"
                           "max_size = 1048576\non_error = \"tempfail\"\ncommand = \"symbols\"\n"
                           "user = \"amavis\"\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = r->spam.scanners;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].name, "local");
  EXPECT_EQ(s[0].address.kind, ListenAddress::Kind::Tcp);
  EXPECT_EQ(s[0].address.host, "127.0.0.1");
  EXPECT_EQ(s[0].address.port, 783);
  EXPECT_EQ(s[0].timeout, Seconds(60));
  EXPECT_EQ(s[1].name, "unix:/run/spamd.sock") << "an unnamed scanner is named by its address";
  EXPECT_EQ(s[1].address.kind, ListenAddress::Kind::Unix);
  EXPECT_EQ(s[1].address.path, "/run/spamd.sock");
  EXPECT_EQ(s[1].timeout, Seconds(30)) << "default timeout";
  EXPECT_EQ(s[2].address.host, "::1");
  EXPECT_EQ(s[2].address.port, 784);
  EXPECT_EQ(r->spam.max_size, 1048576u);
  EXPECT_EQ(r->spam.on_error, SpamConfig::OnError::TempFail);
  EXPECT_EQ(r->spam.command, SpamConfig::Command::Symbols);
  EXPECT_EQ(r->spam.user, "amavis");
  const auto& b = r->banks.at("default").spam;
  EXPECT_EQ(b.tag_level, std::optional<double>(2));
  EXPECT_EQ(b.tag2_level, std::optional<double>(5.5));
  EXPECT_EQ(b.kill_level, std::optional<double>(10));
  EXPECT_EQ(b.subject_tag, std::optional<std::string>("[SPAM] "));
  EXPECT_FALSE(b.score_offset);
  const auto& t = r->banks.at("trusted").spam;
  EXPECT_EQ(t.score_offset, std::optional<double>(-5));
  EXPECT_EQ(t.subject_tag, std::optional<std::string>("")) << "\"\" is an explicit no-tag";
  EXPECT_FALSE(t.tag_level);
}

TEST(ConfigSpam, ErrorsNameFileLineAndKey) {
  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[spam]\nspamd = \"x\"\n", "t.toml:4:spam.spamd: unknown key"},
      {m + "[spam]\nscanners = []\n", "t.toml:4:spam.scanners: must not be empty"},
      {m + "[spam]\nscanners = \"127.0.0.1:783\"\n", "t.toml:4:spam.scanners: must be an array of tables"},
      {m + "[spam]\nscanners = [ { name = \"a\" } ]\n", "spam.scanners[0].address: missing"},
      {m + "[spam]\nscanners = [ { address = \"localhost:783\" } ]\n",
       "t.toml:4:spam.scanners[0].address: bad spamd address 'localhost:783'"},
      {m + "[spam]\nscanners = [ { address = \"127.0.0.1:0\" } ]\n", "spam.scanners[0].address: bad spamd address"},
      {m + "[spam]\nscanners = [ { address = \"unix:relative\" } ]\n", "spam.scanners[0].address: bad spamd address"},
      {m + "[spam]\nscanners = [ { address = \"127.0.0.1:783\", port = 1 } ]\n", "spam.scanners[0].port: unknown key"},
      {m + "[spam]\nscanners = [ { address = \"127.0.0.1:783\", timeout = 0 } ]\n", "spam.scanners[0].timeout: out of range"},
      {m + "[spam]\nscanners = [ { name = \"a b\", address = \"127.0.0.1:783\" } ]\n", "spam.scanners[0].name: 'a b'"},
      {m + "[spam]\nscanners = [ { name = \"a\", address = \"127.0.0.1:783\" },\n"
           "{ name = \"a\", address = \"127.0.0.1:784\" } ]\n",
       "t.toml:5:spam.scanners[1].name: duplicate scanner name 'a'"},
      {m + "[spam]\nmax_size = 10\n", "t.toml:4:spam.max_size: out of range"},
      {m + "[spam]\non_error = \"reject\"\n", "t.toml:4:spam.on_error: 'reject': must be continue or tempfail"},
      {m + "[spam]\ncommand = \"process\"\n", "t.toml:4:spam.command: 'process': must be report or symbols"},
      {m + "[spam]\nuser = \"a b\"\n", "t.toml:4:spam.user: must be"},
      {m + "[bank.b]\nspam_tag_level = \"high\"\n", "t.toml:4:bank.b.spam_tag_level: must be a number"},
      {m + "[bank.b]\nspam_kill_level = -1000\n", "t.toml:4:bank.b.spam_kill_level: out of range"},
      {m + "[bank.b]\nspam_tag2_level = nan\n", "t.toml:4:bank.b.spam_tag2_level: out of range"},
      {m + "[bank.b]\nspam_score_offset = inf\n", "t.toml:4:bank.b.spam_score_offset: out of range"},
      {m + "[bank.b]\nspam_subject_tag = \"a\\nb\"\n", "t.toml:4:bank.b.spam_subject_tag: must be"},
      {m + "[bank.b]\nspam_subject_tag = 1\n", "t.toml:4:bank.b.spam_subject_tag: must be a string"},
      {m + "[bank.b]\nspam_level = 1\n", "t.toml:4:bank.b.spam_level: unknown key"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigSpam, RspamdScannersAndKindErrors) {
  auto r = load_string(std::string(kMinimal) +
                           "[spam]\n"
                           "scanners = [ { kind = \"rspamd\", name = \"rs\", address = \"127.0.0.1:11333\", timeout = 20 },\n"
                           "             { kind = \"rspamd\", address = \"unix:/run/rspamd/normal.sock\" },\n"
                           "             { kind = \"spamd\", address = \"[::1]:783\" },\n"
                           "             { address = \"127.0.0.1:783\" } ]\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = r->spam.scanners;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].kind, SpamScanner::Kind::Rspamd);
  EXPECT_EQ(s[0].name, "rs");
  EXPECT_EQ(s[0].address.kind, ListenAddress::Kind::Tcp);
  EXPECT_EQ(s[0].address.host, "127.0.0.1");
  EXPECT_EQ(s[0].address.port, 11333);
  EXPECT_EQ(s[0].timeout, Seconds(20));
  EXPECT_EQ(s[1].kind, SpamScanner::Kind::Rspamd);
  EXPECT_EQ(s[1].name, "unix:/run/rspamd/normal.sock");
  EXPECT_EQ(s[1].address.kind, ListenAddress::Kind::Unix);
  EXPECT_EQ(s[1].address.path, "/run/rspamd/normal.sock");
  EXPECT_EQ(s[2].kind, SpamScanner::Kind::Spamd);
  EXPECT_EQ(s[3].kind, SpamScanner::Kind::Spamd) << "kind defaults to spamd";

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[spam]\nscanners = [ { kind = \"spamassassin\", address = \"127.0.0.1:783\" } ]\n",
       "t.toml:4:spam.scanners[0].kind: 'spamassassin': must be spamd or rspamd"},
      {m + "[spam]\nscanners = [ { kind = 1, address = \"127.0.0.1:783\" } ]\n",
       "t.toml:4:spam.scanners[0].kind: must be a string"},
      {m + "[spam]\nscanners = [ { kind = \"rspamd\", address = \"localhost:11333\" } ]\n",
       "t.toml:4:spam.scanners[0].address: bad rspamd address 'localhost:11333' (want "
       "127.0.0.1:11333"},
      {m + "[spam]\nscanners = [ { kind = \"rspamd\", address = \"http://127.0.0.1:11333/\" } ]\n",
       "spam.scanners[0].address: bad rspamd address"},
      {m + "[spam]\nscanners = [ { kind = \"rspamd\", address = \"127.0.0.1:0\" } ]\n",
       "spam.scanners[0].address: bad rspamd address"},
      {m + "[spam]\nscanners = [ { kind = \"rspamd\", address = \"127.0.0.1:11333\", password = \"x\" } ]\n",
       "t.toml:4:spam.scanners[0].password: unknown key"},
      {m + "[spam]\nscanners = [ { address = \"127.0.0.1:783\" },\n"
           "{ kind = \"rspamd\", address = \"127.0.0.1:11333\", timeout = -1 } ]\n",
       "t.toml:5:spam.scanners[1].timeout: out of range"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigDecode, DefaultsKeysAndErrors) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->decode.max_depth, 14u);
  EXPECT_EQ(d->decode.max_parts, 1500u);
  EXPECT_EQ(d->decode.timeout, std::chrono::seconds(30));
  EXPECT_FALSE(d->decode.threads.has_value()) << "unset: one per CPU";

  auto r = load_string(std::string(kMinimal) +
                           "[decode]\nmax_depth = 20\nmax_parts = 300\ntimeout = 5\nthreads = 0\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->decode.max_depth, 20u);
  EXPECT_EQ(r->decode.max_parts, 300u);
  EXPECT_EQ(r->decode.timeout, std::chrono::seconds(5));
  ASSERT_TRUE(r->decode.threads.has_value());
  EXPECT_EQ(*r->decode.threads, 0u);

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[decode]\nmax_deph = 3\n", "t.toml:4:decode.max_deph: unknown key"},
      {m + "[decode]\nmax_depth = 0\n", "t.toml:4:decode.max_depth: out of range (1..100)"},
      {m + "[decode]\nmax_parts = 100001\n", "t.toml:4:decode.max_parts: out of range (1..100000)"},
      {m + "[decode]\nmax_parts = \"many\"\n", "t.toml:4:decode.max_parts: must be an integer"},
      {m + "[decode]\ntimeout = 0\n", "t.toml:4:decode.timeout: out of range (1..3600)"},
      {m + "[decode]\nthreads = 65\n", "t.toml:4:decode.threads: out of range (0..64)"},
      {m + "decode = 3\n", "decode"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigQuarantine, DefaultsKeysAndErrors) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->quarantine.dir, "/var/lib/sigil/quarantine");
  EXPECT_FALSE(d->quarantine.compress);
  EXPECT_FALSE(d->banks.at("default").quarantine.has_value());

  auto r = load_string(std::string(kMinimal) +
                           "[quarantine]\ndir = \"/srv/q\"\ncompress = true\n"
                           "[bank.default]\nquarantine = [\"virus\", \"banned\", \"spam\"]\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->quarantine.dir, "/srv/q");
  EXPECT_TRUE(r->quarantine.compress);
  ASSERT_TRUE(r->banks.at("default").quarantine.has_value());
  EXPECT_EQ(*r->banks.at("default").quarantine,
            (std::vector<Category>{Category::Virus, Category::Banned, Category::Spam}));

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[quarantine]\ndirectory = \"/q\"\n", "t.toml:4:quarantine.directory: unknown key"},
      {m + "[quarantine]\ndir = \"q\"\n", "t.toml:4:quarantine.dir: must be an absolute path"},
      {m + "[quarantine]\ncompress = \"yes\"\n", "t.toml:4:quarantine.compress: must be true or false"},
      {m + "[bank.default]\nquarantine = [\"viruses\"]\n",
       "t.toml:4:bank.default.quarantine: unknown category 'viruses'"},
      {m + "[bank.default]\nquarantine = \"virus\"\n", "bank.default.quarantine: must be an array"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

// ------------------------------------------- [decode] quotas, [banned.NAME]

TEST(ConfigDecode, ExpansionQuotaAndTempDir) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->decode.min_expansion_quota, 100u * 1024);
  EXPECT_EQ(d->decode.min_expansion_factor, 5u);
  EXPECT_EQ(d->decode.max_expansion_quota, 500ull * 1024 * 1024);
  EXPECT_EQ(d->decode.max_expansion_factor, 500u);
  EXPECT_EQ(d->decode.temp_dir, "");
  EXPECT_TRUE(d->banned.empty()) << "the built-in default set is not copied into the config";

  auto r = load_string(std::string(kMinimal) +
                           "[decode]\nmin_expansion_quota = 2048\nmin_expansion_factor = 2\n"
                           "max_expansion_quota = 1048576\nmax_expansion_factor = 50\n"
                           "temp_dir = \"/var/tmp/sigil\"\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->decode.min_expansion_quota, 2048u);
  EXPECT_EQ(r->decode.min_expansion_factor, 2u);
  EXPECT_EQ(r->decode.max_expansion_quota, 1048576u);
  EXPECT_EQ(r->decode.max_expansion_factor, 50u);
  EXPECT_EQ(r->decode.temp_dir, "/var/tmp/sigil");

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[decode]\nmin_expansion_quota = 10\n", "t.toml:4:decode.min_expansion_quota: out of range"},
      {m + "[decode]\nmax_expansion_factor = 0\n", "t.toml:4:decode.max_expansion_factor: out of range"},
      {m + "[decode]\nmin_expansion_quota = 4096\nmax_expansion_quota = 2048\n",
       "t.toml:4:decode.min_expansion_quota: must not exceed max_expansion_quota"},
      {m + "[decode]\nmin_expansion_factor = 600\n",
       "t.toml:4:decode.min_expansion_factor: must not exceed max_expansion_factor"},
      {m + "[decode]\ntemp_dir = \"tmp\"\n", "t.toml:4:decode.temp_dir: must be an absolute path"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigBanned, RuleSetsAndBankSelection) {
  auto r = load_string(std::string(kMinimal) + R"(
[bank.default]
banned_rules = "strict"
[bank.lenient]
banned_rules = "none"
[bank.plain]
banned_rules = "default"
[banned.strict]
rules = [
  { action = "allow", inside = '^tar$' },
  { action = "ban", name = '\.(exe|scr)$', type = '^application/', detected = 'dosexec', path = '^a\.zip/' },
]
[banned.empty]
rules = []
[[banned.long.rules]]
action = "ban"
name = 'é\.exe$'
)",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->banks.at("default").banned_rules, std::optional<std::string>("strict"));
  EXPECT_EQ(r->banks.at("lenient").banned_rules, std::optional<std::string>("none"));
  EXPECT_EQ(r->banks.at("plain").banned_rules, std::optional<std::string>("default"));
  ASSERT_EQ(r->banned.size(), 3u);
  const auto& s = r->banned.at("strict");
  EXPECT_EQ(s.name, "strict");
  ASSERT_EQ(s.rules.size(), 2u);
  EXPECT_EQ(s.rules[0].action, BannedRule::Action::Allow);
  EXPECT_EQ(s.rules[0].inside, std::optional<std::string>("^tar$"));
  EXPECT_FALSE(s.rules[0].name);
  EXPECT_EQ(s.rules[1].action, BannedRule::Action::Ban);
  EXPECT_EQ(s.rules[1].name, std::optional<std::string>("\\.(exe|scr)$"));
  EXPECT_EQ(s.rules[1].type, std::optional<std::string>("^application/"));
  EXPECT_EQ(s.rules[1].detected, std::optional<std::string>("dosexec"));
  EXPECT_EQ(s.rules[1].path, std::optional<std::string>("^a\\.zip/"));
  EXPECT_TRUE(r->banned.at("empty").rules.empty());
  EXPECT_EQ(r->banned.at("long").rules.size(), 1u);

  const auto& d = default_banned_rules();
  EXPECT_EQ(d.name, "default");
  EXPECT_GE(d.rules.size(), 5u);
}

TEST(ConfigBanned, ErrorsNameFileLineAndKey) {
  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[banned.x]\nrules = [ { action = \"ban\", name = '(' } ]\n",
       "t.toml:4:banned.x.rules[0].name: bad regex '('"},
      {m + "[banned.x]\nrules = [ { action = \"ban\" } ]\n",
       "t.toml:4:banned.x.rules[0]: no matcher: give at least one of name, type, detected, path, inside"},
      {m + "[banned.x]\nrules = [ { action = \"ban\", nmae = 'x' } ]\n",
       "t.toml:4:banned.x.rules[0].nmae: unknown key"},
      {m + "[banned.x]\nrules = [ { action = \"deny\", name = 'x' } ]\n",
       "t.toml:4:banned.x.rules[0].action: 'deny': must be ban or allow"},
      {m + "[banned.x]\nrules = [ { name = 'x' } ]\n", "t.toml:4:banned.x.rules[0].action: missing"},
      {m + "[banned.x]\nrules = [ { action = \"ban\", name = 3 } ]\n",
       "t.toml:4:banned.x.rules[0].name: must be a string"},
      {m + "[banned.x]\nrule = []\n", "t.toml:4:banned.x.rule: unknown key"},
      {m + "[banned.x]\n", "t.toml:3:banned.x.rules: missing"},
      {m + "[banned.x]\nrules = \"ban\"\n", "t.toml:4:banned.x.rules: must be an array of tables"},
      {m + "[banned.none]\nrules = []\n", "t.toml:3:banned.none: \"none\" is reserved"},
      {"banned = 1\n" + m, "t.toml:1:banned: must be a table"},
      {m + "[bank.b]\nbanned_rules = \"nope\"\n",
       "t.toml:4:bank.b.banned_rules: no such rule set 'nope'"},
      {m + "[bank.b]\nbanned_rules = 1\n", "t.toml:4:bank.b.banned_rules: must be a string"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigRecipients, KeysAndErrors) {
  auto r = load_string(std::string(kMinimal) +
                           "[recipients]\nlocal_domains = [\"Example.NET\", \".corp.example\"]\n"
                           "[[recipient]]\nmatch = [\"Boss@Example.net\", \"postmaster@\", \".\"]\n"
                           "lovers = [\"spam\", \"bad-header\"]\nbypass = [\"av\"]\nspam_kill_level = 20\n"
                           "[dsn]\nspam_cutoff_level = 15\nfrom = \"bounces@mx.example\"\n"
                           "[bank.default]\ndestiny = { banned = \"bounce\" }\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r->recipients.local_domains, (std::vector<std::string>{"example.net", ".corp.example"}));
  ASSERT_EQ(r->recipient_rules.size(), 1u);
  EXPECT_EQ(r->recipient_rules[0].match, (std::vector<std::string>{"boss@example.net", "postmaster@", "."}));
  EXPECT_EQ(r->recipient_rules[0].lovers, (std::vector<Category>{Category::Spam, Category::BadHeader}));
  EXPECT_EQ(r->recipient_rules[0].bypass, (std::vector<std::string>{"av"}));
  EXPECT_EQ(*r->recipient_rules[0].spam.kill_level, 20);
  EXPECT_FALSE(r->recipient_rules[0].spam.tag2_level);
  EXPECT_EQ(r->dsn.spam_cutoff_level, 15);
  EXPECT_EQ(r->dsn.from, "bounces@mx.example");
  EXPECT_EQ(r->banks.at("default").destiny.at(Category::Banned), Destiny::Bounce);

  const std::string m = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + "[recipients]\nlocal_domains = [\"user@example.net\"]\n",
       "t.toml:4:recipients.local_domains: 'user@example.net' is not a domain"},
      {m + "[recipients]\nlocal = 1\n", "t.toml:4:recipients.local: unknown key"},
      {m + "[[recipient]]\nlovers = [\"spam\"]\n", "recipient[0].match: missing"},
      {m + "[[recipient]]\nmatch = [\"a b@x\"]\n", "t.toml:4:recipient[0].match: 'a b@x' is not a recipient pattern"},
      {m + "[[recipient]]\nmatch = [\".\"]\nlovers = [\"clean\"]\n", "recipient[0].lovers: unknown category 'clean'"},
      {m + "[[recipient]]\nmatch = [\".\"]\nbypass = [\"dkim-sign\"]\n",
       "recipient[0].bypass: 'dkim-sign' cannot be bypassed per recipient"},
      {m + "[[recipient]]\nmatch = [\".\"]\nspam_offset = 1\n", "recipient[0].spam_offset: unknown key"},
      {m + "[dsn]\nfrom = \"nobody\"\n", "t.toml:4:dsn.from: 'nobody' is not an address"},
      {m + "[dsn]\nspam_cutoff_level = \"high\"\n", "t.toml:4:dsn.spam_cutoff_level: must be a number"},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

// ------------------------------------------- [[listener]] modes

TEST(ConfigListener, ModesBudgetsAndErrors) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->listeners[0].mode, ListenerMode::AfterQueue);
  EXPECT_FALSE(d->listeners[0].budget.has_value()) << "after-queue has no budget unless set";

  auto r = load_string(
      "[bank.auth]\noriginating = true\n"
      "[[listener]]\naddress = \"127.0.0.1:10024\"\nbudget = 600\n"
      "[[listener]]\naddress = \"127.0.0.1:10026\"\nmode = \"proxy\"\n"
      "[[listener]]\naddress = \"127.0.0.1:10027\"\nmode = \"proxy\"\npeer_timeout = 60\nbudget = 45\n"
      "[[listener]]\naddress = \"unix:/run/sigil/milter\"\nmode = \"milter\"\nauth_bank = \"auth\"\n"
      "quarantine = \"store\"\n",
      "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& l = r->listeners;
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].budget, Seconds{600});
  EXPECT_EQ(l[1].mode, ListenerMode::Proxy);
  EXPECT_EQ(l[1].peer_timeout, Seconds{100}) << "Postfix's smtpd_proxy_timeout default";
  EXPECT_EQ(l[1].budget, Seconds{90});
  EXPECT_EQ(l[2].peer_timeout, Seconds{60});
  EXPECT_EQ(l[2].budget, Seconds{45});
  EXPECT_EQ(l[3].mode, ListenerMode::Milter);
  EXPECT_EQ(l[3].peer_timeout, Seconds{300}) << "Postfix's milter_content_timeout default";
  EXPECT_EQ(l[3].budget, Seconds{290});
  EXPECT_EQ(l[3].auth_bank, "auth");
  EXPECT_FALSE(l[3].milter_hold);
  EXPECT_STREQ(to_string(l[3].mode), "milter");

  const std::string a = "[[listener]]\naddress = \"127.0.0.1:10024\"\n";
  struct Case {
    std::string text, want;
  } cases[] = {
      {a + "mode = \"before-queue\"\n",
       "t.toml:3:listener[0].mode: must be \"after-queue\", \"proxy\" or \"milter\""},
      {a + "peer_timeout = 100\n", "t.toml:3:listener[0].peer_timeout: only for mode"},
      {a + "mode = \"proxy\"\nbudget = 100\n",
       "t.toml:4:listener[0].budget: must be below peer_timeout (100 s)"},
      {a + "mode = \"proxy\"\npeer_timeout = 1\n", "t.toml:4:listener[0].peer_timeout: out of range (2..3600)"},
      {a + "mode = \"milter\"\nbudget = 0\n", "t.toml:4:listener[0].budget: out of range (1..86400)"},
      {a + "auth_bank = \"default\"\n", "t.toml:3:listener[0].auth_bank: only for mode = \"milter\""},
      {a + "mode = \"milter\"\nauth_bank = \"nosuch\"\n",
       "t.toml:4:listener[0].auth_bank: no such bank 'nosuch'"},
      {a + "mode = \"proxy\"\nquarantine = \"hold\"\n",
       "t.toml:4:listener[0].quarantine: only for mode = \"milter\""},
      {a + "mode = \"milter\"\nquarantine = \"keep\"\n",
       "t.toml:4:listener[0].quarantine: must be \"hold\" or \"store\""},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

// ------------------------------- XFORWARD trust, per-client and DATA limits

TEST(ConfigListener, XforwardHostsDefaultToLoopbackAndParse) {
  auto ip = [](const char* s) { return parse_ip(s); };
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  const auto& def = d->listeners[0].xforward_hosts;
  EXPECT_TRUE(cidrs_contain(def, ip("127.0.0.1")));
  EXPECT_TRUE(cidrs_contain(def, ip("127.0.0.2")));
  EXPECT_TRUE(cidrs_contain(def, ip("::1")));
  EXPECT_FALSE(cidrs_contain(def, ip("192.0.2.7")));
  EXPECT_FALSE(cidrs_contain(def, ip("::2")));
  EXPECT_FALSE(cidrs_contain(def, std::nullopt)) << "no address is never trusted";

  auto r = load_string(std::string(kMinimal) + "xforward_hosts = [\"10.1.2.3/24\", \"2001:db8::/32\"]\n"
                       "[[listener]]\naddress = \"127.0.0.1:10025\"\naccept_xforward = false\n"
                       "[[listener]]\naddress = \"127.0.0.1:10026\"\nxforward_hosts = []\n",
                       "t.toml");
  ASSERT_TRUE(r) << r.error().message;
  const auto& l = r->listeners;
  EXPECT_TRUE(cidrs_contain(l[0].xforward_hosts, ip("10.1.2.200")));
  EXPECT_TRUE(cidrs_contain(l[0].xforward_hosts, ip("2001:db8:1::5")));
  EXPECT_FALSE(cidrs_contain(l[0].xforward_hosts, ip("127.0.0.1"))) << "the list replaces the default";
  EXPECT_TRUE(l[1].xforward_hosts.empty()) << "accept_xforward = false is xforward_hosts = []";
  EXPECT_TRUE(l[2].xforward_hosts.empty());

  const std::string a = kMinimal;
  struct Case {
    std::string text, want;
  } cases[] = {
      {a + "xforward_hosts = [\"localhost\"]\n",
       "t.toml:3:listener[0].xforward_hosts: not an IP address: 'localhost'"},
      {a + "xforward_hosts = [\"10.0.0.0/33\"]\n", "t.toml:3:listener[0].xforward_hosts: bad prefix"},
      {a + "accept_xforward = false\nxforward_hosts = [\"127.0.0.1\"]\n",
       "t.toml:4:listener[0].xforward_hosts: not with accept_xforward = false"},
      {a + "mode = \"milter\"\nxforward_hosts = [\"127.0.0.1\"]\n",
       "t.toml:4:listener[0].xforward_hosts: only for mode = \"after-queue\" or \"proxy\""},
  };
  for (auto& c : cases) {
    std::string got = load_error(c.text);
    EXPECT_NE(got.find(c.want), std::string::npos) << "config:\n" << c.text << "\ngot: " << got
                                                   << "\nwant substring: " << c.want;
  }
}

TEST(ConfigSmtp, SessionsPerClientAndDataTimeout) {
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->smtp.max_sessions_per_client, 250u) << "a quarter of max_sessions (1000)";
  EXPECT_EQ(d->smtp.data_timeout, Seconds{600});
  auto q = load_string("[smtp]\nmax_sessions = 40\n" + std::string(kMinimal), "t.toml");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->smtp.max_sessions_per_client, 10u) << "follows max_sessions when unset";
  auto one = load_string("[smtp]\nmax_sessions = 3\n" + std::string(kMinimal), "t.toml");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->smtp.max_sessions_per_client, 1u) << "never below 1";
  auto s = load_string("[smtp]\nmax_sessions_per_client = 0\ndata_timeout = 2\n" +
                           std::string(kMinimal),
                       "t.toml");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->smtp.max_sessions_per_client, 0u) << "0: no per-client limit";
  EXPECT_EQ(s->smtp.data_timeout, Seconds{2});
  EXPECT_NE(load_error("[smtp]\ndata_timeout = 0\n" + std::string(kMinimal))
                .find("t.toml:2:smtp.data_timeout: out of range (1..86400)"),
            std::string::npos);
  EXPECT_NE(load_error("[smtp]\nmax_sessions_per_client = -1\n" + std::string(kMinimal))
                .find("t.toml:2:smtp.max_sessions_per_client: out of range"),
            std::string::npos);
}

// [metrics]: absent = off; a numeric TCP host:port; anything else refused.
TEST(ConfigMetrics, OffByDefaultAddressAndErrors) {
  auto d = load_string(embedded_default(), "<embedded>");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_FALSE(d->metrics.address.has_value()) << "the embedded default serves no metrics";
  auto empty = load_string(std::string(kMinimal) + "[metrics]\n", "t.toml");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_FALSE(empty->metrics.address.has_value());
  auto v4 = load_string(std::string(kMinimal) + "[metrics]\naddress = \"127.0.0.1:9101\"\n", "t.toml");
  ASSERT_TRUE(v4.ok()) << v4.error().message;
  ASSERT_TRUE(v4->metrics.address.has_value());
  EXPECT_EQ(v4->metrics.address->host, "127.0.0.1");
  EXPECT_EQ(v4->metrics.address->port, 9101);
  auto v6 = load_string(std::string(kMinimal) + "[metrics]\naddress = \"[::1]:9101\"\n", "t.toml");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->metrics.address->host, "::1");
  EXPECT_NE(load_error(std::string(kMinimal) + "[metrics]\naddress = \"unix:/run/sigil/m.sock\"\n")
                .find("t.toml:4:metrics.address: must be a TCP host:port"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kMinimal) + "[metrics]\naddress = \"localhost\"\n")
                .find("t.toml:4:metrics.address:"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kMinimal) + "[metrics]\nport = 9101\n")
                .find("t.toml:4:metrics.port: unknown key"),
            std::string::npos);
}

// ---------------------------------------------------------- key rotation

namespace {

// [[key]] NAME of DOMAIN, with `extra` lines (e.g. a successor).
std::string key_block(const std::string& name, const std::string& domain,
                      const std::string& extra = "") {
  return "[[key]]\nname = \"" + name + "\"\nfile = \"/k/" + name + ".pem\"\ndomain = \"" +
         domain + "\"\nselector = \"" + name + "\"\n" + extra;
}

}  // namespace

TEST(ConfigKeyRotation, SuccessorChainsLoad) {
  auto r = load_string(std::string(kMinimal) +
                           key_block("a", "example.com", "successor = \"b\"\n") +
                           key_block("b", "example.com", "successor = \"c\"\n") +
                           key_block("c", "example.com") + "[dkim_sign]\nkey_check_interval = 1\n",
                       "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->keys[0].successor, "b");
  EXPECT_EQ(r->keys[1].successor, "c");
  EXPECT_EQ(r->keys[2].successor, "");
  EXPECT_EQ(r->dkim_sign.key_check_interval, Seconds(1));
  auto d = load_string(kMinimal, "t.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dkim_sign.key_check_interval, Seconds(3600)) << "the default: an hour";
}

TEST(ConfigKeyRotation, RefusesBadSuccessors) {
  std::string m = kMinimal;  // two lines: the first [[key]] starts on line 3
  struct Case {
    std::string text, want;
  } cases[] = {
      {m + key_block("a", "example.com", "successor = \"nope\"\n"),
       "t.toml:8:key[0].successor: no [[key]] named 'nope'"},
      {m + key_block("a", "example.com", "successor = \"a\"\n"),
       "t.toml:8:key[0].successor: a key cannot be its own successor"},
      {m + key_block("a", "example.com", "successor = \"b\"\n") + key_block("b", "example.org"),
       "t.toml:8:key[0].successor: 'b' signs for example.org, not example.com"},
      {m + key_block("a", "example.com", "successor = \"c\"\n") +
           key_block("b", "example.com", "successor = \"c\"\n") + key_block("c", "example.com"),
       "t.toml:14:key[1].successor: 'c' is already the successor of key[0]"},
      {m + key_block("a", "example.com", "successor = \"b\"\n") +
           key_block("b", "example.com", "successor = \"a\"\n"),
       "t.toml:8:key[0].successor: the successors of 'a' come back to it (a cycle)"},
      {m + key_block("a", "example.com", "successor = \"\"\n"),
       "t.toml:8:key[0].successor: must not be empty"},
      {m + "[dkim_sign]\nkey_check_interval = 0\n",
       "t.toml:4:dkim_sign.key_check_interval: out of range"},
      {m + "[dkim_sign]\ninterval = 5\n", "t.toml:4:dkim_sign.interval: unknown key"},
  };
  for (const auto& c : cases) {
    std::string err = load_error(c.text);
    EXPECT_NE(err.find(c.want), std::string::npos) << "want: " << c.want << "\ngot: " << err;
  }
}
