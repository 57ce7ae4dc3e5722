// tests/filter/relay_test.cpp — the relay core end to end, in process: a real
// Server on loopback, a blocking SMTP client, and a scripted back-end for the
// faults (test_peer.hpp).  The Postfix-driven tests are in tests/e2e/.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "conf/config.hpp"
#include "filter/core/log.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/app/wiring.hpp"
#include "filter/core/policy.hpp"
#include "filter/net/server.hpp"
#include "filter/stages/registry.hpp"
#include "filter/test_peer.hpp"

namespace sigil::filter {
namespace {

using namespace std::chrono_literals;
using test::ClientReply;
using test::ScriptedBackend;
using test::SmtpClient;

// ------------------------------------------------------------------ helpers

struct ConfigOpts {
  std::string target{};
  std::string smtp_extra{};     // lines appended to [smtp]
  std::string forward_extra{};  // lines appended to [forward]
  std::string listeners{};      // replaces the default listener block
  std::string tail{};           // banks, networks
  std::string spool = "/tmp";
  int reply_timeout = 5;
};

std::string make_config(const ConfigOpts& o) {
  std::string s = "[daemon]\nlog_level = \"warn\"\ndrain_timeout = 3\nspool_dir = \"" + o.spool +
                  "\"\nmemory_threshold = 65536\n"
                  "[smtp]\nhostname = \"sigil.test\"\n" +
                  o.smtp_extra +
                  "\n[forward]\ntarget = \"" + o.target +
                  "\"\nconnect_timeout = 2\nreply_timeout = " + std::to_string(o.reply_timeout) + "\n" +
                  o.forward_extra + "\n";
  if (o.listeners.empty())
    s += "[[listener]]\nname = \"in\"\naddress = \"127.0.0.1:0\"\nbank = \"default\"\n";
  else
    s += o.listeners;
  s += "\n[bank.default]\nstages = []\n" + o.tail;
  return s;
}

std::string smtp_target(const ScriptedBackend& b, bool lmtp = false) {
  return std::string(lmtp ? "lmtp" : "smtp") + ":[127.0.0.1]:" + std::to_string(b.port());
}

// The daemon, in process: Server + io_context on a thread of its own.
class Relay {
 public:
  explicit Relay(const std::string& toml, const StageFactory& f = builtin_stages(),
                 std::string path = "")
      : factory_(f) {
    auto cfg = conf::load_string(toml, "relay_test.toml");
    if (!cfg) throw std::runtime_error("bad test config: " + cfg.error().message);
    log::init(cfg->daemon.log_level);
    server_ = std::make_unique<Server>(io_, std::move(path), sigild_wiring(factory_));
    auto st = server_->start(std::make_shared<const conf::Config>(std::move(cfg.value())));
    if (!st) throw std::runtime_error("start: " + st.error().message);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Relay() {
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
    server_.reset();
  }
  std::uint16_t port(std::size_t i = 0) const { return server_->bound_ports().at(i); }
  // Runs fn on the server's thread and waits for it.
  template <typename F>
  void on_server(F fn) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      fn(*server_);
      done.set_value();
    });
    done.get_future().wait();
  }
  // True when the io_context stopped by itself (drain finished) in time.
  bool exits_within(std::chrono::milliseconds t) {
    auto end = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < end) {
      if (io_.stopped()) {
        thread_.join();
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  const StageFactory& factory_;
  boost::asio::io_context io_{1};
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

const std::string kMessage =
    "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n"
    "Message-ID: <1@example.org>\r\n\r\nHello.\r\n";

// EHLO (or LHLO) then a whole transaction; returns the final reply(ies).
struct Txn {
  std::string from = "a@example.org";
  std::vector<std::string> rcpts = {"b@example.net"};
  std::string body = kMessage;  // canonical; dot-stuffed here
};

std::string stuff(const std::string& s) {
  std::string out;
  bool bol = true;
  for (char c : s) {
    if (bol && c == '.') out += '.';
    out += c;
    bol = c == '\n';
  }
  return out;
}

void greet(SmtpClient& c, bool lmtp = false) {
  ASSERT_EQ(c.read().code, 220);
  ASSERT_EQ(c.cmd(std::string(lmtp ? "LHLO" : "EHLO") + " client.test").code, 250);
}

// Sends a transaction after the greeting; returns the replies to the dot
// (one for SMTP, one per accepted recipient for LMTP).
std::vector<ClientReply> send_txn(SmtpClient& c, const Txn& t, bool lmtp = false,
                                  std::chrono::milliseconds timeout = 10s) {
  std::vector<ClientReply> out;
  EXPECT_EQ(c.cmd("MAIL FROM:<" + t.from + ">").code, 250);
  std::size_t ok = 0;
  for (auto& r : t.rcpts) ok += c.cmd("RCPT TO:<" + r + ">").code == 250 ? 1 : 0;
  auto d = c.cmd("DATA");
  EXPECT_EQ(d.code, 354);
  if (d.code != 354) return out;
  c.send(stuff(t.body) + ".\r\n");
  std::size_t n = lmtp ? ok : 1;
  for (std::size_t i = 0; i < n; ++i) out.push_back(c.read(timeout));
  return out;
}

// The usual setup: a scripted back-end, the relay forwarding to it, and a
// greeted client.
struct Rig {
  ScriptedBackend be;
  Relay relay;
  SmtpClient c;
  explicit Rig(ScriptedBackend::Script sc = {}, ConfigOpts o = {}, bool lmtp = false,
               const StageFactory& f = builtin_stages())
      : be(std::move(sc)), relay(config_for(be, std::move(o)), f), c(relay.port()) {
    greet(c, lmtp);
  }
  static std::string config_for(const ScriptedBackend& b, ConfigOpts o) {
    if (o.target.empty()) o.target = smtp_target(b);
    return make_config(o);
  }
};

ScriptedBackend::Script with_rcpt_replies() {
  ScriptedBackend::Script sc;
  sc.rcpt_reply = [](const std::string& a) -> std::string {
    if (a.rfind("temp", 0) == 0) return "450 4.2.0 <" + a + ">: mailbox busy";
    if (a.rfind("perm", 0) == 0) return "550 5.1.1 <" + a + ">: no such user";
    return "250 2.1.5 Ok";
  };
  return sc;
}

bool has(const std::vector<std::string>& v, std::string_view needle) {
  for (auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

// ------------------------------------------------------------- the basics

TEST(Relay, RepliesOnlyAfterBackendAcceptedAndQuotesIt) {
  ScriptedBackend::Script sc;
  sc.final_reply = "250 2.0.0 Ok: queued as 4XyZ";
  sc.reply_delay = 300ms;
  Rig rig(sc);
  auto& [be, relay, c] = rig;
  Txn t;
  t.body = "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nend\r\n";
  auto start = std::chrono::steady_clock::now();
  auto r = send_txn(c, t);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250);
  EXPECT_NE(r[0].text().find("back-end said: 250 2.0.0 Ok: queued as 4XyZ"), std::string::npos)
      << r[0].text();
  // "2.0.0 <12-character log id> Ok..."
  ASSERT_GT(r[0].text().size(), 19u);
  EXPECT_EQ(r[0].text().find_first_not_of("0123456789BCDFGHJKLMNPQRSTVWXYZ", 6), 18u)
      << r[0].text();
  // The 250 could only be sent after the back-end's delayed reply.
  EXPECT_GE(took, 300ms);
  ASSERT_EQ(be.completed(), 1u);
  auto txn = be.transactions()[0];
  // Dot-stuffing is undone on input and redone on output: same wire bytes.
  EXPECT_EQ(txn.data, stuff(t.body));
  EXPECT_NE(txn.mail.find("<a@example.org>"), std::string::npos);
  ASSERT_EQ(txn.rcpts.size(), 1u);
  EXPECT_EQ(c.cmd("QUIT").code, 221);
}

TEST(Relay, EhloAdvertisesTheExtensions) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  SmtpClient c(relay.port());
  ASSERT_EQ(c.read().code, 220);
  auto r = c.cmd("EHLO client.test");
  ASSERT_EQ(r.code, 250);
  for (auto ext : {"PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                   "DSN", "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"})
    EXPECT_TRUE(has(r.lines, ext)) << ext << "\n" << r.text();
  EXPECT_EQ(c.cmd("NOOP").code, 250);
  EXPECT_EQ(c.cmd("VRFY x").code, 252);
  EXPECT_EQ(c.cmd("BDAT 10 LAST").code, 502);
  EXPECT_EQ(c.cmd("RSET").code, 250);
}

TEST(Relay, CommandSequenceErrors) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  SmtpClient c(relay.port());
  ASSERT_EQ(c.read().code, 220);
  EXPECT_EQ(c.cmd("MAIL FROM:<a@x>").code, 503);  // before EHLO
  EXPECT_EQ(c.cmd("EHLO x").code, 250);
  EXPECT_EQ(c.cmd("RCPT TO:<b@x>").code, 503);  // before MAIL
  EXPECT_EQ(c.cmd("DATA").code, 503);
  EXPECT_EQ(c.cmd("MAIL FROM:<a@x>").code, 250);
  EXPECT_EQ(c.cmd("MAIL FROM:<a@x>").code, 503);  // nested
  EXPECT_EQ(c.cmd("DATA").code, 554);             // no recipients
  EXPECT_EQ(c.cmd("RCPT TO:<b@x> FOO=BAR").code, 555);
  EXPECT_EQ(c.cmd("RCPT TO:<b\xc3\xa9@x>").code, 553);  // UTF-8 without SMTPUTF8
  EXPECT_EQ(c.cmd("RSET").code, 250);
  EXPECT_EQ(c.cmd("MAIL FROM:<a\xc3\xa9@x> SMTPUTF8").code, 250);
  EXPECT_EQ(c.cmd("RCPT TO:<b\xc3\xa9@x>").code, 250);
  EXPECT_EQ(be.completed(), 0u);
}

// ------------------------------------------ two-phase commit: the replies

TEST(Relay, SmtpFrontOneRecipientDeferredTempfailsAllAndSendsNoData) {
  Rig rig(with_rcpt_replies());
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {.rcpts = {"ok@x.test", "temp@x.test", "perm@x.test"}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code / 100, 4) << r[0].text();
  EXPECT_NE(r[0].text().find("mailbox busy"), std::string::npos) << r[0].text();
  // Nothing was delivered, so the front MTA's retry cannot duplicate anything.
  EXPECT_EQ(be.completed(), 0u);
  // The back-end offers PIPELINING, so DATA went in the envelope batch and
  // got 354: the transaction is abandoned by closing that connection before
  // any data (an RSET is impossible inside DATA; a lone dot would deliver).
  auto cmds = be.commands();
  EXPECT_TRUE(has(cmds, "DATA"));
  EXPECT_FALSE(has(cmds, "RSET"));
  // The next message gets a fresh, working connection.
  auto again = send_txn(c, {.rcpts = {"ok@x.test"}});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].code, 250) << again[0].text();
  EXPECT_EQ(be.completed(), 1u);
}

TEST(Relay, SmtpFrontSomeRecipientsRefusedFiveHundredDeliversTheRest) {
  Rig rig(with_rcpt_replies());
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {.rcpts = {"ok@x.test", "perm@x.test", "ok2@x.test"}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250) << r[0].text();
  EXPECT_NE(r[0].text().find("2 of 3 recipients, DSN sent for 1"), std::string::npos) << r[0].text();
  // The message to the two others, then the DSN for the refused one, from <>
  // to the sender, quoting the back-end's refusal (answered only after it).
  ASSERT_EQ(be.completed(), 2u);
  const auto txns = be.transactions();
  EXPECT_EQ(txns[0].rcpts.size(), 2u);
  const auto& dsn = txns[1];
  EXPECT_NE(dsn.mail.find("MAIL FROM:<>"), std::string::npos) << dsn.mail;
  EXPECT_NE(dsn.rcpts.back().find("RCPT TO:<a@example.org>"), std::string::npos);
  EXPECT_NE(dsn.data.find("Final-Recipient: rfc822; perm@x.test\r\n"), std::string::npos);
  EXPECT_NE(dsn.data.find("Diagnostic-Code: smtp; 550 5.1.1 <perm@x.test>: no such user\r\n"),
            std::string::npos);
}

TEST(Relay, SmtpFrontAllRecipientsRefusedRelaysTheFiveHundred) {
  Rig rig(with_rcpt_replies());
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {.rcpts = {"perm1@x.test", "perm2@x.test"}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 550) << r[0].text();
  EXPECT_NE(r[0].text().find("5.1.1"), std::string::npos);
  EXPECT_NE(r[0].text().find("no such user"), std::string::npos);
  EXPECT_EQ(be.completed(), 0u);
}

TEST(Relay, LmtpFrontGetsOneReplyPerRecipient) {
  Rig rig(with_rcpt_replies(), {}, /*lmtp=*/true);
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {.rcpts = {"ok@x.test", "temp@x.test", "perm@x.test", "ok2@x.test"}},
                    /*lmtp=*/true);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].code, 250);
  EXPECT_EQ(r[1].code, 450);
  EXPECT_EQ(r[2].code, 550);
  EXPECT_EQ(r[3].code, 250);
  EXPECT_NE(r[1].text().find("<temp@x.test>"), std::string::npos) << r[1].text();
  EXPECT_NE(r[2].text().find("no such user"), std::string::npos) << r[2].text();
  // The accepted recipients were delivered once; the deferred one will be
  // retried by the front alone.
  ASSERT_EQ(be.completed(), 1u);
  EXPECT_EQ(be.transactions()[0].rcpts.size(), 2u);
}

