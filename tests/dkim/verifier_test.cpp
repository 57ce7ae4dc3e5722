// tests/dkim/verifier_test.cpp — the DKIM verifier (dkim/verifier.hpp).
//
//  - RFC vectors: RFC 8463 A.3 (both signatures pass), RFC 6376 A.2 as
//    printed (body hash mismatch) and as re-typed by lieser (pass).
//  - Signatures made by Sigil's signer (RSA and Ed25519, every
//    canonicalization pair) pass, and fail once a body byte or a signed
//    header changes, or an oversigned header is added.
//  - Signatures made by libopendkim's own signer for what ours never makes:
//    rsa-sha1, 512/768-bit keys and l=, to test the RFC 8301 / l= policy.
//  - x= and t= against the clock; every kind of key answer (not found,
//    temporary, permanent, revoked, malformed, several TXT records, PKCS#1,
//    not provided); invalid d=/s= never looked up; malformed signatures;
//    max_signatures; duplicate keys requested once; the stepwise API with the
//    body in 1-byte chunks.
//  - authentication_results(): parsed back, fold width, escaping;
//    claims_authserv_id() table.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

// dkim.h is C99 and spells bool as _Bool.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include "dkim/signer.hpp"
#include "dkim/verifier.hpp"
#include "test_util.hpp"

using namespace sigil;
using conf::Canon;
using dkim::AuthResult;
using dkim::KeyAnswer;
using dkim::KeyRequest;
using dkim::SignatureResult;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string corpus_path(const std::string& rel) {
  return std::string(SIGIL_SOURCE_DIR) + "/tests/dkim/corpus/" + rel;
}

using test::load_dns;
using test::serve;

std::shared_ptr<const dkim::VerifierLib> make_lib(dkim::VerifyOptions o = {}) {
  auto lib = dkim::VerifierLib::create(o);
  EXPECT_TRUE(lib) << lib.error().message;
  return lib ? *lib : nullptr;
}

// Records served by name; anything else NXDOMAIN.  Counts the lookups.
struct Dns {
  std::map<std::string, KeyAnswer> answers;
  std::map<std::string, int> asked;
  void add(const std::string& name, const std::string& record) {
    auto& a = answers[name];
    a.kind = KeyAnswer::Kind::Ok;
    a.records.push_back(record);
  }
  KeyAnswer operator()(const KeyRequest& k) {
    ++asked[k.qname()];
    auto it = answers.find(k.qname());
    if (it != answers.end()) return it->second;
    KeyAnswer a;
    a.kind = KeyAnswer::Kind::NotFound;
    a.reason = "NXDOMAIN";
    return a;
  }
};

std::vector<SignatureResult> verify(const std::string& msg, Dns& dns, dkim::VerifyOptions o = {}) {
  auto lib = make_lib(o);
  return dkim::verify_message(lib, msg, [&](const KeyRequest& k) { return dns(k); });
}

std::string results_str(const std::vector<SignatureResult>& rs) {
  std::string s;
  for (const auto& r : rs) {
    if (!s.empty()) s += ", ";
    s += std::string(dkim::to_string(r.result));
    if (!r.reason.empty()) s += " (" + r.reason + ")";
  }
  return "[" + s + "]";
}

std::vector<AuthResult> verdicts(const std::vector<SignatureResult>& rs) {
  std::vector<AuthResult> v;
  for (const auto& r : rs) v.push_back(r.result);
  return v;
}

// --------------------------------------------------------------- messages

using test::split;

const char* kMessage =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>,\r\n"
    "\tsomeone.else@example.org\r\n"
    "Subject:   Is dinner   ready?  \r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "X-Not-Signed: whatever\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?  \r\n"
    ".leading dot\r\n"
    "\r\n"
    "\r\n";

std::string bh(Canon c, std::string_view body) {
  dkim::BodyHasher h(c);
  h.update(body);
  return h.finish();
}

keys::KeyPtr rsa_key(unsigned bits = 2048) {
  static std::map<unsigned, keys::KeyPtr> cache;
  auto& k = cache[bits];
  if (!k) k = *keys::parse_private_key(*keys::generate_private_key(keys::KeyType::Rsa, bits), "t");
  return k;
}
keys::KeyPtr ed_key() {
  static keys::KeyPtr k;
  if (!k) k = *keys::parse_private_key(*keys::generate_private_key(keys::KeyType::Ed25519), "t");
  return k;
}

dkim::SignatureSpec spec_for(keys::KeyPtr key, Canon hc = Canon::Relaxed, Canon bc = Canon::Relaxed) {
  dkim::SignatureSpec s;
  s.key = std::move(key);
  s.domain = "football.example.com";
  s.selector = "sel";
  s.header_canon = hc;
  s.body_canon = bc;
  s.headers = conf::default_signed_headers();
  s.oversign = conf::default_oversigned_headers();
  s.timestamp = std::time(nullptr);
  return s;
}

// The message with a signature made by Sigil's signer on top.
std::string signed_by_us(const dkim::SignatureSpec& spec, const std::string& msg = kMessage) {
  auto m = split(msg);
  auto sig = dkim::sign(spec, m.list(), bh(spec.body_canon, m.body));
  EXPECT_TRUE(sig) << sig.error().message;
  return (sig ? *sig : std::string()) + msg;
}

