// tests/filter/key_watch_test.cpp — sigild's key watch (filter/app/key_watch.hpp)
// on a real event loop and the real resolver, its answers from [dns]
// static_records (no network) or from a loopback socket that never answers
// (a DNS error):
// the successor takes over only when its record matches; a DNS error after a
// reload keeps the previous decision; the metrics say so.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "filter/app/key_watch.hpp"
#include "filter/core/metrics.hpp"
#include "keys/private_key.hpp"
#include "keys/signing_table.hpp"

namespace sigil::filter {
namespace {

namespace fs = std::filesystem;

class KeyWatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    metrics::enable();
    dir_ = fs::temp_directory_path() / ("sigil-keywatch-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* name : {"a", "b", "other"}) {
      auto pem = keys::generate_private_key(keys::KeyType::Ed25519);
      ASSERT_TRUE(pem.ok());
      std::string p = (dir_ / (std::string(name) + ".pem")).string();
      std::ofstream(p) << *pem;
      ::chmod(p.c_str(), 0600);
      auto k = keys::load_private_key(p);
      ASSERT_TRUE(k.ok()) << k.error().message;
      records_[name] = (*k)->dns_record();
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // Keys a (successor b) and b of example.com; `dns` is the [dns] section.
  static std::shared_ptr<const conf::Config> config(const std::string& dns) {
    std::string text = "[[listener]]\naddress = \"127.0.0.1:10024\"\n[dkim_sign]\n"
                       "key_check_interval = 1\n";
    for (const char* name : {"a", "b"})
      text += "[[key]]\nname = \"" + std::string(name) + "\"\nfile = \"" +
              (dir_ / (std::string(name) + ".pem")).string() +
              "\"\ndomain = \"example.com\"\nselector = \"" + name + "\"\n" +
              (name[0] == 'a' ? "successor = \"b\"\n" : "");
    text += "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"a\"]\n" + dns;
    auto c = conf::load_string(text, "t.toml");
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c ? std::make_shared<const conf::Config>(std::move(*c)) : nullptr;
  }

  // [dns] answering b._domainkey.example.com with `record`.
  static std::string serving(const std::string& record) {
    return "[dns]\nstatic_records = [ { name = \"b._domainkey.example.com\", txt = \"" + record +
           "\" } ]\n";
  }

  static std::shared_ptr<const keys::SigningTable> table(const conf::Config& cfg) {
    auto t = keys::SigningTable::load(cfg);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t ? *t : nullptr;
  }

  // The key signing for a ("a" or "b") under the table's slot.
  static std::string signer(const keys::SigningTable& t) {
    return t.signer_for(0, t.in_effect().get().get()).name;
  }

  static inline fs::path dir_;
  static inline std::map<std::string, std::string> records_;
};

TEST_F(KeyWatchTest, SuccessorSignsOnlyOnceItsRecordMatches) {
  boost::asio::io_context io;
  KeyWatch watch(io.get_executor());

  auto cfg = config(serving(records_["other"]));  // another key's p= at b's name
  auto t1 = table(*cfg);
  watch.watch(t1, cfg);
  EXPECT_EQ(signer(*t1), "a") << "set at once, before any lookup";
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(signer(*t1), "a") << "a record that does not match never takes over";
  EXPECT_NE(metrics::text().find("sigil_dkim_keys_unpublished 1"), std::string::npos)
      << metrics::text();

  auto cfg2 = config(serving(records_["b"]));  // reload: b's own record now
  auto t2 = table(*cfg2);
  watch.watch(t2, cfg2);
  io.restart();
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(signer(*t2), "b");
  auto text = metrics::text();
  EXPECT_NE(text.find("sigil_dkim_keys_unpublished 0"), std::string::npos) << text;
  EXPECT_NE(text.find("sigil_dkim_key_switches_total{key=\"a\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("sigil_dkim_key_age_seconds{key=\"b\"}"), std::string::npos) << text;

  // Reload onto a resolver that only gets timeouts (a UDP socket of ours
  // that never answers): the slot is b at once, and stays b.
  int mute = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(mute, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::getsockname(mute, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  auto cfg3 = config("[dns]\nservers = [\"127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) +
                     "\"]\ntimeout_ms = 100\nattempts = 1\n");
  auto t3 = table(*cfg3);
  watch.watch(t3, cfg3);
  EXPECT_EQ(signer(*t3), "b") << "a reload does not go back to a while it looks up";
  io.restart();
  io.run_for(std::chrono::milliseconds(600));
  EXPECT_EQ(signer(*t3), "b") << "a DNS error keeps the previous decision";
  EXPECT_NE(metrics::text().find("sigil_dkim_key_switches_total{key=\"a\"} 1"), std::string::npos);

  watch.stop();
  ::close(mute);
  io.restart();
  io.run_for(std::chrono::seconds(2));
  EXPECT_TRUE(io.stopped()) << "stop() leaves the event loop nothing to wait for";
}

}  // namespace
}  // namespace sigil::filter