TEST(Relay, LmtpBackendPerRecipientRepliesAfterData) {
  ScriptedBackend::Script sc;
  sc.lmtp = true;
  sc.lmtp_reply = [](const std::string& a) -> std::string {
    if (a.rfind("quota", 0) == 0) return "452 4.2.2 <" + a + ">: over quota";
    if (a.rfind("gone", 0) == 0) return "550 5.1.1 <" + a + ">: gone";
    return "250 2.0.0 <" + a + "> delivered";
  };
  ScriptedBackend be(sc);
  Relay relay(make_config({.target = smtp_target(be, /*lmtp=*/true)}));
  {
    // LMTP front: each recipient keeps the back-end's own verdict.
    SmtpClient c(relay.port());
    greet(c, true);
    auto r = send_txn(c, {.rcpts = {"a@x.test", "quota@x.test", "gone@x.test"}}, true);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].code, 250);
    EXPECT_EQ(r[1].code, 452);
    EXPECT_EQ(r[2].code, 550);
  }
  {
    // SMTP front: a recipient deferred after the data cannot be answered
    // alone: the whole message is tempfailed (a duplicate for the accepted
    // one is possible, a loss is not).
    SmtpClient c(relay.port());
    greet(c);
    auto r = send_txn(c, {.rcpts = {"a@x.test", "quota@x.test"}});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 452) << r[0].text();
    EXPECT_NE(r[0].text().find("deferred"), std::string::npos) << r[0].text();
  }
  {
    // SMTP front, all delivered.
    SmtpClient c(relay.port());
    greet(c);
    auto r = send_txn(c, {.rcpts = {"a@x.test", "b@x.test"}});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 250) << r[0].text();
  }
}