// RSA keys of any size (keys:: refuses < 1024): PEM and the p= value.
struct RawRsa {
  std::string pem;
  std::string p;
};
RawRsa raw_rsa(unsigned bits) {
  static std::map<unsigned, RawRsa> cache;
  auto it = cache.find(bits);
  if (it != cache.end()) return it->second;
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  EXPECT_NE(k, nullptr);
  RawRsa r;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  r.pem.assign(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k, &der);
  std::string b(4 * ((static_cast<std::size_t>(n) + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b.data()), der, n);
  r.p = b;
  OPENSSL_free(der);
  EVP_PKEY_free(k);
  cache[bits] = r;
  return r;
}

// A signature made by libopendkim's signer (rsa-sha1, small keys, l=).
std::string opendkim_sign(const std::string& pem, dkim_alg_t alg, const std::string& msg,
                          bool with_l = false, const char* domain = "football.example.com",
                          const char* selector = "small") {
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  unsigned minbits = 256;
  dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits, sizeof minbits);
  if (with_l) {
    unsigned flags = DKIM_LIBFLAGS_SIGNLEN;
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
  }
  DKIM_STAT st;
  DKIM* d = dkim_sign(lib, reinterpret_cast<const u_char*>("t"), nullptr,
                      reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(pem.c_str())),
                      reinterpret_cast<const u_char*>(selector),
                      reinterpret_cast<const u_char*>(domain), DKIM_CANON_RELAXED,
                      DKIM_CANON_SIMPLE, alg, -1, &st);
  EXPECT_NE(d, nullptr) << "dkim_sign: " << st;
  std::string out;
  if (d) {
    dkim_chunk(d, reinterpret_cast<u_char*>(const_cast<char*>(msg.data())), msg.size());
    dkim_chunk(d, nullptr, 0);
    EXPECT_EQ(dkim_eom(d, nullptr), DKIM_STAT_OK) << dkim_geterror(d);
    u_char* hdr = nullptr;
    size_t len = 0;
    const std::string name = "DKIM-Signature: ";
    EXPECT_EQ(dkim_getsighdr_d(d, name.size(), &hdr, &len), DKIM_STAT_OK);
    if (hdr) out = name + std::string(reinterpret_cast<char*>(hdr), len) + "\r\n";
    dkim_free(d);
  }
  dkim_close(lib);
  return out + msg;
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << "no '" << from << "' to replace";
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// The smallest Sigil-signed message (RSA 2048), for the key-answer tests.
const std::string& simple_signed() {
  static std::string m = signed_by_us(spec_for(rsa_key()));
  return m;
}

}  // namespace

// ------------------------------------------------------------------ RFCs

TEST(VerifyRfc, Rfc8463BothSignaturesPass) {
  auto msg = slurp(corpus_path("rfc/rfc8463-A.3.eml"));
  ASSERT_FALSE(msg.empty());
  auto table = load_dns(corpus_path("rfc/dns.tsv"));
  auto lib = make_lib();
  auto rs = dkim::verify_message(lib, msg, [&](const KeyRequest& k) { return serve(table, k); });
  ASSERT_EQ(rs.size(), 2u) << results_str(rs);
  struct Want {
    const char* selector;
    const char* alg;
    unsigned bits;
  };
  const Want want[] = {{"brisbane", "ed25519-sha256", 256}, {"test", "rsa-sha256", 1024}};
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rs[i].result, AuthResult::Pass)
        << "sig " << i << ": got " << results_str(rs) << ", want pass";
    EXPECT_EQ(rs[i].domain, "football.example.com");
    EXPECT_EQ(rs[i].selector, want[i].selector);
    EXPECT_EQ(rs[i].algorithm, want[i].alg);
    EXPECT_EQ(rs[i].key_bits, want[i].bits) << "sig " << i;
    EXPECT_EQ(rs[i].identity, "@football.example.com");
    EXPECT_GE(rs[i].b_prefix.size(), 8u);
  }
  EXPECT_NE(rs[0].b_prefix, rs[1].b_prefix);
  EXPECT_EQ(rs[0].b_prefix, "/gCrinpc");
}

TEST(VerifyRfc, Rfc6376AppendixA2) {
  auto table = load_dns(corpus_path("rfc/dns.tsv"));
  auto lib = make_lib();
  struct Case {
    const char* file;
    AuthResult want;
    const char* reason;
  };
  // As printed, both the body (two spaces in "game.  Are") and the header
  // continuation indent differ from what was signed; libopendkim checks the
  // header signature first and tests bh= only when it verifies, so the
  // reason is the signature, not the body hash (dkimpy says "body hash").
  for (const Case& c : {Case{"rfc/rfc6376-A.2-as-printed.eml", AuthResult::Fail, "signature did not verify"},
                        Case{"rfc/rfc6376-A.2-verifiable.eml", AuthResult::Pass, ""}}) {
    auto msg = slurp(corpus_path(c.file));
    ASSERT_FALSE(msg.empty()) << c.file;
    auto rs = dkim::verify_message(lib, msg, [&](const KeyRequest& k) { return serve(table, k); });
    ASSERT_EQ(rs.size(), 1u) << c.file;
    EXPECT_EQ(rs[0].result, c.want) << c.file << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, c.reason) << c.file;
    EXPECT_EQ(rs[0].key_bits, 1024u) << c.file;
  }
}

// -------------------------------------------------------- Sigil's signer

TEST(VerifyOwnSigner, PassesAndFailsForEveryCanonicalization) {
  for (auto key : {rsa_key(), ed_key()}) {
    for (Canon hc : {Canon::Simple, Canon::Relaxed}) {
      for (Canon bc : {Canon::Simple, Canon::Relaxed}) {
        std::string what = std::string(dkim::algorithm(key->type())) + " c=" +
                           (hc == Canon::Simple ? "simple/" : "relaxed/") +
                           (bc == Canon::Simple ? "simple" : "relaxed");
        auto spec = spec_for(key, hc, bc);
        spec.identity = "joe@football.example.com";
        Dns dns;
        dns.add("sel._domainkey.football.example.com", key->dns_record());
        std::string good = signed_by_us(spec);
        auto rs = verify(good, dns);
        ASSERT_EQ(rs.size(), 1u) << what;
        EXPECT_EQ(rs[0].result, AuthResult::Pass) << what << ": got " << results_str(rs);
        EXPECT_EQ(rs[0].key_bits, key->bits()) << what;
        EXPECT_EQ(rs[0].identity, "joe@football.example.com") << what;
        EXPECT_EQ(rs[0].algorithm, dkim::algorithm(key->type())) << what;

        struct Bad {
          const char* name;
          std::string msg;
          const char* reason;
        };
        const Bad bad[] = {
            {"body byte changed", replace_first(good, "hungry", "Hungry"), "body hash mismatch"},
            {"line added to the body", good + "P.S.\r\n", "body hash mismatch"},
            {"signed header changed", replace_first(good, "Subject:   Is dinner",
                                                    "Subject:   Is lunch"),
             "signature did not verify"},
            {"oversigned From added", replace_first(good, "From: Joe", "From: evil@x.example\r\nFrom: Joe"),
             "signature did not verify"},
        };
        for (const auto& b : bad) {
          auto r = verify(b.msg, dns);
          ASSERT_EQ(r.size(), 1u) << what << ": " << b.name;
          EXPECT_EQ(r[0].result, AuthResult::Fail)
              << what << ": " << b.name << ": got " << results_str(r) << ", want fail";
          EXPECT_EQ(r[0].reason, b.reason) << what << ": " << b.name;
        }
        // Whitespace a relaxed canonicalization forgives, and only that.
        auto ws = replace_first(good, "Are you", "Are  \t you");
        auto r = verify(ws, dns);
        EXPECT_EQ(r[0].result, bc == Canon::Relaxed ? AuthResult::Pass : AuthResult::Fail)
            << what << ": body WSP changed: got " << results_str(r);
        auto hws = replace_first(good, "Subject:   Is", "Subject: Is");
        r = verify(hws, dns);
        EXPECT_EQ(r[0].result, hc == Canon::Relaxed ? AuthResult::Pass : AuthResult::Fail)
            << what << ": header WSP changed: got " << results_str(r);
      }
    }
  }
}

