// filter/stages/spam_stage.cpp — see spam_stage.hpp.
#include "filter/stages/spam_stage.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "conf/ascii.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/metrics.hpp"
#include "filter/core/policy.hpp"
#include "filter/core/smtp_text.hpp"
#include "filter/stages/spam_protocol.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// spamd's reply is a status, two headers and a report of a few KiB, rspamd's
// a JSON object of a few KiB; more is not a spam scanner.
constexpr std::size_t kMaxReply = 1 << 20;

// The field name of a complete header field ("Name: value\r\n").
std::string_view field_name_of(std::string_view field) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return {};
  return ascii::trim(field.substr(0, colon));
}


struct Attempt {
  std::optional<SpamReply> reply;
  std::string error;
  ErrorKind kind = ErrorKind::Io;
};

// One check's request: the protocol, and the head that goes before the
// message's bytes.
struct Request {
  conf::SpamScanner::Kind kind = conf::SpamScanner::Kind::Spamd;
  conf::SpamConfig::Command command = conf::SpamConfig::Command::Report;  // spamd
  std::string head;
};

// Sends the request head and the message, the head with the first chunk
// (one write for a message of up to 64 KiB).  Returns "" or what failed.
template <typename Socket>
asio::awaitable<std::string> send_request(Socket& sock, std::string_view head,
                                          const MessageStore& msg) {
  ChunkReader chunks(msg);
  for (;;) {
    auto piece = chunks.next();
    if (!piece) co_return "spool: " + piece.error().message;
    if (piece->empty() && head.empty()) co_return "";
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                           asio::buffer(piece->data(), piece->size())};
    auto [ec, n] = co_await asio::async_write(sock, bufs, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return "send: " + ec.message();
    if (piece->empty()) co_return "";
    head = {};
  }
}

// Reads the whole reply: to the connection's end, or for HTTP as far as its
// Content-Length.  Returns nothing when that failed, with `a` saying why.
template <typename Socket>
asio::awaitable<std::optional<std::string>> receive_reply(Socket& sock, bool http, Attempt& a) {
  std::string reply;
  char rbuf[8192];
  for (;;) {
    auto [rec, n] =
        co_await sock.async_read_some(asio::buffer(rbuf), asio::as_tuple(asio::use_awaitable));
    reply.append(rbuf, n);
    if (reply.size() > kMaxReply) {
      a.kind = ErrorKind::Protocol;
      a.error = "reply longer than 1 MiB";
      co_return std::nullopt;
    }
    if (rec == asio::error::eof) break;
    if (rec) {
      a.error = "receive: " + rec.message();
      co_return std::nullopt;
    }
    if (http && spam::http_reply_complete(reply)) break;
  }
  co_return reply;
}

// Sends the request and the message, reads the whole reply.  Never throws
// for I/O trouble: every failure is an Attempt with an error.
template <typename Socket, typename Endpoint>
asio::awaitable<Attempt> exchange(Socket& sock, Endpoint ep, const Request& req,
                                  const MessageStore& msg) {
  Attempt a;
  auto [cec] = co_await sock.async_connect(ep, asio::as_tuple(asio::use_awaitable));
  if (cec) {
    a.error = "connect: " + cec.message();
    co_return a;
  }
  if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
    boost::system::error_code ig;
    sock.set_option(asio::ip::tcp::no_delay(true), ig);
  }
  const bool http = req.kind == conf::SpamScanner::Kind::Rspamd;
  a.error = co_await send_request(sock, req.head, msg);
  if (!a.error.empty()) co_return a;
  // As spamc does: spamd needs no EOF (Content-length says where the message
  // ends), but a half-close tells a confused peer there is no more.  Not to
  // rspamd: an HTTP server may take the half-close for a client gone away.
  if (!http) {
    boost::system::error_code ig;
    sock.shutdown(Socket::shutdown_send, ig);
  }

  auto reply = co_await receive_reply(sock, http, a);
  if (!reply) co_return a;
  auto p = http ? parse_rspamd_reply(*reply) : parse_spamd_reply(*reply, req.command);
  if (!p) {
    a.kind = p.error().kind;
    a.error = p.error().message;
    co_return a;
  }
  a.reply = std::move(p.value());
  co_return a;
}