TEST(Relay, BackendDataRepliesAreRelayed) {
  for (auto [reply, code] : std::vector<std::pair<std::string, int>>{
           {"451 4.3.0 Error: queue file write error", 451},
           {"554 5.7.1 Error: content rejected", 554},
           // The back-end's 421 closes *its* channel: the front gets 451.
           {"421 4.3.2 Service shutting down", 451}}) {
    ScriptedBackend::Script sc;
    sc.final_reply = reply;
    Rig rig(sc);
    auto& [be, relay, c] = rig;
    auto r = send_txn(c, {});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, code) << r[0].text();
    EXPECT_NE(r[0].text().find(reply.substr(4)), std::string::npos) << r[0].text();
  }
  // A 4xx/5xx to DATA itself (before any byte is sent).
  ScriptedBackend::Script sc;
  sc.data_go = "452 4.3.1 Insufficient system storage";
  Rig rig(sc);
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 452) << r[0].text();
}

TEST(Relay, BackendDownIsATempfail) {
  auto dead = test::free_port();
  Relay relay(make_config({.target = "smtp:[127.0.0.1]:" + std::to_string(dead)}));
  SmtpClient c(relay.port());
  greet(c);
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 451) << r[0].text();
  EXPECT_NE(r[0].text().find("4.4.1"), std::string::npos) << r[0].text();
  // The session survives and can try again.
  EXPECT_EQ(c.cmd("NOOP").code, 250);
}