TEST(VerifyOwnSigner, StepwiseWithOneByteBodyChunks) {
  auto spec = spec_for(ed_key(), Canon::Simple, Canon::Relaxed);
  std::string msg = signed_by_us(spec);
  auto m = split(msg);
  for (bool tamper : {false, true}) {
    auto lib = make_lib();
    dkim::Verification v(lib, "step");
    for (const auto& f : m.fields) v.header(f);
    auto keys = v.end_of_headers();
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].domain, "football.example.com");
    EXPECT_EQ(keys[0].selector, "sel");
    EXPECT_EQ(keys[0].qname(), "sel._domainkey.football.example.com");
    KeyAnswer a;
    a.kind = KeyAnswer::Kind::Ok;
    a.records = {ed_key()->dns_record()};
    v.provide_key(keys[0], a);
    std::string body = tamper ? replace_first(m.body, "lost", "won!") : m.body;
    for (char c : body) v.body(std::string_view(&c, 1));
    auto rs = v.finish();
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].result, tamper ? AuthResult::Fail : AuthResult::Pass)
        << "tamper=" << tamper << ": got " << results_str(rs);
    dkim::BodyHasher h(Canon::Relaxed);
    h.update(body);
    (void)h.finish();
    EXPECT_EQ(rs[0].canonical_body_length, h.canonical_length()) << "tamper=" << tamper;
    EXPECT_EQ(v.ignored_signatures(), 0u);
  }
}

TEST(VerifyOwnSigner, BareLfMessageIsTakenAsCrlf) {
  std::string msg = signed_by_us(spec_for(rsa_key(), Canon::Simple, Canon::Simple));
  std::string lf;
  for (std::size_t i = 0; i < msg.size(); ++i)
    if (!(msg[i] == '\r' && i + 1 < msg.size() && msg[i + 1] == '\n')) lf += msg[i];
  ASSERT_EQ(lf.find('\r'), std::string::npos);
  Dns dns;
  dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
  auto rs = verify(lf, dns);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].result, AuthResult::Pass) << "got " << results_str(rs);
}

TEST(VerifyOwnSigner, BodyWithoutFinalCrlf) {
  // RFC 6376 §3.4.3/§3.4.4 add the missing CRLF; libopendkim alone would
  // refuse the message ("CRLF at end of body missing").
  const std::string msg = std::string(kMessage) + "no line end here";
  for (auto key : {rsa_key(), ed_key()}) {
    for (Canon bc : {Canon::Simple, Canon::Relaxed}) {
      Dns dns;
      dns.add("sel._domainkey.football.example.com", key->dns_record());
      std::string good = signed_by_us(spec_for(key, Canon::Relaxed, bc), msg);
      auto rs = verify(good, dns);
      ASSERT_EQ(rs.size(), 1u);
      EXPECT_EQ(rs[0].result, AuthResult::Pass) << "got " << results_str(rs);
      rs = verify(good + "!", dns);
      EXPECT_EQ(rs[0].result, AuthResult::Fail) << "got " << results_str(rs);
      EXPECT_EQ(rs[0].reason, "body hash mismatch");
    }
  }
}

TEST(VerifyOwnSigner, ExpiredAndFutureSignatures) {
  Dns dns;
  dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
  const std::int64_t now = std::time(nullptr);
  struct Case {
    const char* name;
    std::int64_t t, expire_after;
    std::int64_t drift;
    AuthResult want;
    const char* reason;
  };
  const Case cases[] = {
      {"x= one hour ago", now - 7200, 3600, 300, AuthResult::PermError, "signature expired"},
      {"x= 100 s ago, within drift", now - 3700, 3600, 300, AuthResult::Pass, ""},
      {"x= 100 s ago, no drift", now - 3700, 3600, 0, AuthResult::PermError, "signature expired"},
      {"x= in an hour", now, 3600, 300, AuthResult::Pass, ""},
      {"t= in a day", now + 86400, 0, 300, AuthResult::Policy, "signature timestamp in the future"},
      {"t= 100 s ahead, within drift", now + 100, 0, 300, AuthResult::Pass, ""},
  };
  for (const auto& c : cases) {
    auto spec = spec_for(rsa_key());
    spec.timestamp = c.t;
    spec.expire_after = c.expire_after;
    dkim::VerifyOptions o;
    o.clock_drift = std::chrono::seconds(c.drift);
    auto rs = verify(signed_by_us(spec), dns, o);
    ASSERT_EQ(rs.size(), 1u) << c.name;
    EXPECT_EQ(rs[0].result, c.want) << c.name << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, c.reason) << c.name;
  }
}

// ---------------------------------------------------------- RFC 8301 etc.

TEST(VerifyPolicy, RsaSha1IsPolicyOrFail) {
  auto key = raw_rsa(2048);
  std::string good = opendkim_sign(key.pem, DKIM_SIGN_RSASHA1, kMessage);
  ASSERT_NE(good.find("a=rsa-sha1"), std::string::npos) << good;
  Dns dns;
  dns.add("small._domainkey.football.example.com", "v=DKIM1; k=rsa; p=" + key.p);
  auto rs = verify(good, dns);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].result, AuthResult::Policy) << "got " << results_str(rs) << ", want policy";
  EXPECT_EQ(rs[0].reason, "rsa-sha1 not accepted (RFC 8301)");
  EXPECT_EQ(rs[0].key_bits, 2048u);
  auto bad = verify(replace_first(good, "hungry", "angry"), dns);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].result, AuthResult::Fail) << "got " << results_str(bad) << ", want fail";
  // The same key with rsa-sha256 passes: the policy is about the hash.
  auto sha256 = verify(opendkim_sign(key.pem, DKIM_SIGN_RSASHA256, kMessage), dns);
  ASSERT_EQ(sha256.size(), 1u);
  EXPECT_EQ(sha256[0].result, AuthResult::Pass) << "got " << results_str(sha256);
}

