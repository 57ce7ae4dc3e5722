// tests/filter/spam_rspamd_test.cpp — the spam stage's rspamd client.
//
// parse_rspamd_reply against a table of HTTP replies (rspamd 3.4's own
// answers for ham, GTUBE and a bad command, then malformed ones), the
// request head rspamd_request_head builds from a transaction, and the stage
// against a fake rspamd on a Unix socket: the request line and headers, the
// message's bytes from memory and from the spool, the levels and X-Spam-*
// fields, a failing scanner followed by the next, a timeout.  The real
// rspamd is in e2e.spam_rspamd.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "filter/core/message_store.hpp"
#include "filter/core/policy.hpp"
#include "filter/stages/spam_stage.hpp"

using namespace sigil;
using namespace sigil::filter;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;

std::string http(std::string status, std::string body, std::string extra = "") {
  return "HTTP/1.1 " + status + "\r\nConnection: close\r\nServer: rspamd/3.4\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) +
         "\r\nContent-Type: application/json\r\n\r\n" + body;
}

// rspamd 3.4's answer for GTUBE with enable_test_patterns = true.
const std::string kGtube =
    R"({"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject",)"
    R"("symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},)"
    R"("messages":{"smtp_message":"Gtube pattern"},"message-id":"a@e2e.test","time_real":0.13})";
// A ham answer (shortened), symbols in rspamd's (hash) order.
const std::string kHam =
    R"({"is_skipped":false,"score":3.500000,"required_score":15.0,"action":"no action",)"
    R"("symbols":{"ONCE_RECEIVED":{"name":"ONCE_RECEIVED","score":0.100000,"metric_score":0.1,)"
    R"("description":"One received header in a message"},)"
    R"("RDNS_NONE":{"name":"RDNS_NONE","score":1.0,"metric_score":1.0},)"
    R"("MIME_GOOD":{"name":"MIME_GOOD","score":-0.100000,"metric_score":-0.1,"options":["text/plain"]},)"
    R"("HFILTER_HOSTNAME_UNKNOWN":{"name":"HFILTER_HOSTNAME_UNKNOWN","score":2.5},)"
    R"("R_SPF_DNSFAIL":{"name":"R_SPF_DNSFAIL","score":0,"options":["DNS failed"]}},)"
    R"("messages":{},"message-id":"b@e2e.test","milter":{"remove_headers":{"X-Spam":0}}})";

TEST(RspamdReply, HamAndGtube) {
  auto h = parse_rspamd_reply(http("200 OK", kHam));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->score, 3.5);
  EXPECT_EQ(h->threshold, 15);
  EXPECT_EQ(h->action, "no action");
  EXPECT_FALSE(h->is_spam);
  EXPECT_FALSE(h->forced_from);
  std::vector<std::pair<std::string, std::string>> want{{"HFILTER_HOSTNAME_UNKNOWN", "2.5"},
                                                        {"MIME_GOOD", "-0.1"},
                                                        {"ONCE_RECEIVED", "0.1"},
                                                        {"RDNS_NONE", "1"},
                                                        {"R_SPF_DNSFAIL", "0"}};
  EXPECT_EQ(h->tests, want) << "sorted by name, scores as Amavis writes them";

  auto g = parse_rspamd_reply(http("200 OK", kGtube));
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->score, 15) << "rspamd 3.4 sets a pre-result's score to the threshold";
  EXPECT_EQ(g->action, "reject");
  EXPECT_TRUE(g->is_spam);
  EXPECT_FALSE(g->forced_from) << "not below required_score: nothing raised";
  EXPECT_EQ(g->tests, (std::vector<std::pair<std::string, std::string>>{{"GTUBE", "0"}}));
}