TEST(Relay, BackendGreetingRefusalIsATempfail) {
  ScriptedBackend::Script sc;
  sc.greeting = "554 5.3.2 not accepting mail";
  Rig rig(sc);
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code / 100, 4) << r[0].text();
}

TEST(Relay, BackendSilentAfterDotTimesOutAsUncertainTempfail) {
  ScriptedBackend::Script sc;
  sc.after_dot = ScriptedBackend::AfterDot::Hang;
  ScriptedBackend be(sc);
  Relay relay(make_config({.target = smtp_target(be), .reply_timeout = 1}));
  SmtpClient c(relay.port());
  greet(c);
  auto start = std::chrono::steady_clock::now();
  auto r = send_txn(c, {}, false, 20s);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 451) << r[0].text();
  EXPECT_NE(r[0].text().find("4.4.2"), std::string::npos) << r[0].text();
  EXPECT_LT(took, 10s);
  EXPECT_EQ(be.completed(), 1u);  // the back-end did get it: the front will retry (duplicate)
}

TEST(Relay, BackendClosingAfterDotIsAnUncertainTempfail) {
  ScriptedBackend::Script sc;
  sc.after_dot = ScriptedBackend::AfterDot::Close;
  Rig rig(sc);
  auto& [be, relay, c] = rig;
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 451) << r[0].text();
  EXPECT_NE(r[0].text().find("4.4.2"), std::string::npos) << r[0].text();
}

TEST(Relay, BackendConnectionsAreReused) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  for (int i = 0; i < 5; ++i) {
    SmtpClient c(relay.port());
    greet(c);
    auto r = send_txn(c, {});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 250);
    EXPECT_EQ(c.cmd("QUIT").code, 221);
  }
  EXPECT_EQ(be.completed(), 5u);
  EXPECT_EQ(be.connections(), 1);
}

// A back-end restarted while sigild holds several connections to it cached:
// every one is dead.  The first found dead drops them all and the message
// goes on a new connection; the client never sees the restart.
TEST(Relay, BackendRestartDeadCachedConnectionsAreNotReused) {
  ScriptedBackend::Script sc;
  sc.port = sigil::test::free_port();
  sc.reply_delay = 300ms;  // the three transactions overlap: three connections
  auto be = std::make_unique<ScriptedBackend>(sc);
  Relay relay(make_config({.target = smtp_target(*be)}));
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&] {
      SmtpClient c(relay.port());
      greet(c);
      auto r = send_txn(c, {});
      if (r.size() == 1 && r[0].code == 250) ++ok;
      c.cmd("QUIT");
    });
  for (auto& t : ts) t.join();
  ASSERT_EQ(ok.load(), 3);
  ASSERT_EQ(be->connections(), 3) << "want three cached back-end connections";
  be.reset();  // the back-end goes: its end of every cached connection closes
  sc.reply_delay = 0ms;
  ScriptedBackend again(sc);
  SmtpClient c(relay.port());
  greet(c);
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250) << r[0].text();
  EXPECT_EQ(again.completed(), 1u);
  EXPECT_EQ(again.connections(), 1);
}

TEST(Relay, XforwardAndDsnParametersArePassedThrough) {
  Rig rig;
  auto& [be, relay, c] = rig;
  EXPECT_EQ(c.cmd("XFORWARD NAME=mx.example.org ADDR=192.0.2.7 PORT=40000 PROTO=ESMTP").code, 250);
  EXPECT_EQ(c.cmd("XFORWARD HELO=mx.example.org SOURCE=REMOTE IDENT=ABC123").code, 250);
  EXPECT_EQ(c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159 BODY=8BITMIME").code, 250);
  EXPECT_EQ(c.cmd("RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net")
                .code,
            250);
  ASSERT_EQ(c.cmd("DATA").code, 354);
  c.send(kMessage + ".\r\n");
  EXPECT_EQ(c.read().code, 250);
  ASSERT_EQ(be.completed(), 1u);
  auto t = be.transactions()[0];
  std::string xf;
  for (auto& l : t.xforward) xf += l + "\n";
  for (auto attr : {"NAME=mx.example.org", "ADDR=192.0.2.7", "PORT=40000", "PROTO=ESMTP",
                    "HELO=mx.example.org", "SOURCE=REMOTE", "IDENT=ABC123"})
    EXPECT_NE(xf.find(attr), std::string::npos) << attr << " in " << xf;
  EXPECT_NE(t.mail.find("RET=HDRS"), std::string::npos) << t.mail;
  EXPECT_NE(t.mail.find("ENVID=QQ314159"), std::string::npos) << t.mail;
  EXPECT_NE(t.mail.find("BODY=8BITMIME"), std::string::npos) << t.mail;
  ASSERT_EQ(t.rcpts.size(), 1u);
  EXPECT_NE(t.rcpts[0].find("NOTIFY=SUCCESS,FAILURE"), std::string::npos) << t.rcpts[0];
  EXPECT_NE(t.rcpts[0].find("ORCPT=rfc822;b@example.net"), std::string::npos) << t.rcpts[0];
}

TEST(Relay, XforwardIsRefusedOnAnUntrustedListener) {
  ScriptedBackend be({});
  Relay relay(make_config(
      {.target = smtp_target(be),
       .listeners = "[[listener]]\nname = \"in\"\naddress = \"127.0.0.1:0\"\n"
                    "accept_xforward = false\n"}));
  SmtpClient c(relay.port());
  ASSERT_EQ(c.read().code, 220);
  auto e = c.cmd("EHLO x");
  EXPECT_FALSE(has(e.lines, "XFORWARD"));
  auto x = c.cmd("XFORWARD ADDR=192.0.2.7");
  EXPECT_EQ(x.code, 550);
  EXPECT_TRUE(has(x.lines, "5.7.0")) << "Postfix's reply to an unauthorized XFORWARD";
}

// ------------------------------------------------------------- bad input

TEST(Relay, ClientDisconnectMidDataForwardsNothing) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  {
    SmtpClient c(relay.port());
    greet(c);
    EXPECT_EQ(c.cmd("MAIL FROM:<a@x.test>").code, 250);
    EXPECT_EQ(c.cmd("RCPT TO:<b@x.test>").code, 250);
    ASSERT_EQ(c.cmd("DATA").code, 354);
    c.send("Subject: cut\r\n\r\nhalf a mess");
  }  // closed here
  std::this_thread::sleep_for(200ms);
  // Still serving; nothing reached the back-end for the cut message.
  SmtpClient c(relay.port());
  greet(c);
  auto r = send_txn(c, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250);
  ASSERT_EQ(be.completed(), 1u);
  EXPECT_EQ(be.transactions()[0].data, kMessage);
}

