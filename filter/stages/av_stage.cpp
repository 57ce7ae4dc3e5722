// filter/stages/av_stage.cpp — see av_stage.hpp.
#include "filter/stages/av_stage.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kMaxReply = 4096;

ScanOutcome failed(std::string why) { return {ScanOutcome::Kind::Failed, std::move(why)}; }

// The INSTREAM exchange on a socket that is not yet connected.  The caller
// bounds it with the scanner's timer (operator|| cancels what is pending).
template <typename Socket, typename Endpoint>
asio::awaitable<ScanOutcome> instream(Socket& sock, Endpoint ep, const MessageStore& m,
                                      bool nodelay) {
  auto [cerr] = co_await sock.async_connect(ep, asio::as_tuple(asio::use_awaitable));
  if (cerr) co_return failed("connect: " + cerr.message());
  if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
    // The last chunk and the terminator are small writes: without this they
    // wait for the ACK of the previous one (DESIGN.md §7, the 40 ms stall).
    boost::system::error_code ignored;
    if (nodelay) sock.set_option(asio::ip::tcp::no_delay(true), ignored);
  }

  static constexpr char kCommand[] = "zINSTREAM";  // sent with its NUL
  std::string send_error;
  {
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(kCommand, sizeof kCommand),
                                              asio::as_tuple(asio::use_awaitable));
    if (ec) send_error = ec.message();
  }

  ChunkReader chunks(m);
  while (send_error.empty()) {
    auto piece = chunks.next();
    if (!piece) co_return failed("message store: " + piece.error().message);
    if (piece->empty()) break;
    auto len = static_cast<std::uint32_t>(piece->size());
    std::array<unsigned char, 4> be = {static_cast<unsigned char>(len >> 24),
                                       static_cast<unsigned char>(len >> 16),
                                       static_cast<unsigned char>(len >> 8),
                                       static_cast<unsigned char>(len)};
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(be), asio::buffer(*piece)};
    auto [ec, n] = co_await asio::async_write(sock, bufs, asio::as_tuple(asio::use_awaitable));
    if (ec) send_error = ec.message();
  }
  if (send_error.empty()) {
    static constexpr unsigned char kEnd[4] = {0, 0, 0, 0};
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(kEnd),
                                              asio::as_tuple(asio::use_awaitable));
    if (ec) send_error = ec.message();
  }

  // Read even after a failed send: past StreamMaxLength clamd writes
  // "INSTREAM size limit exceeded. ERROR" and closes, and our write then
  // fails with a reset or broken pipe; its reply is the better reason.
  std::string reply;
  std::array<char, 512> rb;
  for (;;) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(rb),
                                                 asio::as_tuple(asio::use_awaitable));
    reply.append(rb.data(), n);
    auto nul = reply.find('\0');
    if (nul != std::string::npos) {
      reply.resize(nul);
      break;
    }
    if (reply.size() > kMaxReply) co_return failed("reply longer than 4096 bytes");
    if (ec == asio::error::eof) break;  // tolerated: a reply without its NUL
    if (ec) {
      if (!send_error.empty()) co_return failed("send: " + send_error);
      co_return failed("read: " + ec.message());
    }
  }
  if (reply.empty()) {
    if (!send_error.empty()) co_return failed("send: " + send_error);
    co_return failed("connection closed without a reply");
  }
  auto r = parse_clamd_reply(reply);
  switch (r.kind) {
    case ClamdReply::Kind::Clean:
      // "OK" for a stream we did not finish sending cannot be trusted.
      if (!send_error.empty()) co_return failed("send: " + send_error);
      co_return ScanOutcome{ScanOutcome::Kind::Clean, ""};
    case ClamdReply::Kind::Infected:
      // A signature matched in what clamd did get: that stays true.
      co_return ScanOutcome{ScanOutcome::Kind::Infected, std::move(r.text)};
    case ClamdReply::Kind::Error: co_return failed("clamd: " + r.text);
    case ClamdReply::Kind::Garbage: break;
  }
  co_return failed("unexpected reply: " + r.text);
}

