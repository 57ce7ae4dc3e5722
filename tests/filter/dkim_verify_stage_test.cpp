// tests/filter/dkim_verify_stage_test.cpp — the dkim-verify stage with its
// real parts: dkim::Verification (libopendkim), dns::Resolver talking to a
// DNS server on 127.0.0.1, and messages signed by Sigil's signer with keys
// made for the test.  The DNS server is the fake of tests/dns/fake_dns.hpp,
// because the faults checked here (no answer, SERVFAIL, truncation, a
// spoofed ID, garbage) are what a real server will not do on demand; the
// happy path against a real dnsmasq is in e2e.dkim_verify.
//
// Also: whitelist_banks() against the Amavis rule semantics (DESIGN.md §3).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "conf/config.hpp"
#include "dkim/signer.hpp"
#include "dkim/verifier.hpp"
#include "dns/fake_dns.hpp"
#include "dns/resolver.hpp"
#include "filter/stages/dkim_sign_stage.hpp"
#include "filter/stages/dkim_verify_stage.hpp"
#include "keys/signing_table.hpp"
#include "filter/core/message_store.hpp"
#include "keys/private_key.hpp"

using namespace sigil;
using namespace sigil::filter;
using sigil::test::FakeDns;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;

keys::KeyPtr make_key(keys::KeyType t, unsigned bits) {
  auto pem = keys::generate_private_key(t, bits);
  if (!pem) throw std::runtime_error(pem.error().message);
  auto k = keys::parse_private_key(*pem, "test");
  if (!k) throw std::runtime_error(k.error().message);
  return *k;
}

const keys::KeyPtr& rsa2048() {
  static keys::KeyPtr k = make_key(keys::KeyType::Rsa, 2048);
  return k;
}
const keys::KeyPtr& ed25519() {
  static keys::KeyPtr k = make_key(keys::KeyType::Ed25519, 0);
  return k;
}

const char* kBody =
    "Hello,\r\n"
    "this message is signed by Sigil's signer and verified by its verifier.\r\n";

// Header fields of the unsigned message, each with CRLF.
std::vector<std::string> base_fields(const std::string& from = "Alice <alice@example.com>") {
  return {"From: " + from + "\r\n", "To: bob@example.net\r\n", "Subject: verify me\r\n",
          "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n", "Message-ID: <v1@example.com>\r\n"};
}

// Signs fields + body with `key` for d=/s= and returns the whole message.
std::string signed_message(const keys::KeyPtr& key, const std::string& d, const std::string& s,
                           std::vector<std::string> fields = base_fields(),
                           const std::string& body = kBody) {
  dkim::SignatureSpec spec;
  spec.key = key;
  spec.domain = d;
  spec.selector = s;
  spec.headers = conf::default_signed_headers();
  spec.oversign = conf::default_oversigned_headers();
  spec.timestamp = std::time(nullptr);
  dkim::BodyHasher bh(spec.body_canon);
  bh.update(body);
  dkim::FieldList fl(fields.begin(), fields.end());
  auto sig = dkim::sign(spec, fl, bh.finish());
  if (!sig) throw std::runtime_error(sig.error().message);
  std::string msg = *sig;
  for (auto& f : fields) msg += f;
  return msg + "\r\n" + body;
}

// The TXT record as character-strings of at most 255 bytes.
std::vector<std::string> chunks(const std::string& v) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); i += 255) out.push_back(v.substr(i, 255));
  return out;
}

struct StageRun {
  Verdict verdict;
  HeaderEdits edits;
  std::vector<std::string> load_banks;
  std::vector<std::pair<std::string, std::string>> notes;
  std::string ar() const { return edits.prepend.empty() ? "" : edits.prepend.front(); }
  std::string note(const std::string& k) const {
    for (auto& [kk, v] : notes)
      if (kk == k) return v;
    return "";
  }
};