TEST(Relay, MessageLargerThanSizeIsRefused) {
  Rig rig({}, {.smtp_extra = "max_message_size = 10000"});
  auto& [be, relay, c] = rig;
  // Declared too big: refused at MAIL.
  auto m = c.cmd("MAIL FROM:<a@x.test> SIZE=20000");
  EXPECT_EQ(m.code, 552) << m.text();
  // Undeclared: read to the end, then refused; the session goes on.
  Txn big;
  big.body = "Subject: big\r\n\r\n" + std::string(30000, 'x') + "\r\n";
  auto r = send_txn(c, big);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 552) << r[0].text();
  EXPECT_NE(r[0].text().find("5.3.4"), std::string::npos);
  EXPECT_EQ(be.completed(), 0u);
  auto ok = send_txn(c, {});
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].code, 250);
  EXPECT_EQ(be.completed(), 1u);
}

TEST(Relay, LongHeaderSectionIsRefused) {
  Rig rig({}, {.smtp_extra = "max_header_size = 2048"});
  auto& [be, relay, c] = rig;
  Txn t;
  t.body = "Subject: x\r\nX-Long: " + std::string(4000, 'h') + "\r\n\r\nbody\r\n";
  auto r = send_txn(c, t);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 552) << r[0].text();
  EXPECT_EQ(be.completed(), 0u);
}

TEST(Relay, SpooledMessageIsRelayedIntact) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));  // memory_threshold 64 KiB
  SmtpClient c(relay.port());
  greet(c);
  std::string body = "Subject: big\r\n\r\n";
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i)
    body += (i % 7 == 0 ? "." : "") + std::to_string(i) + " the quick brown fox\r\n";
  auto r = send_txn(c, {.body = body}, false, 30s);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250);
  ASSERT_EQ(be.completed(), 1u);
  EXPECT_EQ(be.transactions()[0].data, stuff(body));
}

TEST(Relay, TenThousandRecipientsPipelined) {
  Rig rig({}, {.smtp_extra = "max_recipients = 10000"});
  auto& [be, relay, c] = rig;
  std::string batch = "MAIL FROM:<a@x.test>\r\n";
  for (int i = 0; i < 10001; ++i) batch += "RCPT TO:<r" + std::to_string(i) + "@x.test>\r\n";
  c.send(batch);
  EXPECT_EQ(c.read().code, 250);
  int ok = 0;
  for (int i = 0; i < 10000; ++i) ok += c.read().code == 250 ? 1 : 0;
  EXPECT_EQ(ok, 10000);
  auto over = c.read();
  EXPECT_EQ(over.code, 452) << over.text();  // the 10,001st: recipient limit
  ASSERT_EQ(c.cmd("DATA").code, 354);
  c.send(kMessage + ".\r\n");
  auto r = c.read(60s);
  EXPECT_EQ(r.code, 250) << r.text();
  ASSERT_EQ(be.completed(), 1u);
  EXPECT_EQ(be.transactions()[0].rcpts.size(), 10000u);
}

TEST(Relay, PipelinedCommandsGetTheirRepliesInOrder) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  SmtpClient c(relay.port());
  ASSERT_EQ(c.read().code, 220);
  // Everything up to DATA in one write (RFC 2920), then data + next MAIL +
  // QUIT in one write.
  c.send("EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n");
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 354);
  c.send(kMessage + ".\r\nMAIL FROM:<d@x.test>\r\nRCPT TO:<e@x.test>\r\nDATA\r\n");
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 354);
  c.send(kMessage + ".\r\nQUIT\r\n");
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(c.read().code, 221);
  EXPECT_TRUE(c.closed_within(2s));
  EXPECT_EQ(be.completed(), 2u);
}