TEST(VerifyPolicy, SmallRsaKeys) {
  for (unsigned bits : {512u, 768u}) {
    auto key = raw_rsa(bits);
    std::string msg = opendkim_sign(key.pem, DKIM_SIGN_RSASHA256, kMessage);
    Dns dns;
    dns.add("small._domainkey.football.example.com", "v=DKIM1; k=rsa; p=" + key.p);
    auto rs = verify(msg, dns);
    ASSERT_EQ(rs.size(), 1u) << bits;
    EXPECT_EQ(rs[0].result, AuthResult::Policy) << bits << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, "RSA key too small (" + std::to_string(bits) + " bits)");
    EXPECT_EQ(rs[0].key_bits, bits);
    dkim::VerifyOptions lowered;
    lowered.min_key_bits = 512;
    rs = verify(msg, dns, lowered);
    EXPECT_EQ(rs[0].result, AuthResult::Pass) << bits << " with min 512: got " << results_str(rs);
    // A broken signature with a small key is a failure, not a policy matter.
    rs = verify(replace_first(msg, "hungry", "angry"), dns);
    EXPECT_EQ(rs[0].result, AuthResult::Fail) << bits << " tampered: got " << results_str(rs);
  }
}

TEST(VerifyPolicy, BodyLengthTag) {
  auto key = raw_rsa(1024);
  std::string msg = opendkim_sign(key.pem, DKIM_SIGN_RSASHA256, kMessage, /*with_l=*/true);
  ASSERT_NE(msg.find("l="), std::string::npos) << msg;
  Dns dns;
  dns.add("small._domainkey.football.example.com", "v=DKIM1; k=rsa; p=" + key.p);
  dkim::VerifyOptions accept;
  accept.accept_partial_body = true;
  struct Case {
    const char* name;
    std::string msg;
    dkim::VerifyOptions opts;
    AuthResult want;
    const char* reason;
  };
  const std::string appended = msg + "Unsigned advertisement.\r\n";
  const Case cases[] = {
      {"l= covers the whole body", msg, {}, AuthResult::Pass, ""},
      {"text appended", appended, {}, AuthResult::Policy, "l= leaves part of the body unsigned"},
      {"text appended, partial accepted", appended, accept, AuthResult::Pass, ""},
      {"body cut short", msg.substr(0, msg.find("Are you")) + "\r\n", {}, AuthResult::Fail,
       "body shorter than l="},
      {"signed part changed", replace_first(appended, "hungry", "angry"), accept, AuthResult::Fail,
       "body hash mismatch"},
  };
  for (const auto& c : cases) {
    auto rs = verify(c.msg, dns, c.opts);
    ASSERT_EQ(rs.size(), 1u) << c.name;
    EXPECT_EQ(rs[0].result, c.want) << c.name << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, c.reason) << c.name;
    ASSERT_TRUE(rs[0].body_length.has_value()) << c.name;
  }
  // canonical_body_length is the whole body's, beyond l=.
  auto rs = verify(appended, dns, accept);
  auto m = split(appended);
  dkim::BodyHasher h(Canon::Simple);
  h.update(m.body);
  (void)h.finish();
  EXPECT_EQ(rs[0].canonical_body_length, h.canonical_length());
  EXPECT_LT(*rs[0].body_length, rs[0].canonical_body_length);
  // The same in 1-byte chunks through the stepwise API.
  auto lib = make_lib();
  dkim::Verification v(lib, "l");
  for (const auto& f : m.fields) v.header(f);
  for (const auto& k : v.end_of_headers()) v.provide_key(k, dns(k));
  for (char c : m.body) v.body(std::string_view(&c, 1));
  auto stepwise = v.finish();
  ASSERT_EQ(stepwise.size(), 1u);
  EXPECT_EQ(stepwise[0].result, AuthResult::Policy) << "got " << results_str(stepwise);
}

// ------------------------------------------------------------ key answers

