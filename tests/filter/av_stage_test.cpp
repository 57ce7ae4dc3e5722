// tests/filter/av_stage_test.cpp — the av stage's clamd client.
//
// parse_clamd_reply against a table of replies (OK, FOUND, ERROR, garbage).
// clamd_scan against a fake clamd on a Unix socket in a temporary directory,
// for what a real clamd does not do on demand: a reply without its NUL, an
// endless reply, garbage, a reply for another stream.  The fake also checks
// the INSTREAM framing and that the bytes it gets are the message's, from
// memory and from the spool.  The real clamd is in e2e.av_clamd.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "filter/stages/av_stage.hpp"
#include "filter/core/message_store.hpp"

using namespace sigil;
using namespace sigil::filter;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
using Kind = ClamdReply::Kind;

TEST(ClamdReply, Table) {
  struct Case {
    std::string in;
    Kind kind;
    std::string text;
  } cases[] = {
      {"stream: OK", Kind::Clean, ""},
      {"stream: OK\n", Kind::Clean, ""},
      {"stream: Eicar-Test-Signature FOUND", Kind::Infected, "Eicar-Test-Signature"},
      {"stream: Win.Test.EICAR_HDB-1 FOUND\n", Kind::Infected, "Win.Test.EICAR_HDB-1"},
      {"stream: Heuristics.Phishing.Email.SpoofedDomain FOUND", Kind::Infected,
       "Heuristics.Phishing.Email.SpoofedDomain"},
      {"INSTREAM size limit exceeded. ERROR", Kind::Error, "INSTREAM size limit exceeded. ERROR"},
      {"stream: Can't allocate memory ERROR", Kind::Error, "stream: Can't allocate memory ERROR"},
      {"ERROR", Kind::Error, "ERROR"},
      {"", Kind::Garbage, ""},
      {"PONG", Kind::Garbage, "PONG"},
      {"UNKNOWN COMMAND", Kind::Garbage, "UNKNOWN COMMAND"},
      {"stream: ", Kind::Garbage, "stream: "},
      {"stream:  FOUND", Kind::Garbage, "stream:  FOUND"},
      {"stream: FOUND", Kind::Garbage, "stream: FOUND"},
      {"1: stream: OK", Kind::Garbage, "1: stream: OK"},  // IDSESSION form: never asked for
      {"stream: OKAY", Kind::Garbage, "stream: OKAY"},
      {"stream: Bad\r\nX-Injected: 1 FOUND", Kind::Garbage, "stream: Bad??X-Injected: 1 FOUND"},
      {"stream: " + std::string(201, 'A') + " FOUND", Kind::Garbage,
       "stream: " + std::string(192, 'A') + "..."},
  };
  for (const auto& c : cases) {
    auto r = parse_clamd_reply(c.in);
    EXPECT_EQ(r.kind, c.kind) << "reply '" << c.in << "': got kind " << static_cast<int>(r.kind)
                              << ", want " << static_cast<int>(c.kind);
    EXPECT_EQ(r.text, c.text) << "reply '" << c.in << "'";
  }
}

// A one-connection fake clamd: reads "zINSTREAM\0" and the chunks, records
// the payload, then writes `reply` (and closes unless `hold`).
class FakeClamd {
 public:
  FakeClamd(asio::io_context& io, std::string path, std::string reply, bool hold = false)
      : acceptor_(io, asio::local::stream_protocol::endpoint(path)),
        reply_(std::move(reply)),
        hold_(hold) {
    asio::co_spawn(io, serve(), [](std::exception_ptr) {});
  }
  std::string command, payload;
  std::size_t chunks = 0;
  bool terminated = false;  // the zero-length chunk came