// Each sequence would end the data for a lenient server; for Sigil only
// CRLF.CRLF ends it, and any bare CR or LF refuses the whole message, so the
// "smuggled" second message is neither delivered nor executed as commands.
TEST(Relay, SmugglingSequencesNeverEndDataOrDeliver) {
  ScriptedBackend be({});
  Relay relay(make_config({.target = smtp_target(be)}));
  for (std::string seq : {std::string("\n.\n"), std::string("\r.\r"), std::string("\n.\r\n"),
                          std::string("\r\n.\n"), std::string("\r\n.\r"), std::string("\r.\r\n"),
                          std::string("\r\n\0.\r\n", 6)}) {
    SCOPED_TRACE(testing::PrintToString(seq));
    SmtpClient c(relay.port());
    greet(c);
    EXPECT_EQ(c.cmd("MAIL FROM:<a@x.test>").code, 250);
    EXPECT_EQ(c.cmd("RCPT TO:<b@x.test>").code, 250);
    ASSERT_EQ(c.cmd("DATA").code, 354);
    c.send("Subject: first\r\n\r\nhello" + seq +
           "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\n"
           "Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n");
    auto r = c.read();
    // NUL is message content (not a line-end trick): that one is delivered
    // as one message, the others are refused.
    if (seq.find('\0') != std::string::npos) {
      EXPECT_EQ(r.code, 250) << r.text();
    } else {
      EXPECT_EQ(r.code, 554) << r.text();
      EXPECT_NE(r.text().find("5.6.0"), std::string::npos) << r.text();
    }
    // No other reply is pending: the smuggled commands were never run.
    auto n = c.cmd("NOOP");
    EXPECT_EQ(n.code, 250) << n.text();
    EXPECT_EQ(n.lines.size(), 1u);
  }
  for (auto& t : be.transactions()) {
    EXPECT_EQ(t.mail.find("evil"), std::string::npos);
    EXPECT_EQ(t.rcpts.size(), 1u);
  }
  EXPECT_LE(be.completed(), 1u);
}

TEST(Relay, BareLfAndLongCommandLines) {
  Rig rig;
  auto& [be, relay, c] = rig;
  c.send("NOOP\n");
  auto r = c.read();
  EXPECT_EQ(r.code, 500) << r.text();
  auto l = c.cmd("NOOP " + std::string(100000, 'a'));
  EXPECT_EQ(l.code, 500) << l.text();
  EXPECT_NE(l.text().find("too long"), std::string::npos) << l.text();
  EXPECT_EQ(c.cmd("NOOP").code, 250);  // the session is fine
}

TEST(Relay, TooManyErrorsCloseTheSession) {
  Rig rig({}, {.smtp_extra = "max_errors = 3"});
  auto& [be, relay, c] = rig;
  EXPECT_EQ(c.cmd("FOO").code, 500);
  EXPECT_EQ(c.cmd("BAR").code, 500);
  auto r = c.cmd("BAZ");
  EXPECT_EQ(r.code, 500);
  EXPECT_EQ(c.read().code, 421);
  EXPECT_TRUE(c.closed_within(2s));
}

// Junk commands count as errors only past max_junk_commands, and a message
// in between starts the count again.
TEST(Relay, JunkCommandsPastTheLimitCountAsErrors) {
  Rig rig({}, {.smtp_extra = "max_errors = 2\nmax_junk_commands = 3"});
  auto& [be, relay, c] = rig;
  for (const char* cmd : {"NOOP", "RSET", "VRFY x"}) EXPECT_LT(c.cmd(cmd).code, 300) << cmd;
  EXPECT_EQ(c.cmd("MAIL FROM:<a@x.test>").code, 250);
  EXPECT_EQ(c.cmd("RCPT TO:<b@x.test>").code, 250);
  ASSERT_EQ(c.cmd("DATA").code, 354);
  EXPECT_EQ(c.cmd("Subject: s\r\n\r\nbody\r\n.").code, 250);
  for (const char* cmd : {"NOOP", "HELP", "NOOP"}) EXPECT_LT(c.cmd(cmd).code, 300) << cmd;
  EXPECT_FALSE(c.closed_within(200ms));  // three since the message: still within the limit
  EXPECT_EQ(c.cmd("NOOP").code, 250);    // the 4th: an error, the 1st
  EXPECT_EQ(c.cmd("RSET").code, 250);    // the 5th: the 2nd error
  EXPECT_EQ(c.read().code, 421);
  EXPECT_TRUE(c.closed_within(2s));
}

TEST(Relay, IdleAndCommandTimeouts) {
  ScriptedBackend be({});
  Relay relay(make_config(
      {.target = smtp_target(be), .smtp_extra = "idle_timeout = 1\ncommand_timeout = 1"}));
  {
    SmtpClient c(relay.port());
    greet(c);
    auto r = c.read(5s);
    EXPECT_EQ(r.code, 421) << r.text();
    EXPECT_TRUE(c.closed_within(2s));
  }
  {
    SmtpClient c(relay.port());
    greet(c);
    EXPECT_EQ(c.cmd("MAIL FROM:<a@x.test>").code, 250);
    EXPECT_EQ(c.cmd("RCPT TO:<b@x.test>").code, 250);
    ASSERT_EQ(c.cmd("DATA").code, 354);
    c.send("Subject: slow\r\n\r\nand then nothing");
    auto r = c.read(5s);
    EXPECT_EQ(r.code, 421) << r.text();
    EXPECT_TRUE(c.closed_within(2s));
  }
  EXPECT_EQ(be.completed(), 0u);
}

// ------------------------------------------------- listeners and targets