asio::awaitable<Attempt> attempt(const conf::SpamScanner& s, const Request& req,
                                 const MessageStore& msg) {
  auto ex = co_await asio::this_coro::executor;
  Attempt a;
  try {
    if (s.address.kind == conf::ListenAddress::Kind::Unix) {
      asio::local::stream_protocol::socket sock(ex);
      a = co_await exchange(sock, asio::local::stream_protocol::endpoint(s.address.path), req, msg);
    } else {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(s.address.host, ec);
      if (ec) {
        a.error = "bad address " + s.address.text;
        co_return a;
      }
      asio::ip::tcp::socket sock(ex);
      a = co_await exchange(sock, asio::ip::tcp::endpoint(addr, s.address.port), req, msg);
    }
  } catch (const std::exception& e) {
    a.reply.reset();
    a.kind = ErrorKind::Io;
    a.error = e.what();
  }
  co_return a;
}

}  // namespace


namespace {

// "spamd unavailable: ", "rspamd unavailable: " or both, by the kinds of
// the scanners configured.
std::string unavailable(const conf::SpamConfig& cfg) {
  bool spamd = false, rspamd = false;
  for (const auto& s : cfg.scanners)
    (s.kind == conf::SpamScanner::Kind::Rspamd ? rspamd : spamd) = true;
  return std::string(spamd && rspamd ? "spamd/rspamd" : rspamd ? "rspamd" : "spamd") +
         " unavailable: ";
}

// The note for a scanned message: "score=S [(why)] tests=A,B (scanner N)".
std::string score_note(const SpamReply& reply, double score, double offset,
                       const conf::SpamScanner& by) {
  std::string kind = by.kind == conf::SpamScanner::Kind::Rspamd ? "rspamd" : "spamd";
  std::string note = "score=" + format_spam_score(score);
  std::string why;
  if (reply.forced_from)
    why = "rspamd action reject: score " + format_spam_score(*reply.forced_from) +
          " raised to required_score " + format_spam_score(reply.threshold);
  if (offset != 0)
    why += (why.empty() ? "" : "; ") + kind + " " + format_spam_score(reply.score) + ", offset " +
           format_spam_score(offset);
  if (!why.empty()) note += " (" + why + ")";
  std::string names;
  for (const auto& t : reply.tests) names += (names.empty() ? "" : ",") + t.first;
  return note + " tests=" + (names.empty() ? std::string("none") : names) + " (scanner " +
         by.name + ")";
}

}  // namespace

SpamStage::SpamStage(conf::SpamConfig cfg) : cfg_(std::move(cfg)) {
  // The scanners' own timeouts decide; the pipeline's deadline is a backstop.
  std::chrono::seconds total{0};
  for (const auto& s : cfg_.scanners) total += s.timeout;
  deadline = std::chrono::duration_cast<std::chrono::milliseconds>(total) +
             std::chrono::seconds(5);
  on_error = cfg_.on_error == conf::SpamConfig::OnError::Continue ? OnError::Continue
                                                                  : OnError::TempFail;
}