StageRun run_stage(const std::string& message, const FakeDns& dns,
                   std::vector<conf::WhitelistRule> whitelist = {},
                   std::size_t memory_threshold = 1 << 20, std::size_t crypto_threads = 0) {
  asio::io_context io;
  conf::DnsConfig dc;
  dc.servers.push_back(conf::parse_dns_server(dns.address()).value());
  dc.timeout = 300ms;
  dc.attempts = 2;
  auto resolver = std::make_shared<dns::Resolver>(io.get_executor(), dc);
  auto lib = dkim::VerifierLib::create({});
  if (!lib) throw std::runtime_error(lib.error().message);
  conf::VerifyConfig vc;
  vc.authserv_id = "mx.test";
  DkimVerifyStage stage(*lib, resolver, vc, std::move(whitelist), crypto_threads);

  ClientInfo client;
  client.addr = "192.0.2.1";
  Envelope env;
  env.sender = "alice@example.com";
  MessageStore store(memory_threshold, ::testing::TempDir(), 1 << 16);
  if (!store.append(message) || !store.finish()) throw std::runtime_error("store");
  MessageContext ctx{"t1", client, env, store};
  StageRun out;
  asio::co_spawn(io, stage.run(ctx), [&](std::exception_ptr e, Verdict v) {
    if (e) std::rethrow_exception(e);
    out.verdict = std::move(v);
  });
  io.run();
  out.edits = std::move(ctx.edits);
  out.load_banks = std::move(ctx.load_banks);
  out.notes = std::move(ctx.notes);
  return out;
}

// The dkim= word of the first result in an Authentication-Results field.
std::string first_result(const std::string& ar) {
  auto p = ar.find("dkim=");
  if (p == std::string::npos) return "(no dkim=)";
  auto e = ar.find_first_of(" ;\r\n", p);
  return ar.substr(p + 5, e - p - 5);
}

conf::WhitelistRule rule(std::vector<std::string> patterns, std::vector<std::string> banks,
                         std::size_t index = 0) {
  conf::WhitelistRule r;
  for (auto& p : patterns) r.match.push_back(conf::parse_whitelist_pattern(p).value());
  r.banks = std::move(banks);
  r.index = index;
  return r;
}

}  // namespace

TEST(DkimVerifyStage, DnsOutcomesBecomeResults) {
  using K = FakeDns::Kind;
  const std::string rsa_rec = rsa2048()->dns_record();
  const std::string ed_rec = ed25519()->dns_record();
  static keys::KeyPtr rsa4096 = make_key(keys::KeyType::Rsa, 4096);
  struct Case {
    std::string what;
    keys::KeyPtr key;
    FakeDns::Rule rule;
    std::string want;  // dkim= word
  };
  const Case cases[] = {
      {"RSA key answered", rsa2048(), {K::Txt, {chunks(rsa_rec)}}, "pass"},
      {"Ed25519 key answered", ed25519(), {K::Txt, {chunks(ed_rec)}}, "pass"},
      {"NXDOMAIN", rsa2048(), {K::NxDomain}, "permerror"},
      {"no TXT at the name (NODATA)", rsa2048(), {K::NoData}, "permerror"},
      {"revoked key (empty p=)", rsa2048(), {K::Txt, {{"v=DKIM1; k=rsa; p="}}}, "permerror"},
      {"malformed record", rsa2048(), {K::Txt, {{"v=DKIM1; k=rsa; p=!!!notbase64"}}}, "permerror"},
      {"SERVFAIL", rsa2048(), {K::ServFail}, "temperror"},
      {"REFUSED", rsa2048(), {K::Refused}, "temperror"},
      {"no answer at all (timeout)", rsa2048(), {K::Silent}, "temperror"},
      {"garbage reply", rsa2048(), {K::Garbage}, "temperror"},
      {"truncated over UDP, whole over TCP", rsa2048(), {K::Truncate, {chunks(rsa_rec)}}, "pass"},
      {"truncated, TCP refused", rsa2048(), {K::TruncateTcpFail, {chunks(rsa_rec)}}, "temperror"},
      {"spoofed ID first", rsa2048(), {K::SpoofId, {chunks(rsa_rec)}}, "pass"},
      {"spoofed question first", rsa2048(), {K::SpoofQuestion, {chunks(rsa_rec)}}, "pass"},
      {"spoofed source port first", rsa2048(), {K::SpoofSource, {chunks(rsa_rec)}}, "pass"},
      {"huge TXT (4096-bit key) over TCP", rsa4096, {K::Truncate, {chunks(rsa4096->dns_record())}}, "pass"},
  };
  for (const auto& c : cases) {
    FakeDns dns;
    dns.set("s1._domainkey.example.com", c.rule);
    auto msg = signed_message(c.key, "example.com", "s1");
    auto r = run_stage(msg, dns);
    EXPECT_EQ(r.verdict.action, Action::Continue) << c.what;
    EXPECT_EQ(first_result(r.ar()), c.want) << c.what << ": got A-R " << r.ar();
    EXPECT_NE(r.ar().find("header.d=example.com"), std::string::npos) << c.what << ": " << r.ar();
    EXPECT_NE(r.note("dkim_verify").find(c.want), std::string::npos)
        << c.what << ": summary note " << r.note("dkim_verify");
  }
}