TEST(VerifyKeys, EveryKindOfAnswer) {
  const std::string rsa = rsa_key()->dns_record();
  auto ans = [](KeyAnswer::Kind k, std::vector<std::string> recs, std::string reason = {}) {
    KeyAnswer a;
    a.kind = k;
    a.records = std::move(recs);
    a.reason = std::move(reason);
    return a;
  };
  using K = KeyAnswer::Kind;
  // The same key as PKCS#1 RSAPublicKey (RFC 6376 §3.6.1's wording).
  std::string pkcs1;
  {
    unsigned char* der = nullptr;
    int n = i2d_PublicKey(rsa_key()->get(), &der);
    std::string b(4 * ((static_cast<std::size_t>(n) + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b.data()), der, n);
    OPENSSL_free(der);
    pkcs1 = "v=DKIM1; k=rsa; p=" + b;
  }
  struct Case {
    const char* name;
    std::optional<KeyAnswer> answer;  // nullopt: never provided
    AuthResult want;
    std::string reason;
  };
  const Case cases[] = {
      {"ok", ans(K::Ok, {rsa}), AuthResult::Pass, ""},
      {"NXDOMAIN", ans(K::NotFound, {}, "NXDOMAIN"), AuthResult::PermError, "no key record: NXDOMAIN"},
      {"timeout", ans(K::TempFail, {}, "timeout"), AuthResult::TempError, "key lookup failed: timeout"},
      {"FORMERR", ans(K::PermFail, {}, "FORMERR"), AuthResult::PermError, "key lookup failed: FORMERR"},
      {"not provided", std::nullopt, AuthResult::TempError, "key not fetched"},
      {"revoked", ans(K::Ok, {"v=DKIM1; k=rsa; p="}), AuthResult::PermError, "key revoked"},
      {"no p=", ans(K::Ok, {"v=DKIM1; k=rsa"}), AuthResult::PermError, "malformed key record"},
      {"syntax error", ans(K::Ok, {"k=rsa; t; p=" + rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::PermError, "malformed key record"},
      {"not a DKIM record", ans(K::Ok, {"v=spf1 -all"}), AuthResult::PermError, "no DKIM key record"},
      {"empty TXT", ans(K::Ok, {""}), AuthResult::PermError, "no DKIM key record"},
      {"Ok with no records", ans(K::Ok, {}), AuthResult::PermError, "no DKIM key record"},
      {"p= garbage", ans(K::Ok, {"v=DKIM1; k=rsa; p=BARF"}), AuthResult::PermError,
       "key could not be decoded"},
      {"v=DKIM2", ans(K::Ok, {"v=DKIM2; k=rsa; p=" + rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::PermError, "unsupported key version"},
      {"unknown k=", ans(K::Ok, {"v=DKIM1; k=ed2024; p=" + rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::PermError, "unknown key type"},
      {"ed25519 key for an RSA signature", ans(K::Ok, {ed_key()->dns_record()}),
       AuthResult::PermError, "key could not be decoded"},
      {"h=sha1 only", ans(K::Ok, {"v=DKIM1; h=sha1; p=" + rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::PermError, "key h= does not allow this hash"},
      {"s=chat", ans(K::Ok, {"v=DKIM1; s=chat; p=" + rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::PermError, "key not for email (s=)"},
      {"SPF then DKIM record", ans(K::Ok, {"v=spf1 -all", rsa}), AuthResult::Pass, ""},
      {"two DKIM records, good first", ans(K::Ok, {rsa, "v=DKIM1; p="}), AuthResult::Pass, ""},
      {"unknown tags, FWS", ans(K::Ok, {"v=DKIM1; n = notes here ; x1=y;  k = rsa ; p=" +
                                        rsa.substr(rsa.find("p=") + 2)}),
       AuthResult::Pass, ""},
      {"PKCS#1 p=", ans(K::Ok, {pkcs1}), AuthResult::Pass, ""},
  };
  for (const auto& c : cases) {
    auto lib = make_lib();
    auto m = split(simple_signed());
    dkim::Verification v(lib, c.name);
    for (const auto& f : m.fields) v.header(f);
    auto keys = v.end_of_headers();
    ASSERT_EQ(keys.size(), 1u) << c.name;
    if (c.answer) v.provide_key(keys[0], *c.answer);
    v.body(m.body);
    auto rs = v.finish();
    ASSERT_EQ(rs.size(), 1u) << c.name;
    EXPECT_EQ(rs[0].result, c.want) << c.name << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, c.reason) << c.name;
  }
}

TEST(VerifyKeys, NotesAndTestMode) {
  Dns dns;
  const std::string rsa = rsa_key()->dns_record();
  dns.answers["sel._domainkey.football.example.com"] =
      KeyAnswer{KeyAnswer::Kind::Ok, {"v=spf1 -all", "v=DKIM1; t=y; p=" + rsa.substr(rsa.find("p=") + 2)}, {}};
  auto rs = verify(simple_signed(), dns);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].result, AuthResult::Pass) << results_str(rs);
  EXPECT_TRUE(rs[0].key_testing);
  EXPECT_EQ(rs[0].note, "2 TXT records, used #2");
}

TEST(VerifyKeys, LongRecordsAndKeys) {
  // 4096-bit RSA must work (RFC 8301 §3.2); notes and other tags are dropped
  // before the record goes to the library, so padding does not matter.
  auto key = rsa_key(4096);
  auto spec = spec_for(key);
  Dns dns;
  dns.add("sel._domainkey.football.example.com",
          "v=DKIM1; n=" + std::string(600, 'x') + "; k=rsa; " + key->dns_record().substr(16));
  auto rs = verify(signed_by_us(spec), dns);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].result, AuthResult::Pass) << results_str(rs);
  EXPECT_EQ(rs[0].key_bits, 4096u);
  // An 8192-bit key (about 1400 base64 characters) does not fit
  // libopendkim's 1 KiB key buffer: a permanent error, decided before any
  // key is decoded (so a made-up p= of that size will do).
  Dns dns8;
  dns8.add("sel._domainkey.football.example.com", "v=DKIM1; k=rsa; p=" + std::string(1400, 'A'));
  rs = verify(signed_by_us(spec), dns8);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].result, AuthResult::PermError) << results_str(rs);
  EXPECT_EQ(rs[0].reason.rfind("key record too long", 0), 0u) << rs[0].reason;
}

// --------------------------------------------------- signatures refused

TEST(VerifySignatures, MalformedAreNeverLookedUp) {
  const std::string good = simple_signed();
  auto sig_end = good.find("\r\nFrom: ");
  const std::string sig = good.substr(0, sig_end + 2);
  const std::string rest = good.substr(sig_end + 2);
  struct Case {
    const char* name;
    std::string from, to;  // edit of the signature field
    std::string reason;
  };
  const Case cases[] = {
      {"invalid d= (paren)", "d=football.example.com", "d=legitimate.com(.attacker.com",
       "invalid domain d=legitimate.com(.attacker.com"},
      {"invalid d= (space)", "d=football.example.com", "d=football example.com",
       "invalid domain d=football example.com"},
      {"invalid d= (empty label)", "d=football.example.com", "d=football..example.com",
       "invalid domain d=football..example.com"},
      {"invalid s=", "s=sel", "s=sel/../x", "invalid selector s=sel/../x"},
      {"8-bit d=", "d=football.example.com", "d=f\xc3\xbc\xc3\x9f.example.com",
       "malformed signature: invalid character in tag d"},
      {"duplicate tag", "s=sel", "s=sel; s=other", "malformed signature: duplicate tag s"},
      {"no v=", "v=1; ", "", "v= missing (pre-RFC 6376 signature)"},
      {"v=2", "v=1", "v=2", "unsupported version v=2"},
      {"a=rsa-md5", "a=rsa-sha256", "a=rsa-md5", "unsupported algorithm a=rsa-md5"},
      {"c=future", "c=relaxed/relaxed", "c=future", "unsupported canonicalization c=future"},
      {"q=http", "s=sel", "s=sel; q=http", "unsupported query method q=http"},
      {"i= outside d=", "s=sel", "s=sel; i=joe@example.org", "i= not within d="},
      {"i= parent of d=", "s=sel", "s=sel; i=@example.com", "i= not within d="},
      {"From not signed", "h=", "", "From field not signed"},
      {"x= before t=", "s=sel", "s=sel; x=1000000000", "x= not after t="},
      {"bad l=", "s=sel", "s=sel; l=12a", "malformed l="},
      {"tag without =", "s=sel", "s=sel; junk", "malformed signature: tag junk without '='"},
      {"empty tag", "s=sel;", "s=sel;;", "malformed signature: empty tag"},
      {"b= missing", "; b=", "; xb=", "b= missing"},
  };
  for (const auto& c : cases) {
    std::string edited = sig;
    if (c.from == "h=") {
      // The whole h= list (folded, From oversigned at its end) without From.
      auto h = sig.find("h=");
      edited = sig.substr(0, h) + "h=To:Subject" + sig.substr(sig.find(';', h));
    } else if (!c.from.empty()) {
      edited = replace_first(sig, c.from, c.to);
    }
    Dns dns;
    dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
    dns.add("test._domainkey.legitimate.com(.attacker.com", rsa_key()->dns_record());
    auto lib = make_lib();
    auto m = split(edited + rest);
    dkim::Verification v(lib, c.name);
    for (const auto& f : m.fields) v.header(f);
    auto keys = v.end_of_headers();
    EXPECT_TRUE(keys.empty()) << c.name << ": " << keys.size() << " keys requested, want 0";
    v.body(m.body);
    auto rs = v.finish();
    ASSERT_EQ(rs.size(), 1u) << c.name;
    EXPECT_EQ(rs[0].result, AuthResult::PermError) << c.name << ": got " << results_str(rs);
    EXPECT_EQ(rs[0].reason, c.reason) << c.name;
  }
}

TEST(VerifySignatures, NoneDomainKeysAndLimits) {
  Dns dns;
  dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
  // Unsigned, and DomainKey-Signature only: no results (dkim=none).
  EXPECT_TRUE(verify(kMessage, dns).empty());
  std::string dk = std::string("DomainKey-Signature: a=rsa-sha1; q=dns; c=nofws; s=sel;\r\n"
                               "  d=football.example.com; b=AAAA\r\n") + kMessage;
  EXPECT_TRUE(verify(dk, dns).empty());
  EXPECT_TRUE(dns.asked.empty());

  // Three signatures with max_signatures = 2: two results, one ignored, and
  // only the first two keys asked for.  The same key twice is asked once.
  auto s1 = spec_for(rsa_key());
  auto s2 = spec_for(ed_key());
  s2.selector = "ed";
  auto s3 = spec_for(rsa_key());
  s3.selector = "third";
  auto m = split(kMessage);
  std::string sigs;
  for (const auto* s : {&s1, &s2, &s1, &s3}) {
    auto sig = dkim::sign(*s, m.list(), bh(s->body_canon, m.body));
    ASSERT_TRUE(sig);
    sigs += *sig;
  }
  dns.add("ed._domainkey.football.example.com", ed_key()->dns_record());
  dns.add("third._domainkey.football.example.com", rsa_key()->dns_record());
  dkim::VerifyOptions o;
  o.max_signatures = 3;
  auto lib = make_lib(o);
  auto mm = split(sigs + kMessage);
  dkim::Verification v(lib, "limits");
  for (const auto& f : mm.fields) v.header(f);
  auto keys = v.end_of_headers();
  ASSERT_EQ(keys.size(), 2u) << "want sel and ed, once each";
  EXPECT_EQ(keys[0].selector, "sel");
  EXPECT_EQ(keys[1].selector, "ed");
  for (const auto& k : keys) v.provide_key(k, dns(k));
  v.body(mm.body);
  auto rs = v.finish();
  EXPECT_EQ(verdicts(rs), (std::vector<AuthResult>{AuthResult::Pass, AuthResult::Pass, AuthResult::Pass}))
      << results_str(rs);
  EXPECT_EQ(v.ignored_signatures(), 1u);
  // The two identical signatures (same b=) share a prefix; the others differ.
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].b_prefix, rs[2].b_prefix);
  EXPECT_NE(rs[0].b_prefix, rs[1].b_prefix);
  // finish() again gives the same results.
  EXPECT_EQ(verdicts(v.finish()), verdicts(rs));
}

TEST(VerifySignatures, FloodOfSignaturesIsNotHandedToTheLibrary) {
  auto m = split(kMessage);
  auto sig = dkim::sign(spec_for(rsa_key()), m.list(), bh(Canon::Relaxed, m.body));
  ASSERT_TRUE(sig);
  for (std::size_t n : {50u, 51u}) {
    std::string sigs;
    for (std::size_t i = 0; i < n; ++i) sigs += *sig;
    Dns dns;
    dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
    auto lib = make_lib();
    auto mm = split(sigs + kMessage);
    dkim::Verification v(lib, "flood");
    for (const auto& f : mm.fields) v.header(f);
    auto keys = v.end_of_headers();
    EXPECT_EQ(keys.size(), n > 50 ? 0u : 1u) << n;
    for (const auto& k : keys) v.provide_key(k, dns(k));
    v.body(mm.body);
    auto rs = v.finish();
    ASSERT_EQ(rs.size(), 8u) << n;
    EXPECT_EQ(v.ignored_signatures(), n - 8) << n;
    for (const auto& r : rs) {
      EXPECT_EQ(r.result, n > 50 ? AuthResult::Policy : AuthResult::Pass) << n << ": " << results_str(rs);
      if (n > 50) {
        EXPECT_EQ(r.reason, "too many signatures (51)");
      }
    }
  }
}

TEST(VerifySignatures, UsableAndBrokenMixed) {
  // A malformed signature, a good one and one whose key is missing: each
  // gets its own result, top first.
  auto m = split(kMessage);
  auto good = dkim::sign(spec_for(rsa_key()), m.list(), bh(Canon::Relaxed, m.body));
  auto other = spec_for(rsa_key());
  other.selector = "gone";
  auto missing = dkim::sign(other, m.list(), bh(Canon::Relaxed, m.body));
  ASSERT_TRUE(good && missing);
  std::string msg = "DKIM-Signature: v=1; a=rsa-sha256; d=football.example.com; junk\r\n" + *good +
                    *missing + kMessage;
  Dns dns;
  dns.add("sel._domainkey.football.example.com", rsa_key()->dns_record());
  auto rs = verify(msg, dns);
  EXPECT_EQ(verdicts(rs), (std::vector<AuthResult>{AuthResult::PermError, AuthResult::Pass,
                                                   AuthResult::PermError}))
      << results_str(rs);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].domain, "football.example.com");
  EXPECT_EQ(rs[2].reason, "no key record: NXDOMAIN");
  EXPECT_EQ(dns.asked.count("gone._domainkey.football.example.com"), 1u);
}