TEST(RspamdReply, ForcedRejectBelowRequiredIsRaised) {
  auto r = parse_rspamd_reply(http(
      "200 OK", R"({"score":0,"required_score":15,"action":"reject","symbols":{"GTUBE":{"score":0}}})"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->score, 15);
  EXPECT_EQ(r->forced_from, std::optional<double>(0));

  // Other actions keep rspamd's score, whatever they are.
  for (std::string action : {"add header", "rewrite subject", "soft reject", "greylist"}) {
    auto o = parse_rspamd_reply(
        http("200 OK", R"({"score":2,"required_score":15,"action":")" + action + R"(","symbols":{}})"));
    ASSERT_TRUE(o) << action << ": " << o.error().message;
    EXPECT_EQ(o->score, 2) << action;
    EXPECT_FALSE(o->forced_from) << action;
  }
  // No required_score: nothing to raise to.
  auto n = parse_rspamd_reply(http("200 OK", R"({"score":1,"action":"reject"})"));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->score, 1);
  EXPECT_TRUE(n->tests.empty());
}

TEST(RspamdReply, OddButAcceptable) {
  // HTTP/1.0, integer scores, a lower-case header, a symbol without score,
  // a symbol name that cannot go into a header (left out).
  std::string body = R"({"score":7,"required_score":15,"action":"add header","symbols":)"
                     R"({"A_B":{"name":"A_B"},"BAD NAME":{"score":1},"X.Y-Z":{"score":-2}}})";
  auto r = parse_rspamd_reply("HTTP/1.0 200 OK\r\ncontent-length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->score, 7);
  EXPECT_EQ(r->tests, (std::vector<std::pair<std::string, std::string>>{{"A_B", ""}, {"X.Y-Z", "-2"}}));
  // No Content-Length: the body is all up to the connection's end.
  auto n = parse_rspamd_reply("HTTP/1.1 200 OK\r\n\r\n{\"score\":-1.25,\"action\":\"no action\"}");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->score, -1.25);
}

TEST(RspamdReply, FailuresAreProtocolErrors) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"", "rspamd closed without a reply"},
      {"HTTP/1.1 200 OK", "no complete status line"},
      {"SPAMD/1.1 0 EX_OK\r\n\r\n", "not an HTTP reply: 'SPAMD/1.1 0 EX_OK'"},
      {"HTTP/1.1 2xx OK\r\n\r\n{}", "bad status line"},
      {http("500 invalid command", R"({"error":"invalid command","error_domain":"protocol-error"})"),
       "rspamd said '500 invalid command': invalid command"},
      {http("404 Not Found", "<html>no</html>"), "rspamd said '404 Not Found'"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "reply headers not terminated"},
      {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n{}", "bad reply header 'no colon'"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{\"score\":1}",
       "Content-Length 99 but 11 bytes followed"},
      {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}", "bad Content-Length 'x'"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "bad Content-Length '3'"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
       "Transfer-Encoding 'chunked' not supported"},
      {"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\n\r\nxx", "Content-Encoding 'zstd' not supported"},
      {http("200 OK", R"({"score":1,"action":"no action")"), "bad JSON in the reply"},
      {http("200 OK", R"({"score":1,"action":"no action"} trailing)"), "bad JSON in the reply"},
      {http("200 OK", ""), "bad JSON in the reply"},
      {http("200 OK", R"([1,2])"), "the reply is not a JSON object"},
      {http("200 OK", R"({"action":"no action"})"), "no numeric score in the reply"},
      {http("200 OK", R"({"score":"5","action":"no action"})"), "no numeric score in the reply"},
      {http("200 OK", R"({"score":1e999,"action":"no action"})"), "no numeric score"},
      {http("200 OK", R"({"score":1,"required_score":null,"action":"x"})"),
       "required_score is not a number"},
      {http("200 OK", R"({"score":1})"), "no action in the reply"},
      {http("200 OK", R"({"score":1,"action":3})"), "no action in the reply"},
      {http("200 OK", R"({"score":1,"action":"no action","symbols":[]})"), "symbols is not an object"},
      {http("200 OK", R"({"score":1,"action":"no action","symbols":{"A":1}})"),
       "symbol 'A' is not an object"},
      {http("200 OK", R"({"score":1,"action":"no action","symbols":{"A":{"score":"1"}}})"),
       "symbol 'A' has a bad score"},
  };
  for (const auto& c : cases) {
    auto r = parse_rspamd_reply(c.in);
    ASSERT_FALSE(r) << "reply '" << c.in << "' was accepted";
    EXPECT_EQ(r.error().kind, ErrorKind::Protocol) << c.in;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos)
        << "reply '" << c.in << "': got '" << r.error().message << "', want '" << c.want << "'";
  }
}