std::string seconds(std::chrono::seconds s) { return std::to_string(s.count()) + "s"; }

}  // namespace

asio::awaitable<ScanOutcome> clamd_scan(const conf::AvScanner& s, const MessageStore& m) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, s.timeout);
  std::variant<ScanOutcome, std::tuple<boost::system::error_code>> r;
  if (s.kind == conf::AvScanner::Kind::Unix) {
    asio::local::stream_protocol::socket sock(ex);
    r = co_await (instream(sock, asio::local::stream_protocol::endpoint(s.path), m, false) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  } else {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(s.host, ec);
    if (ec) co_return failed("bad address " + s.host + ": " + ec.message());
    asio::ip::tcp::socket sock(ex);
    r = co_await (instream(sock, asio::ip::tcp::endpoint(addr, s.port), m, true) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
  if (r.index() == 1) co_return failed("timed out after " + seconds(s.timeout));
  co_return std::get<0>(std::move(r));
}

AvStage::AvStage(conf::AvConfig cfg) : cfg_(std::move(cfg)) {
  std::chrono::seconds total{5};
  for (const auto& s : cfg_.scanners) total += s.timeout;
  deadline = total;
  switch (cfg_.on_error) {
    case conf::AvConfig::OnError::TempFail: on_error = OnError::TempFail; break;
    case conf::AvConfig::OnError::Continue: on_error = OnError::Continue; break;
    case conf::AvConfig::OnError::Reject: on_error = OnError::Reject; break;
  }
}

asio::awaitable<Verdict> AvStage::run(MessageContext& ctx) {
  if (ctx.message.size() > cfg_.max_size) {
    ctx.findings.push_back({conf::Category::Unchecked, "too large for av", "av"});
    ctx.notes.emplace_back("av", "not scanned: " + std::to_string(ctx.message.size()) +
                                     " bytes, max_size " + std::to_string(cfg_.max_size));
    co_return Verdict{};
  }
  std::string failures;  // "name: why; name: why"
  for (const auto& s : cfg_.scanners) {
    metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Call);
    ScanOutcome o = co_await clamd_scan(s, ctx.message);
    if (o.kind == ScanOutcome::Kind::Failed) {
      metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Failure);
      if (&s != &cfg_.scanners.back())
        metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Failover);
      log::main().warn("{}: av: scanner {} ({}) failed: {}", ctx.log_id, s.name, s.address,
                       o.detail);
      failures += (failures.empty() ? "" : "; ") + s.name + ": " + o.detail;
      continue;
    }
    std::string via = " (scanner " + s.name + (failures.empty() ? "" : "; " + failures) + ")";
    if (o.kind == ScanOutcome::Kind::Clean) {
      ctx.notes.emplace_back("av", "clean" + via);
    } else {
      ctx.edits.prepend.push_back("X-Sigil-Alert: INFECTED, message contains virus: " + o.detail +
                                  "\r\n");
      ctx.notes.emplace_back("av", "INFECTED " + o.detail + via);
      ctx.findings.push_back({conf::Category::Virus, std::move(o.detail), "av"});
    }
    co_return Verdict{};
  }
  ctx.notes.emplace_back("av", "no scanner answered (" + failures + ")");
  const std::string why = "av: no scanner answered";
  switch (cfg_.on_error) {
    case conf::AvConfig::OnError::TempFail: break;
    case conf::AvConfig::OnError::Continue:
      ctx.findings.push_back({conf::Category::Unchecked, "no scanner answered", "av"});
      co_return Verdict{};
    case conf::AvConfig::OnError::Reject: co_return Verdict{Action::Reject, why};
  }
  co_return Verdict{Action::TempFail, why};
}

}  // namespace sigil::filter