// ------------------------------------------------- Authentication-Results

namespace {

// A rough RFC 8601 reader: unfolds, drops comments, splits on ';' outside
// quotes, and returns each resinfo's words (method=result, ptype.prop=value).
struct ParsedAr {
  std::string authserv_id;
  std::vector<std::map<std::string, std::string>> results;  // key -> value (unquoted)
};

ParsedAr parse_ar(const std::string& field) {
  std::string s;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\r' && i + 1 < field.size() && field[i + 1] == '\n') {
      ++i;
      continue;
    }
    s += field[i];
  }
  s = s.substr(s.find(':') + 1);
  std::vector<std::string> parts;
  std::string cur;
  bool q = false;
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (q) {
      if (c == '\\' && i + 1 < s.size()) {
        cur += s[++i];
        continue;
      }
      if (c == '"') q = false;
      else cur += c;
      continue;
    }
    if (depth > 0) {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      continue;
    }
    if (c == '"') q = true;
    else if (c == '(') ++depth;
    else if (c == ';') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  ParsedAr out;
  auto words = [](const std::string& p) {
    std::vector<std::string> w;
    std::istringstream in(p);
    std::string x;
    while (in >> x) w.push_back(x);
    return w;
  };
  auto id = words(parts[0]);
  out.authserv_id = id.empty() ? "" : id[0];
  for (std::size_t i = 1; i < parts.size(); ++i) {
    std::map<std::string, std::string> m;
    for (const auto& w : words(parts[i])) {
      auto eq = w.find('=');
      if (eq != std::string::npos) m[w.substr(0, eq)] = w.substr(eq + 1);
    }
    out.results.push_back(m);
  }
  return out;
}