TEST(DkimVerifyStage, ChangedBodyFailsAndUnsignedIsNone) {
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  auto msg = signed_message(rsa2048(), "example.com", "s1");
  auto tampered = msg;
  tampered[tampered.size() - 5] ^= 1;
  EXPECT_EQ(first_result(run_stage(tampered, dns).ar()), "fail");

  std::string unsigned_msg;
  for (auto& f : base_fields()) unsigned_msg += f;
  unsigned_msg += "\r\n" + std::string(kBody);
  auto r = run_stage(unsigned_msg, dns);
  EXPECT_EQ(first_result(r.ar()), "none") << r.ar();
  EXPECT_EQ(r.ar().rfind("Authentication-Results: mx.test;", 0), 0u) << r.ar();
}

TEST(DkimVerifyStage, SpooledMessageVerifies) {
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  std::string body;
  for (int i = 0; i < 40000; ++i) body += "line " + std::to_string(i) + " of a large message body\r\n";
  auto msg = signed_message(rsa2048(), "example.com", "s1", base_fields(), body);
  ASSERT_GT(msg.size(), 1u << 20);
  auto r = run_stage(msg, dns, {}, 64 * 1024);  // spooled beyond 64 KiB
  EXPECT_EQ(first_result(r.ar()), "pass") << r.ar();
}

// A body over 256 KiB is hashed on the crypto pool, a slice at a time: it
// verifies the same (pass, and fail once one byte changed near the end).
TEST(DkimVerifyStage, LargeBodyHashedOnTheCryptoPoolVerifies) {
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  std::string body;
  for (int i = 0; i < 60000; ++i) body += "line " + std::to_string(i) + " of a large message body\r\n";
  auto msg = signed_message(rsa2048(), "example.com", "s1", base_fields(), body);
  ASSERT_GT(msg.size(), 1u << 20);
  for (std::size_t threshold : {std::size_t(1) << 30, std::size_t(64) << 10}) {  // in memory, spooled
    auto r = run_stage(msg, dns, {}, threshold, 2);
    EXPECT_EQ(first_result(r.ar()), "pass") << r.ar();
    auto tampered = msg;
    tampered[tampered.size() - 10] ^= 1;
    EXPECT_EQ(first_result(run_stage(tampered, dns, {}, threshold, 2).ar()), "fail");
  }
}

TEST(DkimVerifyStage, DualSignaturesAreBothReportedAndLookedUpTogether) {
  FakeDns dns;
  dns.set("r1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  dns.set("e1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(ed25519()->dns_record())}});
  auto once = signed_message(rsa2048(), "example.com", "r1");
  // Second signature over the first one's output.
  std::vector<std::string> fields;
  std::size_t pos = 0;
  while (true) {
    auto eol = once.find("\r\n", pos);
    if (eol == pos) break;
    if (once[pos] == ' ' || once[pos] == '\t') fields.back() += once.substr(pos, eol + 2 - pos);
    else fields.push_back(once.substr(pos, eol + 2 - pos));
    pos = eol + 2;
  }
  auto twice = signed_message(ed25519(), "example.com", "e1", fields);
  auto r = run_stage(twice, dns);
  auto ar = r.ar();
  EXPECT_NE(ar.find("header.a=ed25519-sha256"), std::string::npos) << ar;
  EXPECT_NE(ar.find("header.a=rsa-sha256"), std::string::npos) << ar;
  std::size_t passes = 0;
  for (auto p = ar.find("dkim=pass"); p != std::string::npos; p = ar.find("dkim=pass", p + 1)) ++passes;
  EXPECT_EQ(passes, 2u) << ar;
  EXPECT_NE(ar.find("header.b="), std::string::npos) << "several signatures need header.b: " << ar;
}

TEST(DkimVerifyStage, ForgedResultsForOurIdAreRemoved) {
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  auto fields = base_fields();
  fields.insert(fields.begin(), "Authentication-Results: MX.TEST (forged); dkim=pass header.d=bank.example\r\n");
  fields.insert(fields.begin() + 1, "Authentication-Results: other.example; dkim=fail\r\n");
  auto msg = signed_message(rsa2048(), "example.com", "s1", fields);
  auto r = run_stage(msg, dns);
  // Field 0 is the DKIM-Signature; 1 the forged one; 2 someone else's.
  EXPECT_EQ(r.edits.remove, (std::vector<std::size_t>{1})) << "only the field claiming mx.test";
  EXPECT_NE(r.note("dkim_verify").find("removed 1 Authentication-Results"), std::string::npos)
      << r.note("dkim_verify");
  EXPECT_EQ(first_result(r.ar()), "pass") << "A-R fields are not signed here: " << r.ar();
}

