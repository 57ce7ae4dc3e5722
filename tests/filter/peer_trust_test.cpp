// Unit tests of filter/core/peer_trust.* : who a listener believes XFORWARD
// from, which MTAs a milter listener serves, and who
// smtp.max_sessions_per_client counts.  e2e.xforward_trust and
// e2e.client_limits run the same decisions in sigild.
#include "filter/core/peer_trust.hpp"

#include <gtest/gtest.h>

using namespace sigil;
using namespace sigil::filter;

namespace {

conf::Config config(const std::string& smtp, const std::string& listener) {
  auto c = conf::load_string("[smtp]\n" + smtp + "\n[[listener]]\n" + listener + "\n", "t.toml");
  EXPECT_TRUE(c) << c.error().message;
  return c ? c.value() : conf::Config{};
}

ClientInfo peer(const std::string& addr) {
  ClientInfo c;
  c.addr = addr;
  c.ip = conf::parse_ip(addr);
  return c;
}

}  // namespace

TEST(PeerTrust, XforwardOnlyFromTheListenersHosts) {
  auto dflt = config("", "address = \"127.0.0.1:10024\"");
  const auto& l = dflt.listeners[0];
  EXPECT_TRUE(xforward_trusted(l, peer("127.0.0.1")));
  EXPECT_TRUE(xforward_trusted(l, peer("::1")));
  EXPECT_FALSE(xforward_trusted(l, peer("192.0.2.7"))) << "default: loopback only";
  EXPECT_FALSE(xforward_trusted(l, peer("10.0.0.1")));

  auto one = config("", "address = \"0.0.0.0:10024\"\nxforward_hosts = [\"127.0.0.1/32\", \"10.0.0.5\"]");
  EXPECT_TRUE(xforward_trusted(one.listeners[0], peer("127.0.0.1")));
  EXPECT_TRUE(xforward_trusted(one.listeners[0], peer("10.0.0.5")));
  EXPECT_FALSE(xforward_trusted(one.listeners[0], peer("127.0.0.2")));
  EXPECT_FALSE(xforward_trusted(one.listeners[0], peer("10.0.0.6")));

  auto off = config("", "address = \"127.0.0.1:10024\"\naccept_xforward = false");
  EXPECT_FALSE(xforward_trusted(off.listeners[0], peer("127.0.0.1"))) << "accept_xforward = false";

  // A Unix socket: whoever unix_mode lets connect, unless XFORWARD is off.
  ClientInfo unix_peer;
  unix_peer.addr = "unix";
  auto ux = config("", "address = \"unix:/run/sigil/s.sock\"");
  EXPECT_TRUE(xforward_trusted(ux.listeners[0], unix_peer));
  auto ux_off = config("", "address = \"unix:/run/sigil/s.sock\"\nxforward_hosts = []");
  EXPECT_FALSE(xforward_trusted(ux_off.listeners[0], unix_peer));
}

TEST(PeerTrust, PerClientLimitSparesTheMtaAndMilterPeers) {
  auto c = config("max_sessions_per_client = 2",
                  "address = \"127.0.0.1:10024\"\nxforward_hosts = [\"127.0.0.1/32\"]");
  const auto& l = c.listeners[0];
  EXPECT_FALSE(over_client_limit(c.smtp, l, peer("127.0.0.2"), 0));
  EXPECT_FALSE(over_client_limit(c.smtp, l, peer("127.0.0.2"), 1));
  EXPECT_TRUE(over_client_limit(c.smtp, l, peer("127.0.0.2"), 2)) << "a third connection";
  EXPECT_FALSE(over_client_limit(c.smtp, l, peer("127.0.0.1"), 500)) << "the listener's MTA";

  auto off = config("max_sessions_per_client = 0", "address = \"127.0.0.1:10024\"");
  EXPECT_FALSE(over_client_limit(off.smtp, off.listeners[0], peer("192.0.2.7"), 5000));

  auto milter = config("max_sessions_per_client = 1",
                       "address = \"0.0.0.0:10030\"\nmode = \"milter\"");
  EXPECT_FALSE(over_client_limit(milter.smtp, milter.listeners[0], peer("192.0.2.7"), 9));

  ClientInfo unix_peer;
  unix_peer.addr = "unix";
  auto ux = config("max_sessions_per_client = 1", "address = \"unix:/run/sigil/s.sock\"");
  EXPECT_FALSE(over_client_limit(ux.smtp, ux.listeners[0], unix_peer, 9));
}

TEST(PeerTrust, MilterListenerServesOnlyItsMilterHosts) {
  auto dflt = config("", "address = \"0.0.0.0:10030\"\nmode = \"milter\"");
  const auto& l = dflt.listeners[0];
  EXPECT_TRUE(milter_peer_allowed(l, peer("127.0.0.1")));
  EXPECT_TRUE(milter_peer_allowed(l, peer("::1")));
  EXPECT_FALSE(milter_peer_allowed(l, peer("192.0.2.7"))) << "default: loopback only";

  auto one = config("", "address = \"0.0.0.0:10030\"\nmode = \"milter\"\n"
                        "milter_hosts = [\"127.0.0.1/32\", \"10.0.0.0/24\"]");
  EXPECT_TRUE(milter_peer_allowed(one.listeners[0], peer("10.0.0.9")));
  EXPECT_FALSE(milter_peer_allowed(one.listeners[0], peer("127.0.0.2")));

  ClientInfo unix_peer;
  unix_peer.addr = "unix";
  auto ux = config("", "address = \"unix:/run/sigil/m.sock\"\nmode = \"milter\"\nmilter_hosts = []");
  EXPECT_TRUE(milter_peer_allowed(ux.listeners[0], unix_peer)) << "unix_mode decides";

  // Other modes are not filtered here (XFORWARD trust is), and reject the key.
  auto smtp = config("", "address = \"127.0.0.1:10024\"");
  EXPECT_TRUE(milter_peer_allowed(smtp.listeners[0], peer("192.0.2.7")));
  auto bad = conf::load_string("[[listener]]\naddress = \"127.0.0.1:10024\"\nmilter_hosts = []\n", "t.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("milter_hosts: only for mode = \"milter\""), std::string::npos)
      << bad.error().message;
}