void expect_folded(const std::string& field) {
  ASSERT_GE(field.size(), 2u);
  EXPECT_EQ(field.substr(field.size() - 2), "\r\n");
  std::size_t start = 0;
  while (start < field.size()) {
    auto eol = field.find("\r\n", start);
    ASSERT_NE(eol, std::string::npos) << "line without CRLF";
    std::string line = field.substr(start, eol - start);
    EXPECT_LE(line.size(), 78u) << "line too long: " << line;
    EXPECT_FALSE(line.empty()) << "empty line inside the field";
    if (start > 0) {
      EXPECT_TRUE(line[0] == ' ' || line[0] == '\t') << "continuation without WSP: " << line;
    }
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find('\r'), std::string::npos);
    start = eol + 2;
  }
}

}  // namespace

TEST(AuthResults, FormatParsedBack) {
  SignatureResult pass;
  pass.result = AuthResult::Pass;
  pass.domain = "example.com";
  pass.selector = "s2048";
  pass.algorithm = "rsa-sha256";
  pass.identity = "@example.com";
  pass.b_prefix = "AbCdEfGh";
  pass.key_bits = 2048;
  SignatureResult fail = pass;
  fail.result = AuthResult::Fail;
  fail.reason = "body hash mismatch";
  fail.b_prefix = "Zz/9+xQw";
  fail.identity = "newsletter@mail.example.com";
  SignatureResult perm;
  perm.result = AuthResult::PermError;
  perm.reason = R"(bad "quote" and \backslash)";
  perm.domain = "legitimate.com(.attacker.com";
  perm.selector = "test";
  perm.algorithm = "rsa-sha256";

  std::string f = dkim::authentication_results("mx.example.net", {pass, fail, perm});
  expect_folded(f);
  EXPECT_EQ(f.rfind("Authentication-Results: mx.example.net;\r\n", 0), 0u) << f;
  EXPECT_NE(f.find("(2048-bit key)"), std::string::npos) << f;
  auto p = parse_ar(f);
  EXPECT_EQ(p.authserv_id, "mx.example.net");
  ASSERT_EQ(p.results.size(), 3u) << f;
  EXPECT_EQ(p.results[0]["dkim"], "pass");
  EXPECT_EQ(p.results[0]["header.d"], "example.com");
  EXPECT_EQ(p.results[0]["header.s"], "s2048");
  EXPECT_EQ(p.results[0]["header.a"], "rsa-sha256");
  EXPECT_EQ(p.results[0]["header.b"], "AbCdEfGh");
  EXPECT_EQ(p.results[0].count("reason"), 0u) << "no reason for pass";
  EXPECT_EQ(p.results[0].count("header.i"), 0u) << "header.i only when it says more than d=";
  EXPECT_EQ(p.results[1]["dkim"], "fail");
  EXPECT_EQ(p.results[1]["header.b"], "Zz/9+xQw");
  EXPECT_EQ(p.results[1]["header.i"], "newsletter@mail.example.com");
  EXPECT_NE(f.find("header.b=\"Zz/9+xQw\""), std::string::npos) << "'/' is a tspecial: quoted\n" << f;
  EXPECT_NE(f.find("reason=\"body hash mismatch\""), std::string::npos) << f;
  EXPECT_EQ(p.results[2]["dkim"], "permerror");
  EXPECT_NE(f.find(R"(reason="bad \"quote\" and \\backslash")"), std::string::npos) << f;
  EXPECT_NE(f.find("header.d=\"legitimate.com(.attacker.com\""), std::string::npos)
      << "a d= that is no domain name is quoted, not taken for a comment\n" << f;
  EXPECT_EQ(p.results[2]["header.d"].substr(0, 15), "legitimate.com(");
}

TEST(AuthResults, NoneFoldingAndOddValues) {
  std::string none = dkim::authentication_results("mx.example.net", {});
  EXPECT_EQ(none, "Authentication-Results: mx.example.net;\r\n\tdkim=none\r\n");
  auto p = parse_ar(none);
  ASSERT_EQ(p.results.size(), 1u);
  EXPECT_EQ(p.results[0]["dkim"], "none");

  // Long values: every line within 78 characters, the reason unfolds to
  // exactly the original text, control characters and 8-bit bytes removed.
  SignatureResult r;
  r.result = AuthResult::TempError;
  r.reason = "key lookup failed: timeout after 3 attempts over 2 servers, the last one "
             "answered SERVFAIL\r\nX-Injected: yes \xc3\xa9";
  r.domain = "a-rather-long-subdomain.of.a-rather-long-domain.example.com";
  r.selector = "selector-2026-11-with-a-long-name";
  r.algorithm = "ed25519-sha256";
  r.b_prefix = "abcdefgh";
  r.key_bits = 256;
  r.key_testing = true;
  std::string f = dkim::authentication_results("mx.example.net", {r, r});
  expect_folded(f);
  EXPECT_EQ(f.find("X-Injected: yes\r\n"), std::string::npos) << f;
  auto q = parse_ar(f);
  ASSERT_EQ(q.results.size(), 2u);
  EXPECT_EQ(q.results[1]["header.d"], r.domain);
  EXPECT_NE(f.find("(256-bit key; test mode)"), std::string::npos) << f;
  std::string unfolded;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\r' && f[i + 1] == '\n') {
      ++i;
      continue;
    }
    unfolded += f[i];
  }
  EXPECT_NE(unfolded.find("reason=\"key lookup failed: timeout after 3 attempts over 2 servers, "
                          "the last one answered SERVFAIL  X-Injected: yes ??\""),
            std::string::npos)
      << unfolded;

  // An authserv-id that is no token is quoted.
  EXPECT_EQ(dkim::authentication_results("odd id", {}).rfind("Authentication-Results: \"odd id\";", 0), 0u);
}