 private:
  asio::awaitable<void> serve() {
    auto sock = co_await acceptor_.async_accept(asio::use_awaitable);
    command.resize(10);
    co_await asio::async_read(sock, asio::buffer(command), asio::use_awaitable);
    for (;;) {
      unsigned char be[4];
      co_await asio::async_read(sock, asio::buffer(be), asio::use_awaitable);
      std::uint32_t n = (std::uint32_t{be[0]} << 24) | (std::uint32_t{be[1]} << 16) |
                        (std::uint32_t{be[2]} << 8) | be[3];
      if (n == 0) {
        terminated = true;
        break;
      }
      ++chunks;
      std::string piece(n, '\0');
      co_await asio::async_read(sock, asio::buffer(piece), asio::use_awaitable);
      payload += piece;
    }
    co_await asio::async_write(sock, asio::buffer(reply_), asio::use_awaitable);
    if (hold_) {
      held_ = std::move(sock);
      co_return;
    }
  }
  asio::local::stream_protocol::acceptor acceptor_;
  std::string reply_;
  bool hold_;
  std::optional<asio::local::stream_protocol::socket> held_;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/sigil-av-XXXXXX";
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

ScanOutcome scan(asio::io_context& io, const conf::AvScanner& s, const MessageStore& m) {
  auto f = asio::co_spawn(io, clamd_scan(s, m), asio::use_future);
  io.run();
  io.restart();
  return f.get();
}

conf::AvScanner unix_scanner(const std::string& path, int timeout = 5) {
  auto a = conf::parse_av_address("unix:" + path);
  EXPECT_TRUE(a.ok());
  a->timeout = std::chrono::seconds(timeout);
  return *a;
}

TEST(ClamdScan, StreamsTheMessageFromMemoryAndSpool) {
  TempDir d;
  std::string msg = "Subject: t\r\n\r\n";
  for (int i = 0; i < 20000; ++i) msg += "line " + std::to_string(i) + " of the body\r\n";
  for (std::size_t threshold : {std::size_t(16) << 20, std::size_t(4096)}) {
    asio::io_context io;
    auto m = store(msg, threshold, d.path);
    EXPECT_EQ(m->spooled(), threshold == 4096);
    std::string sock = d.path + "/c" + std::to_string(threshold) + ".sock";
    FakeClamd fake(io, sock, std::string("stream: OK\0", 11));
    auto o = scan(io, unix_scanner(sock), *m);
    EXPECT_EQ(o.kind, ScanOutcome::Kind::Clean) << o.detail;
    EXPECT_EQ(fake.command, std::string("zINSTREAM\0", 10));
    EXPECT_TRUE(fake.terminated);
    EXPECT_EQ(fake.payload.size(), msg.size()) << "spooled=" << m->spooled();
    EXPECT_TRUE(fake.payload == msg) << "the payload differs from the message";
    EXPECT_GT(fake.chunks, 1u) << "a " << msg.size() << "-byte message in 64 KiB chunks";
  }
}

TEST(ClamdScan, FaultsOfAScanner) {
  TempDir d;
  struct Case {
    std::string name, reply;
    bool hold;
    ScanOutcome::Kind kind;
    std::string detail;
  } cases[] = {
      {"found", std::string("stream: Sigil-Test FOUND\0", 25), false, ScanOutcome::Kind::Infected,
       "Sigil-Test"},
      {"no-nul-then-eof", "stream: OK", false, ScanOutcome::Kind::Clean, ""},
      {"error", std::string("INSTREAM size limit exceeded. ERROR\0", 36), false,
       ScanOutcome::Kind::Failed, "clamd: INSTREAM size limit exceeded. ERROR"},
      {"garbage", std::string("HELLO\0", 6), false, ScanOutcome::Kind::Failed,
       "unexpected reply: HELLO"},
      {"empty", "", false, ScanOutcome::Kind::Failed, "connection closed without a reply"},
      {"overlong", std::string(5000, 'x'), true, ScanOutcome::Kind::Failed,
       "reply longer than 4096 bytes"},
      {"no-nul-held", "stream: OK", true, ScanOutcome::Kind::Failed, "timed out after 1s"},
  };
  for (const auto& c : cases) {
    asio::io_context io;
    auto m = store("Subject: x\r\n\r\nbody\r\n", 1 << 20, d.path);
    std::string sock = d.path + "/" + c.name + ".sock";
    FakeClamd fake(io, sock, c.reply, c.hold);
    auto t0 = std::chrono::steady_clock::now();
    auto o = scan(io, unix_scanner(sock, 1), *m);
    EXPECT_EQ(o.kind, c.kind) << c.name << ": got " << static_cast<int>(o.kind) << " (" << o.detail
                              << "), want " << static_cast<int>(c.kind);
    EXPECT_EQ(o.detail, c.detail) << c.name;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << c.name;
  }
}

TEST(ClamdScan, NobodyListening) {
  TempDir d;
  asio::io_context io;
  auto m = store("Subject: x\r\n\r\nbody\r\n", 1 << 20, d.path);
  auto o = scan(io, unix_scanner(d.path + "/none.sock"), *m);
  EXPECT_EQ(o.kind, ScanOutcome::Kind::Failed);
  EXPECT_EQ(o.detail.rfind("connect: ", 0), 0u) << o.detail;
}

}  // namespace