TEST(DkimVerifyStage, WhitelistLoadsBanksOnlyForValidSignatures) {
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  std::vector<conf::WhitelistRule> wl = {rule({"example.com"}, {"trusted", "tagged"})};
  auto msg = signed_message(rsa2048(), "example.com", "s1");
  auto r = run_stage(msg, dns, wl);
  EXPECT_EQ(r.load_banks, (std::vector<std::string>{"trusted", "tagged"}));
  EXPECT_NE(r.note("whitelist").find("rule 0 'example.com' d=example.com s=s1 -> trusted,tagged"),
            std::string::npos)
      << r.note("whitelist");

  auto broken = msg;
  broken[broken.size() - 5] ^= 1;
  auto b = run_stage(broken, dns, wl);
  EXPECT_TRUE(b.load_banks.empty()) << "a broken signature must not whitelist";
  EXPECT_EQ(b.note("whitelist"), "");

  // Two From fields: no author, no whitelisting.
  auto fields = base_fields();
  fields.push_back("From: mallory@evil.example\r\n");
  auto two = signed_message(rsa2048(), "example.com", "s1", fields);
  EXPECT_TRUE(run_stage(two, dns, wl).load_banks.empty()) << "two From fields must not whitelist";
}

TEST(Whitelist, AmavisSemantics) {
  auto pass = [](std::string d, std::string a = "rsa-sha256", unsigned bits = 2048,
                 dkim::AuthResult res = dkim::AuthResult::Pass) {
    dkim::SignatureResult r;
    r.result = res;
    r.domain = std::move(d);
    r.selector = "s";
    r.algorithm = std::move(a);
    r.key_bits = bits;
    return r;
  };
  using R = std::vector<dkim::SignatureResult>;
  struct Case {
    std::string pattern, author;
    R results;
    bool want;
  };
  const Case cases[] = {
      // "domain": the author's domain signed by itself (or a parent).
      {"example.com", "a@example.com", {pass("example.com")}, true},
      {"example.com", "a@EXAMPLE.com", {pass("Example.COM")}, true},
      {"example.com", "a@example.com", {pass("esp.example")}, false},
      {"example.com", "a@sub.example.com", {pass("sub.example.com")}, false},
      {"mail.example.com", "a@mail.example.com", {pass("example.com")}, true},  // parent signs
      {"example.com", "a@example.com", {pass("com")}, false},
      // ".domain": subdomains too.
      {".example.com", "a@sub.example.com", {pass("sub.example.com")}, true},
      {".example.com", "a@example.com", {pass("example.com")}, true},
      {".example.com", "a@badexample.com", {pass("badexample.com")}, false},
      // an address
      {"boss@example.com", "Boss@Example.com", {pass("example.com")}, true},
      {"boss@example.com", "other@example.com", {pass("example.com")}, false},
      // "." any author signed by its own domain
      {".", "x@any.example", {pass("any.example")}, true},
      {".", "x@any.example", {pass("other.example")}, false},
      // third-party signer
      {"example.com/@esp.example", "a@example.com", {pass("esp.example")}, true},
      {"example.com/@esp.example", "a@example.org", {pass("esp.example")}, false},
      {"example.com/@esp.example", "a@example.com", {pass("example.com")}, false},
      {"./@esp.example", "a@whoever.example", {pass("esp.example")}, true},
      {"./@esp.example", "a@whoever.example", {pass("mail.esp.example")}, false},
      {"./@.esp.example", "a@whoever.example", {pass("mail.esp.example")}, true},
      // results that do not count
      {"example.com", "a@example.com", {pass("example.com", "rsa-sha256", 2048, dkim::AuthResult::Fail)}, false},
      {"example.com", "a@example.com", {pass("example.com", "rsa-sha256", 2048, dkim::AuthResult::Policy)}, false},
      {"example.com", "a@example.com", {pass("example.com", "rsa-sha256", 768)}, false},  // small key
      {"example.com", "a@example.com", {pass("example.com", "ed25519-sha256", 256)}, true},
      // one good among several
      {"example.com", "a@example.com",
       {pass("example.com", "rsa-sha256", 2048, dkim::AuthResult::Fail), pass("example.com")}, true},
      {"example.com", "", {pass("example.com")}, false},
  };
  for (const auto& c : cases) {
    std::vector<conf::WhitelistRule> rules = {rule({c.pattern}, {"b"})};
    auto got = whitelist_banks(rules, c.author, c.results, 1024);
    EXPECT_EQ(!got.empty(), c.want) << "pattern '" << c.pattern << "' author '" << c.author
                                    << "' d=" << c.results.front().domain;
  }
}