// Tags the signer chose can be of any length: each value is cut to 255
// octets (marked "...") and no line of the field passes 998 octets.
TEST(AuthResults, LongTagValuesAreBounded) {
  SignatureResult r;
  r.result = AuthResult::PermError;
  r.reason = std::string(5000, 'r');
  r.domain = std::string(3000, 'd') + ".example";
  r.identity = std::string(3000, 'i') + "@" + r.domain;
  r.selector = std::string(3000, 's');
  r.algorithm = std::string(3000, 'a');
  r.b_prefix = std::string(3000, 'b');
  std::string f = dkim::authentication_results("mx.example.net", {r, r});
  std::size_t start = 0, longest = 0;
  for (std::size_t e; (e = f.find("\r\n", start)) != std::string::npos; start = e + 2)
    longest = std::max(longest, e - start);
  EXPECT_LE(longest, 998u) << f;
  EXPECT_LT(f.size(), 2u * 6u * 300u + 200u) << "values not bounded";
  for (const char* tag : {"header.d=\"ddd", "header.i=\"iii", "header.s=\"sss", "header.a=\"aaa", "header.b=\"bbb"})
    EXPECT_NE(f.find(tag), std::string::npos) << tag << " in " << f;
  EXPECT_NE(f.find(std::string(252, 'd') + "...\""), std::string::npos) << f;
  auto q = parse_ar(f);
  ASSERT_EQ(q.results.size(), 2u);
  EXPECT_EQ(q.results[0]["dkim"], "permerror");
}

TEST(AuthResults, ClaimsAuthservId) {
  struct Case {
    const char* field;
    bool want;
  };
  const Case cases[] = {
      {"Authentication-Results: mx.example.net; dkim=pass header.d=example.com\r\n", true},
      {"Authentication-Results: MX.Example.NET; dkim=pass\r\n", true},
      {"authentication-results:mx.example.net;dkim=pass\r\n", true},
      {"Authentication-Results: mx.example.net 1; dkim=pass\r\n", true},
      {"Authentication-Results: mx.example.net; none\r\n", true},
      {"Authentication-Results: (comment) mx.example.net; spf=pass\r\n", true},
      {"Authentication-Results: (nested (comment) \\) here)\r\n\t mx.example.net (c); x=y\r\n", true},
      {"Authentication-Results:\r\n  mx.example.net;\r\n  dkim=fail\r\n", true},
      {"Authentication-Results: \"mx.example.net\"; dkim=pass\r\n", true},
      {"Authentication-Results: mx.example.net(comment); dkim=pass\r\n", true},
      {"Authentication-Results: mx.example.net garbage; dkim=pass\r\n", true},
      {"Authentication-Results: mx.example.org; dkim=pass\r\n", false},
      {"Authentication-Results: mx.example.net.evil.com; dkim=pass\r\n", false},
      {"Authentication-Results: evil.mx.example.net; dkim=pass\r\n", false},
      {"Authentication-Results: x mx.example.net; dkim=pass\r\n", false},
      {"Authentication-Results: (unclosed mx.example.net; dkim=pass\r\n", false},
      {"Authentication-Results: ; dkim=pass\r\n", false},
      {"Authentication-Results:\r\n", false},
      {"Authentication-Results: mx.example.net/x; dkim=pass\r\n", false},
      {"X-Authentication-Results: mx.example.net; dkim=pass\r\n", false},
      {"ARC-Authentication-Results: i=1; mx.example.net; dkim=pass\r\n", false},
      {"garbage without a colon", false},
  };
  for (const auto& c : cases)
    EXPECT_EQ(dkim::claims_authserv_id(c.field, "mx.example.net"), c.want)
        << c.field << ": got " << !c.want << ", want " << c.want;
  EXPECT_FALSE(dkim::claims_authserv_id("Authentication-Results: mx.example.net;", ""));
  // What we write, we recognise.
  EXPECT_TRUE(dkim::claims_authserv_id(dkim::authentication_results("mx.example.net", {}),
                                       "mx.example.net"));
  EXPECT_TRUE(dkim::claims_authserv_id(dkim::authentication_results("odd id", {}), "odd id"));
}

TEST(AuthResults, ToString) {
  const std::pair<AuthResult, const char*> want[] = {
      {AuthResult::None, "none"},         {AuthResult::Pass, "pass"},
      {AuthResult::Fail, "fail"},         {AuthResult::Policy, "policy"},
      {AuthResult::Neutral, "neutral"},   {AuthResult::TempError, "temperror"},
      {AuthResult::PermError, "permerror"}};
  for (const auto& [r, s] : want) EXPECT_STREQ(dkim::to_string(r), s);
}
