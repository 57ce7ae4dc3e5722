// tests/dns/dns_config_test.cpp — the [dns] table and resolv.conf parsing
// (pure: no sockets).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "conf/config.hpp"
#include "dns/resolver.hpp"
#include "dns/run_query.hpp"

using namespace sigil;
using sigil::test::run;

namespace {
const char* kMinimal = "[[listener]]\naddress = \"127.0.0.1:10024\"\n";
}  // namespace

TEST(DnsConfig, DefaultsWhenAbsent) {
  auto r = conf::load_string(kMinimal, "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& d = r->dns;
  EXPECT_TRUE(d.servers.empty());
  EXPECT_EQ(d.timeout.count(), 2000);
  EXPECT_EQ(d.attempts, 2u);
  EXPECT_EQ(d.max_concurrent, 256u);
  EXPECT_EQ(d.max_concurrent_per_domain, 0u);  // the resolver takes max_concurrent / 8
  EXPECT_EQ(d.negative_ttl.count(), 300);
  EXPECT_EQ(d.max_ttl.count(), 86400);
  EXPECT_EQ(d.cache_entries, 10000u);
  EXPECT_TRUE(d.static_records.empty());
}

TEST(DnsConfig, ParsesEveryKey) {
  auto r = conf::load_string(std::string(kMinimal) +
                                 "[dns]\n"
                                 "servers = [\"127.0.0.1:5353\", \"[::1]:53\", \"10.0.0.1\", \"[::2]\"]\n"
                                 "timeout_ms = 500\nattempts = 3\nmax_concurrent = 8\nmax_concurrent_per_domain = 3\n"
                                 "negative_ttl = 60\nmax_ttl = 3600\ncache_entries = 100\n"
                                 "static_records = [\n"
                                 "  { name = \"Sel._domainkey.Example.COM.\", txt = \"v=DKIM1; p=\" },\n"
                                 "]\n",
                             "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& d = r->dns;
  ASSERT_EQ(d.servers.size(), 4u);
  struct Want {
    std::string host;
    std::uint16_t port;
  } want[] = {{"127.0.0.1", 5353}, {"::1", 53}, {"10.0.0.1", 53}, {"::2", 53}};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(d.servers[i].host, want[i].host) << "server " << i;
    EXPECT_EQ(d.servers[i].port, want[i].port) << "server " << i;
  }
  EXPECT_EQ(d.timeout.count(), 500);
  EXPECT_EQ(d.attempts, 3u);
  EXPECT_EQ(d.max_concurrent, 8u);
  EXPECT_EQ(d.max_concurrent_per_domain, 3u);
  EXPECT_EQ(d.negative_ttl.count(), 60);
  EXPECT_EQ(d.max_ttl.count(), 3600);
  EXPECT_EQ(d.cache_entries, 100u);
  ASSERT_EQ(d.static_records.size(), 1u);
  EXPECT_EQ(d.static_records[0].name, "sel._domainkey.example.com");
  EXPECT_EQ(d.static_records[0].txt, "v=DKIM1; p=");
}

TEST(DnsConfig, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string dns, want;
  } cases[] = {
      {"servers = [\"127.0.0.1:53\"]\ntimout_ms = 5\n", "t.toml:5:dns.timout_ms: unknown key"},
      {"servers = \"127.0.0.1\"\n", "t.toml:4:dns.servers: must be an array of strings"},
      {"servers = [\"127.0.0.1:53\",\n \"dns.example.com\"]\n", "t.toml:5:dns.servers: bad DNS server 'dns.example.com'"},
      {"servers = [\"::1:53\"]\n", "t.toml:4:dns.servers: bad DNS server"},
      {"servers = [\"127.0.0.1:0\"]\n", "t.toml:4:dns.servers: bad DNS server"},
      {"timeout_ms = 0\n", "t.toml:4:dns.timeout_ms: out of range"},
      {"attempts = \"two\"\n", "t.toml:4:dns.attempts: must be an integer"},
      {"attempts = 0\n", "t.toml:4:dns.attempts: out of range"},
      {"max_concurrent = 0\n", "t.toml:4:dns.max_concurrent: out of range"},
      {"negative_ttl = -1\n", "t.toml:4:dns.negative_ttl: out of range"},
      {"cache_entries = 1.5\n", "t.toml:4:dns.cache_entries: must be an integer"},
      {"static_records = \"x\"\n", "t.toml:4:dns.static_records: must be an array of tables"},
      {"static_records = [ { name = \"a.example\" } ]\n", "t.toml:4:dns.static_records[0].txt: missing"},
      {"static_records = [ { txt = \"x\" } ]\n", "t.toml:4:dns.static_records[0].name: missing"},
      {"static_records = [\n { name = \"a b.example\", txt = \"x\" } ]\n",
       "t.toml:5:dns.static_records[0].name: 'a b.example' is not a valid DNS name"},
      {"static_records = [ { name = \"a.example\", txt = \"x\", ttl = 5 } ]\n",
       "t.toml:4:dns.static_records[0].ttl: unknown key"},
      {"static_records = [ { name = \"a.example\", txt = 5 } ]\n",
       "t.toml:4:dns.static_records[0].txt: must be a string"},
  };
  for (const auto& c : cases) {
    auto r = conf::load_string(std::string(kMinimal) + "[dns]\n" + c.dns, "t.toml");
    std::string got = r ? "(loaded)" : r.error().message;
    EXPECT_NE(got.find(c.want), std::string::npos)
        << "config:\n" << c.dns << "got: " << got << "\nwant: " << c.want;
  }
  auto r = conf::load_string("dns = 5\n" + std::string(kMinimal), "t.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("t.toml:1:dns: must be a table"), std::string::npos)
      << "got " << r.error().message;
}

TEST(DnsResolvConf, NameserverLines) {
  struct Case {
    std::string text;
    std::vector<std::string> want;
  } cases[] = {
      {"", {}},
      {"nameserver 127.0.0.1\n", {"127.0.0.1"}},
      {"# comment\nsearch example.com\nnameserver 192.0.2.1\nnameserver ::1\noptions ndots:2\n",
       {"192.0.2.1", "::1"}},
      {"  nameserver\t10.0.0.2  # trailing\n", {"10.0.0.2"}},
      {"nameserver dns.example.com\nnameserver fe80::1%eth0\nnameserver\nnameserver 10.1.1.1",
       {"10.1.1.1"}},
  };
  for (const auto& c : cases) {
    auto got = dns::parse_resolv_conf(c.text);
    std::vector<std::string> g;
    for (auto& s : got) {
      g.push_back(s.address.to_string());
      EXPECT_EQ(s.port, 53);
    }
    EXPECT_EQ(g, c.want) << "resolv.conf: " << c.text;
  }
}


// No network needed: static records, bad names and the no-server case
// never send a packet.
TEST(DnsResolver, StaticRecordsBadNamesAndNoServer) {
  boost::asio::io_context io;
  conf::DnsConfig cfg;
  cfg.static_records = {{"sel._domainkey.example.com", "v=DKIM1; p=AAAA"},
                        {"multi.example", "one"},
                        {"multi.example", "two"}};
  // Nothing is configured and the resolv.conf is empty: no server at all.
  dns::Resolver r(io.get_executor(), cfg, "/dev/null");
  EXPECT_TRUE(r.servers().empty());
  struct Case {
    std::string name;
    dns::Status want;
    std::vector<std::string> records;
    std::string reason;
  } cases[] = {
      {"sel._domainkey.example.com", dns::Status::Ok, {"v=DKIM1; p=AAAA"}, "static"},
      {"SEL._domainkey.Example.com.", dns::Status::Ok, {"v=DKIM1; p=AAAA"}, "static"},
      {"multi.example", dns::Status::Ok, {"one", "two"}, "static"},
      {"other.example", dns::Status::Retry, {}, "no DNS server configured"},
      {"", dns::Status::Fail, {}, "bad DNS name"},
      {"a..example", dns::Status::Fail, {}, "bad DNS name"},
      {"a b.example", dns::Status::Fail, {}, "bad DNS name"},
      {"x\\.example", dns::Status::Fail, {}, "bad DNS name"},
      {std::string(64, 'a') + ".example", dns::Status::Fail, {}, "bad DNS name"},
  };
  for (const auto& c : cases) {
    auto a = run(r, io, c.name);
    EXPECT_EQ(a.status, c.want) << c.name << ": got " << dns::to_string(a.status) << ", want "
                                << dns::to_string(c.want) << " (" << a.reason << ")";
    EXPECT_EQ(a.records, c.records) << c.name;
    EXPECT_NE(a.reason.find(c.reason), std::string::npos)
        << c.name << ": got reason '" << a.reason << "', want it to contain '" << c.reason
        << "'";
  }
  EXPECT_EQ(r.stats().queries_sent, 0u);
}