TEST(Whitelist, EveryMatchingRuleAddsItsBanksInOrderOnce) {
  dkim::SignatureResult r;
  r.result = dkim::AuthResult::Pass;
  r.domain = "example.com";
  r.selector = "s";
  r.algorithm = "rsa-sha256";
  r.key_bits = 2048;
  std::vector<conf::WhitelistRule> rules = {rule({"other.example"}, {"x"}, 0),
                                            rule({".example.com"}, {"b", "a"}, 1),
                                            rule({"example.com"}, {"a", "c"}, 2)};
  std::vector<WhitelistMatch> why;
  auto got = whitelist_banks(rules, "u@example.com", {r}, 1024, &why);
  EXPECT_EQ(got, (std::vector<std::string>{"b", "a", "c"}));
  ASSERT_EQ(why.size(), 2u);
  EXPECT_EQ(why[0].rule, 1u);
  EXPECT_EQ(why[1].pattern, "example.com");
}

// sign_if_signed = false with dkim-verify in front: only a signature that
// verified stops a second one for the same d=; without verification, any
// DKIM-Signature with that d= does.
TEST(DkimSignStage, SignIfSignedCountsOnlyValidSignaturesAfterVerify) {
  const std::string dir = ::testing::TempDir() + "sigil-sis-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto pem = keys::generate_private_key(keys::KeyType::Ed25519);
  ASSERT_TRUE(pem);
  const std::string keyfile = dir + "/ed.pem";
  {
    std::ofstream(keyfile) << *pem;
  }
  std::filesystem::permissions(keyfile, std::filesystem::perms::owner_read |
                                            std::filesystem::perms::owner_write);
  auto cfg = conf::load_string(
      "[[listener]]\naddress = \"127.0.0.1:10024\"\n"
      "[[key]]\nname = \"ed\"\nfile = \"" + keyfile + "\"\ndomain = \"example.com\"\nselector = \"e1\"\n"
      "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"ed\"]\nsign_if_signed = false\n",
      "t.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto table = keys::SigningTable::load(*cfg);
  ASSERT_TRUE(table) << table.error().message;
  DkimSignStage signer(*table, 0);

  // A message already carrying an RSA signature of example.com.
  FakeDns dns;
  dns.set("s1._domainkey.example.com", {FakeDns::Kind::Txt, {chunks(rsa2048()->dns_record())}});
  auto good = signed_message(rsa2048(), "example.com", "s1");
  auto broken = good;
  broken[broken.size() - 5] ^= 1;

  struct Case {
    std::string what, msg;
    bool verify;
    std::string want_note;  // substring of the dkim= note
  } cases[] = {
      {"valid signature, verified", good, true, "already validly signed by d=example.com"},
      {"broken signature, verified", broken, true, "signed (author rule example.com); d=example.com s=e1"},
      {"broken signature, not verified", broken, false, "already signed by d=example.com"},
  };
  for (const auto& c : cases) {
    ClientInfo client;
    Envelope env;
    env.sender = "alice@example.com";
    MessageStore store(1 << 20, ::testing::TempDir(), 1 << 16);
    ASSERT_TRUE(store.append(c.msg) && store.finish());
    MessageContext ctx{"t2", client, env, store};
    ctx.originating = true;
    if (c.verify) {
      // What dkim-verify leaves for the signer.
      auto r = run_stage(c.msg, dns);
      ctx.dkim_valid_domains.emplace();
      if (first_result(r.ar()) == "pass") ctx.dkim_valid_domains->push_back("example.com");
    }
    auto v = signer.sign(ctx);
    EXPECT_EQ(v.action, Action::Continue) << c.what;
    std::string note;
    for (auto& [k, val] : ctx.notes)
      if (k == "dkim") note = val;
    EXPECT_NE(note.find(c.want_note), std::string::npos) << c.what << ": got dkim=\"" << note << "\"";
  }
  std::filesystem::remove_all(dir);
}