TEST(Relay, Ipv6AndUnixListeners) {
  ScriptedBackend be({});
  auto dir = std::filesystem::temp_directory_path() /
             ("sigil-relay-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto sock = (dir / "sigil.sock").string();
  Relay relay(make_config({.target = smtp_target(be),
                           .listeners = "[[listener]]\nname = \"v6\"\naddress = \"[::1]:0\"\n"
                                        "[[listener]]\nname = \"local\"\naddress = \"unix:" +
                                        sock + "\"\nunix_mode = \"0660\"\n"}));
  {
    SmtpClient c(relay.port(0), /*v6=*/true);
    ASSERT_TRUE(c.connected());
    greet(c);
    EXPECT_EQ(send_txn(c, {}).at(0).code, 250);
  }
  {
    struct stat st {};
    ASSERT_EQ(::stat(sock.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    SmtpClient c(sock);
    ASSERT_TRUE(c.connected());
    greet(c, true);
    EXPECT_EQ(send_txn(c, {}, true).at(0).code, 250);
  }
  EXPECT_EQ(be.completed(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(Relay, MaildirTarget) {
  auto dir = std::filesystem::temp_directory_path() /
             ("sigil-maildir-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Relay relay(make_config({.target = "maildir:" + dir.string()}));
  SmtpClient c(relay.port());
  greet(c);
  auto r = send_txn(c, {.rcpts = {"b@example.net", "c@example.net"}});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250) << r[0].text();
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(dir / "new")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  std::ifstream in(files[0]);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content.rfind("Return-Path: <a@example.org>\n", 0), 0u) << content;
  EXPECT_NE(content.find("X-Original-To: c@example.net\n"), std::string::npos);
  EXPECT_NE(content.find("Subject: test\nMessage-ID"), std::string::npos);
  EXPECT_EQ(content.find('\r'), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
  std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------ policy banks

// A stand-in for a content stage: prepends a header naming itself, so the
// test can see which pipeline ran.  (The real stages have tests of their own.)
class MarkStage : public Stage {
 public:
  MarkStage(std::string n, Phase p, Action a = Action::Continue) : n_(std::move(n)), p_(p), a_(a) {}
  std::string_view name() const override { return n_; }
  Phase phase() const override { return p_; }
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override {
    ctx.edits.prepend.push_back("X-Stage: " + n_ + "\r\n");
    co_return Verdict{a_, n_ + " says so"};
  }

 private:
  std::string n_;
  Phase p_;
  Action a_;
};

const StageFactory& mark_factory() {
  static const StageFactory f = {
      {"dkim-sign",
       [](const conf::Config&, Components&) {
         return std::make_shared<MarkStage>("dkim-sign", Phase::Seal);
       }},
      {"spam",
       [](const conf::Config&, Components&) {
         return std::make_shared<MarkStage>("spam", Phase::Inspect, Action::Reject);
       }},
      {"av",
       [](const conf::Config&, Components&) {
         return std::make_shared<MarkStage>("av", Phase::Inspect, Action::TempFail);
       }},
      {"decode",
       [](const conf::Config&, Components&) {
         return std::make_shared<MarkStage>("decode", Phase::Inspect, Action::Discard);
       }},
  };
  return f;
}

TEST(Relay, PolicyBankByListenerAndByClientNetwork) {
  ScriptedBackend be({});
  Relay relay(
      make_config({.target = smtp_target(be),
                   .listeners = "[[listener]]\nname = \"in\"\naddress = \"127.0.0.1:0\"\n"
                                "bank = \"default\"\n"
                                "[[listener]]\nname = \"out\"\naddress = \"127.0.0.1:0\"\n"
                                "bank = \"signing\"\n",
                   .tail = "[bank.signing]\nstages = [\"dkim-sign\"]\noriginating = true\n"
                           "[[network]]\ncidrs = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"
                           "bank = \"signing\"\n"}),
      mark_factory());
  auto deliver = [&](std::uint16_t port, const std::string& xforward_addr) {
    SmtpClient c(port);
    greet(c);
    if (!xforward_addr.empty()) {
      EXPECT_EQ(c.cmd("XFORWARD ADDR=" + xforward_addr).code, 250);
    }
    auto r = send_txn(c, {});
    EXPECT_EQ(r.at(0).code, 250) << r.at(0).text();
  };
  deliver(relay.port(0), "");                    // default bank: no stage
  deliver(relay.port(1), "");                    // listener bank "signing"
  deliver(relay.port(0), "192.0.2.9");           // network overlay
  deliver(relay.port(0), "IPv6:2001:db8::1");    // network overlay, IPv6
  deliver(relay.port(0), "198.51.100.1");        // no match
  ASSERT_EQ(be.completed(), 5u);
  auto t = be.transactions();
  EXPECT_EQ(t[0].data, kMessage);
  EXPECT_EQ(t[1].data, "X-Stage: dkim-sign\r\n" + kMessage);
  EXPECT_EQ(t[2].data, "X-Stage: dkim-sign\r\n" + kMessage);
  EXPECT_EQ(t[3].data, "X-Stage: dkim-sign\r\n" + kMessage);
  EXPECT_EQ(t[4].data, kMessage);
}

TEST(Relay, StageVerdictsBecomeReplies) {
  ScriptedBackend be({});
  for (auto [stage, code, enh] : std::vector<std::tuple<std::string, int, std::string>>{
           {"spam", 554, "5.7.1"}, {"av", 451, "4.7.1"}, {"decode", 250, "2.7.0"}}) {
    SCOPED_TRACE(stage);
    Relay relay(make_config({.target = smtp_target(be),
                             .tail = "[[network]]\ncidrs = [\"127.0.0.0/8\"]\nbank = \"b\"\n"
                                     "[bank.b]\nstages = [\"" + stage + "\"]\n"
                                     // The real av stage needs a scanner; this one is a mark.
                                     "[av]\nscanners = [ { address = \"unix:/nonexistent\" } ]\n"}),
                mark_factory());
    SmtpClient c(relay.port());
    greet(c, true);  // LMTP: one reply per recipient
    auto r = send_txn(c, {.rcpts = {"x@x.test", "y@x.test"}}, true);
    ASSERT_EQ(r.size(), 2u);
    for (auto& x : r) {
      EXPECT_EQ(x.code, code) << x.text();
      EXPECT_EQ(x.text().rfind(enh, 0), 0u) << x.text();
      EXPECT_NE(x.text().find(stage + " says so"), std::string::npos) << x.text();
    }
  }
  EXPECT_EQ(be.completed(), 0u);  // reject, tempfail and discard forward nothing
}

TEST(Relay, SessionLimitRefusesWithFourTwentyOne) {
  Rig rig({}, {.smtp_extra = "max_sessions = 2"});
  auto& [be, relay, c] = rig;
  SmtpClient second(relay.port());
  greet(second);
  SmtpClient third(relay.port());
  auto r = third.read();
  EXPECT_EQ(r.code, 421) << r.text();
  EXPECT_NE(r.text().find("4.3.2"), std::string::npos) << r.text();
  EXPECT_TRUE(third.closed_within(2s));
  // A slot frees up when a session ends.
  EXPECT_EQ(second.cmd("QUIT").code, 221);
  EXPECT_TRUE(second.closed_within(2s));
  std::this_thread::sleep_for(100ms);
  SmtpClient fourth(relay.port());
  greet(fourth);
  EXPECT_EQ(send_txn(fourth, {}).at(0).code, 250);
}

// ---------------------------------------------------- drain and reload

TEST(Relay, DrainClosesIdleSessionsAndFinishesBusyOnes) {
  ScriptedBackend::Script sc;
  sc.reply_delay = 800ms;
  ScriptedBackend be(sc);
  Relay relay(make_config({.target = smtp_target(be)}));
  SmtpClient idle(relay.port());
  greet(idle);
  SmtpClient busy(relay.port());
  greet(busy);
  EXPECT_EQ(busy.cmd("MAIL FROM:<a@x.test>").code, 250);
  EXPECT_EQ(busy.cmd("RCPT TO:<b@x.test>").code, 250);
  ASSERT_EQ(busy.cmd("DATA").code, 354);
  busy.send(kMessage + ".\r\n");
  std::this_thread::sleep_for(200ms);  // the back-end is now holding its reply
  relay.on_server([](Server& s) { s.drain(); });
  auto r = idle.read(3s);
  EXPECT_EQ(r.code, 421) << r.text();
  EXPECT_TRUE(idle.closed_within(2s));
  // The busy session still gets its real reply, then 421.
  auto fin = busy.read(5s);
  EXPECT_EQ(fin.code, 250) << fin.text();
  EXPECT_EQ(busy.read(2s).code, 421);
  EXPECT_TRUE(busy.closed_within(2s));
  EXPECT_TRUE(relay.exits_within(3s));
  // No new connections after the drain started.
  SmtpClient late(relay.port());
  EXPECT_FALSE(late.connected() && late.read(500ms).code == 220);
  EXPECT_EQ(be.completed(), 1u);
}

TEST(Relay, DrainTimeoutCutsStuckSessions) {
  ScriptedBackend::Script sc;
  sc.after_dot = ScriptedBackend::AfterDot::Hang;
  ScriptedBackend be(sc);
  Relay relay(make_config({.target = smtp_target(be)}));
  SmtpClient busy(relay.port());
  greet(busy);
  EXPECT_EQ(busy.cmd("MAIL FROM:<a@x.test>").code, 250);
  EXPECT_EQ(busy.cmd("RCPT TO:<b@x.test>").code, 250);
  ASSERT_EQ(busy.cmd("DATA").code, 354);
  busy.send(kMessage + ".\r\n");
  std::this_thread::sleep_for(200ms);
  relay.on_server([](Server& s) { s.drain(); });
  // drain_timeout = 3 s < reply_timeout = 5 s: cut off without a 250.
  EXPECT_TRUE(relay.exits_within(6s));
  EXPECT_NE(busy.read(1s).code, 250);
}

TEST(Relay, ReloadSwitchesAtomicallyAndKeepsSessions) {
  ScriptedBackend a({}), b({});
  auto path = std::filesystem::temp_directory_path() /
              ("sigil-reload-" + std::to_string(::getpid()) + ".toml");
  auto write = [&](const std::string& s) {
    std::ofstream(path) << s;
  };
  auto cfg_a = make_config({.target = smtp_target(a)});
  write(cfg_a);
  Relay relay(cfg_a, builtin_stages(), path.string());
  SmtpClient c(relay.port());
  greet(c);
  EXPECT_EQ(send_txn(c, {}).at(0).code, 250);
  // A transaction open across the reload finishes under the old snapshot.
  EXPECT_EQ(c.cmd("MAIL FROM:<a@x.test>").code, 250);
  write(make_config({.target = smtp_target(b)}));
  relay.on_server([](Server& s) { EXPECT_TRUE(s.reload()); });
  EXPECT_EQ(c.cmd("RCPT TO:<b@x.test>").code, 250);
  ASSERT_EQ(c.cmd("DATA").code, 354);
  c.send(kMessage + ".\r\n");
  EXPECT_EQ(c.read().code, 250);
  EXPECT_EQ(a.completed(), 2u);
  // The next transaction on the same connection uses the new configuration.
  EXPECT_EQ(send_txn(c, {}).at(0).code, 250);
  EXPECT_EQ(b.completed(), 1u);
  // A broken file is refused; the running configuration stays.
  write("[forward]\ntarget = \"smtp:[127.0.0.1]:1\"\nbogus = 1\n");
  relay.on_server([](Server& s) {
    auto st = s.reload();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("bogus"), std::string::npos) << st.error().message;
  });
  EXPECT_EQ(send_txn(c, {}).at(0).code, 250);
  EXPECT_EQ(b.completed(), 2u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sigil::filter
