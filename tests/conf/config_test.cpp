// tests/conf/config_test.cpp — configuration loading and validation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

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