asio::awaitable<Result<SpamReply>> SpamStage::scan(const conf::SpamScanner& s,
                                                   const MessageContext& ctx) const {
  auto ex = co_await asio::this_coro::executor;
  Request req;
  req.kind = s.kind;
  req.command = cfg_.command;
  req.head = s.kind == conf::SpamScanner::Kind::Rspamd
                 ? rspamd_request_head(ctx.client, ctx.envelope, ctx.log_id, ctx.message.size())
                 : spam::spamd_request_head(cfg_, ctx.message.size());
  asio::steady_timer timer(ex, s.timeout);
  auto r = co_await (attempt(s, req, ctx.message) ||
                     timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (r.index() == 1)
    co_return make_error(ErrorKind::Timeout,
                         "no answer within " + std::to_string(s.timeout.count()) + " s");
  auto& a = std::get<0>(r);
  if (!a.reply) co_return make_error(a.kind, a.error);
  co_return std::move(*a.reply);
}


asio::awaitable<Verdict> SpamStage::run(MessageContext& ctx) {
  static const conf::SpamLevels kDefaults;
  const conf::SpamLevels& lv = ctx.policy ? ctx.policy->spam : kDefaults;
  const auto& idx = ctx.message.headers();

  // Foreign verdicts go, whatever happens below; the first Subject is kept
  // in mind for the tag.
  const auto& fs = idx.fields();
  std::size_t removed = 0;
  std::optional<std::size_t> subject;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    auto n = field_name_of(idx.field(fs[i]));
    if (ascii::iequals(n, "X-Spam-Flag") || ascii::iequals(n, "X-Spam-Score") ||
        ascii::iequals(n, "X-Spam-Level") || ascii::iequals(n, "X-Spam-Status")) {
      if (!ctx.edits.removed(i)) ctx.edits.remove.push_back(i);
      ++removed;
    } else if (!subject && ascii::iequals(n, "Subject") && !ctx.edits.removed(i)) {
      subject = i;
    }
  }
  std::string removed_note =
      removed ? "; removed " + std::to_string(removed) + " foreign X-Spam-* fields" : "";

  if (ctx.message.size() > cfg_.max_size) {
    ctx.notes.emplace_back("spam", "skipped: too large (" + std::to_string(ctx.message.size()) +
                                       " > max_size " + std::to_string(cfg_.max_size) + ")" +
                                       removed_note);
    co_return Verdict{};
  }

  std::string failures;
  std::optional<SpamReply> reply;
  const conf::SpamScanner* by = nullptr;
  for (const auto& s : cfg_.scanners) {
    const auto which = s.kind == conf::SpamScanner::Kind::Rspamd ? metrics::Scanner::Rspamd
                                                                 : metrics::Scanner::Spamd;
    metrics::scanner(which, metrics::ScanEvent::Call);
    auto r = co_await scan(s, ctx);
    if (r) {
      reply = std::move(r.value());
      by = &s;
      break;
    }
    metrics::scanner(which, metrics::ScanEvent::Failure);
    if (&s != &cfg_.scanners.back()) metrics::scanner(which, metrics::ScanEvent::Failover);
    log::main().warn("{}: spam: scanner {} failed: {}", ctx.log_id, s.name, r.error().message);
    failures += (failures.empty() ? "" : "; ") + s.name + ": " + r.error().message;
  }
  if (!reply) {
    std::string why = unavailable(cfg_) + failures;
    ctx.notes.emplace_back("spam", why + removed_note);
    if (cfg_.on_error == conf::SpamConfig::OnError::TempFail)
      co_return Verdict{Action::TempFail, "spam check: " + why};
    co_return Verdict{};
  }

  double score = reply->score + lv.score_offset;
  std::string sc = format_spam_score(score);
  ctx.notes.emplace_back("spam", score_note(*reply, score, lv.score_offset, *by) + removed_note);

  // Our X-Spam-* fields and the subject tag are for local recipients only
  // (recipients.hpp); the removal of foreign ones above applies to all.
  // Recipients with levels of their own get theirs from the same result.
  auto result = std::make_shared<SpamResult>(score, std::move(*reply), subject);
  ctx.local_edits = spam_local_edits(*result, lv, idx);
  if (auto f = spam_finding(score, lv)) ctx.findings.push_back(std::move(*f));
  ctx.spam = std::move(result);
  co_return Verdict{};
}

}  // namespace sigil::filter
