// tests/keys/private_key_test.cpp — key loading rules, generation and the
// published record, checked against the openssl command line as an
// independent oracle.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "keys/key_owner.hpp"
#include "keys/private_key.hpp"

namespace sigil::keys {
namespace {

namespace fs = std::filesystem;

class KeyFiles : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sigil-keys-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  // stdout of a shell command.
  static std::string sh(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  fs::path dir_;
};

TEST_F(KeyFiles, GeneratedRsaKeyLoadsAndPublishesWhatOpensslDerives) {
  auto pem = generate_private_key(KeyType::Rsa, 2048);
  ASSERT_TRUE(pem) << pem.error().message;
  auto path = write("rsa.pem", *pem);
  auto key = load_private_key(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ((*key)->type(), KeyType::Rsa);
  EXPECT_EQ((*key)->bits(), 2048u);
  EXPECT_FALSE((*key)->weak());
  auto want = sh("openssl pkey -in " + path + " -pubout -outform DER | base64 -w0");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ((*key)->public_key_base64(), want);
  EXPECT_EQ((*key)->dns_record(), "v=DKIM1; k=rsa; p=" + want);
}

TEST_F(KeyFiles, Ed25519RecordIsTheRaw32ByteKey) {
  auto pem = generate_private_key(KeyType::Ed25519);
  ASSERT_TRUE(pem) << pem.error().message;
  auto path = write("ed.pem", *pem);
  auto key = load_private_key(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ((*key)->type(), KeyType::Ed25519);
  // RFC 8463 §4: p= is the raw key, i.e. the last 32 bytes of the 44-byte
  // SubjectPublicKeyInfo that openssl prints.
  auto want = sh("openssl pkey -in " + path + " -pubout -outform DER | tail -c 32 | base64 -w0");
  EXPECT_EQ((*key)->public_key_base64(), want);
  EXPECT_EQ((*key)->public_key_base64().size(), 44u);
  EXPECT_EQ((*key)->dns_record().rfind("v=DKIM1; k=ed25519; p=", 0), 0u);
}

TEST_F(KeyFiles, KeyFromOpensslCliLoads) {
  // Keys made elsewhere: traditional RSA PEM and PKCS#8 both load.
  auto p1 = (dir_ / "trad.pem").string();
  sh("openssl genrsa -traditional -out " + p1 + " 1024 2>/dev/null; chmod 600 " + p1);
  auto k1 = load_private_key(p1);
  ASSERT_TRUE(k1) << k1.error().message;
  EXPECT_EQ((*k1)->bits(), 1024u);
  EXPECT_TRUE((*k1)->weak());  // usable, with a warning
  auto p2 = (dir_ / "ed-cli.pem").string();
  sh("openssl genpkey -algorithm ed25519 -out " + p2 + "; chmod 600 " + p2);
  auto k2 = load_private_key(p2);
  ASSERT_TRUE(k2) << k2.error().message;
  EXPECT_EQ((*k2)->type(), KeyType::Ed25519);
}

TEST_F(KeyFiles, RefusesKeysOthersCanRead) {
  auto pem = generate_private_key(KeyType::Ed25519);
  ASSERT_TRUE(pem);
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    auto path = write("open.pem", *pem, mode);
    auto key = load_private_key(path);
    ASSERT_FALSE(key) << std::oct << mode;
    EXPECT_NE(key.error().message.find("chmod 600"), std::string::npos) << key.error().message;
  }
  EXPECT_TRUE(load_private_key(write("ok.pem", *pem, 0400)));
}

// A key file owned by neither root nor the daemon user is refused, with the
// chown that fixes it.  As root the file is given to another uid; otherwise
// the file is ours and another uid plays the daemon user.
TEST_F(KeyFiles, RefusesKeysOwnedByAnotherUser) {
  auto pem = generate_private_key(KeyType::Ed25519);
  ASSERT_TRUE(pem);
  auto path = write("owned.pem", *pem);
  uid_t owner = ::geteuid(), stranger = owner + 4242;
  if (owner == 0) {
    owner = 65534;
    ASSERT_EQ(::chown(path.c_str(), owner, static_cast<gid_t>(-1)), 0);
    stranger = 4242;
  }
  auto refused = load_private_key(path, stranger);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("owned by"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("chown "), std::string::npos) << refused.error().message;
  EXPECT_TRUE(load_private_key(path, owner));
  EXPECT_TRUE(check_key_owner(path, 0, stranger));  // root may own any key
  EXPECT_TRUE(check_key_owner(path, stranger, stranger));
  EXPECT_FALSE(check_key_owner(path, owner, stranger));
  auto unknown = daemon_uid("no-such-user-sigil-test");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("no such user"), std::string::npos);
  EXPECT_EQ(daemon_uid("").value(), ::geteuid());
}

TEST_F(KeyFiles, RefusesWhatIsNotAUsableKey) {
  struct Case {
    std::string name, text, want;
  } cases[] = {
      {"garbage.pem", "hello\n", "not a PEM private key"},
      {"empty.pem", "", "not a PEM private key"},
      {"pub.pem", "", "not a PEM private key"},
  };
  auto pem = generate_private_key(KeyType::Rsa, 1024);
  ASSERT_TRUE(pem);
  auto priv = write("for-pub.pem", *pem);
  cases[2].text = sh("openssl pkey -in " + priv + " -pubout");
  for (auto& c : cases) {
    auto r = load_private_key(write(c.name, c.text));
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().kind, ErrorKind::Config);
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.name), std::string::npos) << r.error().message;
  }
  // RFC 8301: below 1024 bits is refused.
  auto small = (dir_ / "small.pem").string();
  sh("openssl genrsa -out " + small + " 512 2>/dev/null; chmod 600 " + small);
  auto r = load_private_key(small);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("512 bits"), std::string::npos) << r.error().message;
  // Other algorithms are refused by name.
  auto ec = (dir_ / "ec.pem").string();
  sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + ec +
     "; chmod 600 " + ec);
  r = load_private_key(ec);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unsupported key type"), std::string::npos);
  // Missing file, directory.
  EXPECT_FALSE(load_private_key((dir_ / "missing.pem").string()));
  EXPECT_FALSE(load_private_key(dir_.string()));
  // Bad sizes for generation.
  EXPECT_FALSE(generate_private_key(KeyType::Rsa, 512));
  EXPECT_FALSE(generate_private_key(KeyType::Rsa, 16384));
}

TEST(ZoneFile, SplitsLongRecordsInto255ByteStrings) {
  std::string rec = "v=DKIM1; k=rsa; p=" + std::string(600, 'A');
  auto z = zone_file_record("s2026", "example.com", rec);
  EXPECT_EQ(z.rfind("s2026._domainkey.example.com. IN TXT ( \"", 0), 0u) << z;
  EXPECT_EQ(z.substr(z.size() - 3), "\" )");
  // Reassembled, the strings give the record back; none is over 255 bytes.
  std::string joined;
  std::size_t pos = 0, strings = 0;
  while ((pos = z.find('"', pos)) != std::string::npos) {
    auto end = z.find('"', pos + 1);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - pos - 1, 255u);
    joined += z.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    ++strings;
  }
  EXPECT_EQ(joined, rec);
  EXPECT_EQ(strings, 3u);
  EXPECT_EQ(zone_file_record("a", "b.example.", "v=DKIM1").find("b.example.."), std::string::npos);
}

}  // namespace
}  // namespace sigil::keys