TEST(RspamdRequest, HeadFromTheTransaction) {
  ClientInfo ci;
  ci.addr = "192.0.2.7";
  ci.ip = std::array<std::uint8_t, 16>{};
  ci.helo = "mx.sender.example";
  Envelope env;
  env.sender = "sender@example.org";
  env.recipients = {{"rcpt@example.net", {}}, {"second@example.net", {}}};
  env.xforward = {{"ADDR", "192.0.2.7"}, {"NAME", "mx+2Esender.example"}};
  EXPECT_EQ(rspamd_request_head(ci, env, "0123456789AB", 1234),
            "POST /checkv2 HTTP/1.0\r\nContent-Length: 1234\r\nIP: 192.0.2.7\r\n"
            "Helo: mx.sender.example\r\nHostname: mx.sender.example\r\n"
            "From: <sender@example.org>\r\nRcpt: <rcpt@example.net>\r\n"
            "Rcpt: <second@example.net>\r\nQueue-Id: 0123456789AB\r\n\r\n");

  // A bounce, an IPv4 client on a dual-stack socket, no HELO, Postfix's
  // "no name", a control character.
  ci.addr = "::ffff:198.51.100.9";
  ci.helo.clear();
  env.sender.clear();
  env.recipients = {{"a\rb@example.net", {}}};
  env.xforward = {{"NAME", "[UNAVAILABLE]"}};
  EXPECT_EQ(rspamd_request_head(ci, env, "", 0),
            "POST /checkv2 HTTP/1.0\r\nContent-Length: 0\r\nIP: 198.51.100.9\r\n"
            "From: <>\r\nRcpt: <a?b@example.net>\r\n\r\n");

  // A Unix-socket client has no IP to tell.
  ci.addr = "unix";
  ci.ip.reset();
  EXPECT_EQ(rspamd_request_head(ci, env, "X", 0).find("IP:"), std::string::npos);
  ci.addr = "2001:db8::1";
  ci.ip = std::array<std::uint8_t, 16>{};
  EXPECT_NE(rspamd_request_head(ci, env, "X", 0).find("\r\nIP: 2001:db8::1\r\n"), std::string::npos);
}

// A one-connection fake rspamd: reads the request head and Content-Length
// bytes, records them, then writes `reply` and closes (or holds the
// connection open without answering when `reply` is empty).
class FakeRspamd {
 public:
  FakeRspamd(asio::io_context& io, std::string path, std::string reply)
      : acceptor_(io, asio::local::stream_protocol::endpoint(path)), reply_(std::move(reply)) {
    asio::co_spawn(io, serve(this), [](std::exception_ptr) {});
  }
  std::string head, body;
  bool got_eof_early = false;  // the client half-closed before the reply

 private:
  // A free-standing coroutine (GCC 12: no capturing lambda coroutines).
  static asio::awaitable<void> serve(FakeRspamd* self) {
    auto sock = co_await self->acceptor_.async_accept(asio::use_awaitable);
    asio::streambuf buf;
    auto n = co_await asio::async_read_until(sock, buf, "\r\n\r\n", asio::use_awaitable);
    std::string all(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    self->head = all.substr(0, n);
    self->body = all.substr(n);
    auto p = self->head.find("Content-Length: ");
    std::size_t len = p == std::string::npos ? 0 : std::stoul(self->head.substr(p + 16));
    if (self->body.size() < len) {
      std::string rest(len - self->body.size(), '\0');
      co_await asio::async_read(sock, asio::buffer(rest), asio::use_awaitable);
      self->body += rest;
    }
    if (self->reply_.empty()) {
      self->held_ = std::move(sock);
      co_return;
    }
    co_await asio::async_write(sock, asio::buffer(self->reply_), asio::use_awaitable);
    // Like rspamd: close after the reply.
  }
  asio::local::stream_protocol::acceptor acceptor_;
  std::string reply_;
  std::optional<asio::local::stream_protocol::socket> held_;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/sigil-rspamd-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::unique_ptr<MessageStore> store(const std::string& bytes, std::size_t threshold,
                                    const std::string& dir) {
  auto m = std::make_unique<MessageStore>(threshold, dir, 64 * 1024);
  EXPECT_TRUE(m->append(bytes).ok());
  EXPECT_TRUE(m->finish().ok());
  return m;
}

conf::SpamScanner rspamd_at(const std::string& path, int timeout = 5) {
  conf::SpamScanner s;
  s.kind = conf::SpamScanner::Kind::Rspamd;
  s.address.kind = conf::ListenAddress::Kind::Unix;
  s.address.path = path;
  s.address.text = "unix:" + path;
  s.name = "fake" + std::to_string(timeout);
  s.timeout = std::chrono::seconds(timeout);
  return s;
}

struct Run {
  Verdict verdict;
  std::vector<std::pair<std::string, std::string>> notes;
  std::vector<Finding> findings;
  HeaderEdits edits;
};

Run run_stage(asio::io_context& io, conf::SpamConfig cfg, const MessageStore& m,
              const Policy* pol = nullptr) {
  ClientInfo ci;
  ci.addr = "192.0.2.7";
  ci.ip = std::array<std::uint8_t, 16>{};
  ci.helo = "mx.sender.example";
  Envelope env;
  env.sender = "sender@example.org";
  env.recipients = {{"rcpt@example.net", {}}};
  MessageContext ctx{"0123456789AB", ci, env, m};
  ctx.policy = pol;
  SpamStage stage(std::move(cfg));
  auto f = asio::co_spawn(io, stage.run(ctx), asio::use_future);
  io.run();
  io.restart();
  // What a local recipient gets: the edits for all, then the local ones.
  HeaderEdits all = ctx.edits;
  all.prepend.insert(all.prepend.end(), ctx.local_edits.prepend.begin(), ctx.local_edits.prepend.end());
  all.remove.insert(all.remove.end(), ctx.local_edits.remove.begin(), ctx.local_edits.remove.end());
  return {f.get(), ctx.notes, ctx.findings, all};
}

TEST(RspamdStage, StreamsTheMessageAndAppliesTheLevels) {
  TempDir d;
  std::string msg = "Subject: offer\r\nFrom: <sender@example.org>\r\n\r\n";
  for (int i = 0; i < 12000; ++i) msg += "line " + std::to_string(i) + " of the body\r\n";
  for (std::size_t threshold : {std::size_t(16) << 20, std::size_t(4096)}) {
    asio::io_context io;
    auto m = store(msg, threshold, d.path);
    EXPECT_EQ(m->spooled(), threshold == 4096);
    std::string sock = d.path + "/r" + std::to_string(threshold) + ".sock";
    FakeRspamd fake(io, sock, http("200 OK", kGtube));
    conf::SpamConfig cfg;
    cfg.max_size = 1 << 20;
    cfg.scanners = {rspamd_at(sock)};
    auto r = run_stage(io, cfg, *m);
    EXPECT_EQ(r.verdict.action, Action::Continue);
    EXPECT_EQ(fake.head,
              "POST /checkv2 HTTP/1.0\r\nContent-Length: " + std::to_string(msg.size()) +
                  "\r\nIP: 192.0.2.7\r\nHelo: mx.sender.example\r\nFrom: <sender@example.org>\r\n"
                  "Rcpt: <rcpt@example.net>\r\nQueue-Id: 0123456789AB\r\n\r\n");
    EXPECT_TRUE(fake.body == msg) << "the body differs from the message (spooled=" << m->spooled()
                                  << ", " << fake.body.size() << " of " << msg.size() << " bytes)";
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].category, conf::Category::Spam);
    EXPECT_EQ(r.findings[0].reason, "score 15 >= kill 6.9");
    ASSERT_EQ(r.notes.size(), 1u);
    EXPECT_EQ(r.notes[0].second, "score=15 tests=GTUBE (scanner fake5)");
    std::vector<std::string> want{
        "X-Spam-Flag: YES\r\n", "X-Spam-Score: 15\r\n", "X-Spam-Level: ***************\r\n",
        "X-Spam-Status: Yes, score=15 tag=-999 tag2=6.2 kill=6.9 tests=[GTUBE=0]\r\n",
        "Subject: ***Spam*** offer\r\n"};
    EXPECT_EQ(r.edits.prepend, want);
  }
}

TEST(RspamdStage, ForcedRejectNoteAndOffset) {
  TempDir d;
  asio::io_context io;
  auto m = store("Subject: x\r\n\r\nbody\r\n", 1 << 20, d.path);
  FakeRspamd fake(io, d.path + "/f.sock",
                  http("200 OK", R"({"score":0.5,"required_score":15,"action":"reject",)"
                                 R"("symbols":{"GTUBE":{"score":0},"FORCED":{"score":0.5}}})"));
  conf::SpamConfig cfg;
  cfg.scanners = {rspamd_at(d.path + "/f.sock")};
  auto r = run_stage(io, cfg, *m);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].second,
            "score=15 (rspamd action reject: score 0.5 raised to required_score 15) "
            "tests=FORCED,GTUBE (scanner fake5)");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].category, conf::Category::Spam);
  ASSERT_FALSE(r.edits.prepend.empty());
  EXPECT_EQ(r.edits.prepend[3],
            "X-Spam-Status: Yes, score=15 tag=-999 tag2=6.2 kill=6.9 tests=[FORCED=0.5,\r\n"
            " GTUBE=0]\r\n")
      << "folded before a space near 78 columns";

  // A bank's offset applies to the raised score, as to any other.
  asio::io_context io2;
  FakeRspamd fake2(io2, d.path + "/f2.sock",
                   http("200 OK", R"({"score":0.5,"required_score":15,"action":"reject"})"));
  cfg.scanners = {rspamd_at(d.path + "/f2.sock")};
  Policy pol;
  pol.spam.score_offset = -20;
  pol.spam.tag_level = 2;
  auto o = run_stage(io2, cfg, *m, &pol);
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_EQ(o.notes[0].second,
            "score=-5 (rspamd action reject: score 0.5 raised to required_score 15; rspamd 15, "
            "offset -20) tests=none (scanner fake5)");
  EXPECT_TRUE(o.findings.empty());
  EXPECT_TRUE(o.edits.prepend.empty()) << "below tag_level";
}

TEST(RspamdStage, FailoverAndOnError) {
  TempDir d;
  asio::io_context io;
  auto m = store("Subject: x\r\n\r\nbody\r\n", 1 << 20, d.path);
  FakeRspamd bad(io, d.path + "/bad.sock",
                 http("500 invalid command", R"({"error":"invalid command"})"));
  FakeRspamd held(io, d.path + "/held.sock", "");
  FakeRspamd ham(io, d.path + "/ham.sock", http("200 OK", kHam));
  conf::SpamConfig cfg;
  cfg.scanners = {rspamd_at(d.path + "/bad.sock", 3), rspamd_at(d.path + "/held.sock", 1),
                  rspamd_at(d.path + "/ham.sock", 4)};
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_stage(io, cfg, *m);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(r.verdict.action, Action::Continue);
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].second,
            "score=3.5 tests=HFILTER_HOSTNAME_UNKNOWN,MIME_GOOD,ONCE_RECEIVED,RDNS_NONE,"
            "R_SPF_DNSFAIL (scanner fake4)");
  ASSERT_FALSE(r.edits.prepend.empty());
  EXPECT_EQ(r.edits.prepend[0], "X-Spam-Flag: NO\r\n");

  // Nobody there, on_error tempfail.
  asio::io_context io2;
  cfg.scanners = {rspamd_at(d.path + "/none.sock")};
  cfg.on_error = conf::SpamConfig::OnError::TempFail;
  auto t = run_stage(io2, cfg, *m);
  EXPECT_EQ(t.verdict.action, Action::TempFail);
  ASSERT_EQ(t.notes.size(), 1u);
  EXPECT_EQ(t.notes[0].second.rfind("rspamd unavailable: fake5: connect: ", 0), 0u)
      << t.notes[0].second;
}

}  // namespace
