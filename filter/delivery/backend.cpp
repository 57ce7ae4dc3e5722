// filter/delivery/backend.cpp — see backend.hpp.
#include "filter/delivery/backend.hpp"
#include "filter/delivery/maildir_backend.hpp"
#include "filter/delivery/message_head.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <span>

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "conf/ascii.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/metrics.hpp"
#include "filter/net/line_buffer.hpp"
#include "filter/net/watchdog.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

void dot_stuff(std::string_view in, bool& at_line_start, std::string& out) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    if (at_line_start && *p == '.') out.push_back('.');
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (!nl) {
      out.append(p, end);
      at_line_start = false;
      return;
    }
    out.append(p, nl + 1);
    p = nl + 1;
    at_line_start = true;
  }
}

namespace {

// Every recipient, and the transaction, get `r`.
DeliveryResult fail_all(std::size_t recipients, const Reply& r) {
  DeliveryResult res;
  res.decisive = r;
  res.rcpt.assign(recipients, r);
  return res;
}

// The recipients `accepted` (indexes into res.rcpt), and the transaction,
// end with `r`; the others keep their RCPT replies.
DeliveryResult settle_accepted(DeliveryResult res, std::span<const std::size_t> accepted,
                               const Reply& r) {
  for (auto i : accepted) res.rcpt[i] = r;
  res.decisive = r;
  return res;
}

// ----------------------------------------------------------------- connection

// A connection to an SMTP/LMTP back-end, with what its EHLO/LHLO offered;
// cached between messages while idle.
struct BackendConnection {
  BackendConnection(asio::any_io_executor ex) : sock(ex), dog(ex) {}
  Socket sock;
  LineBuffer in{8192};
  Watchdog dog;
  bool lmtp = false;
  bool pipelining = false, xforward = false, dsn = false, size = false, eightbit = false,
       smtputf8 = false;
  std::vector<std::string> xforward_attrs;
  Clock::time_point idle_since{};
  bool broken = false;
  // Send buffers, kept with the connection so that a message costs no
  // allocation (per-message 144 KiB buffers made glibc trim and regrow the
  // heap every time: ~60% of the relay's CPU, measured in bench/).
  std::string out;
  std::unique_ptr<char[]> chunk;  // ChunkReader's buffer for spooled messages
};

using ConnPtr = std::unique_ptr<BackendConnection>;

// Reads one (possibly multi-line) reply.  Failure: Timeout, Protocol
// (malformed reply), Temporary (connection closed or reset).
asio::awaitable<Result<Reply>> read_reply(BackendConnection& c, Clock::duration timeout) {
  ReplyParser parser;
  c.dog.arm(timeout);
  for (;;) {
    while (auto line = c.in.peek_line()) {
      std::string_view text = line->text;
      c.in.consume(line->total);
      if (!parser.feed(text)) {
        c.broken = true;
        co_return make_error(ErrorKind::Protocol,
                             "malformed reply from back-end: '" +
                                 std::string(text.substr(0, 80)) + "'");
      }
      if (parser.complete()) co_return parser.take();
    }
    if (c.in.data().size() > 64 * 1024) {
      c.broken = true;
      co_return make_error(ErrorKind::Protocol, "back-end reply line too long");
    }
    std::size_t avail = 0;
    char* p = c.in.prepare(4096, avail);
    auto [ec, n] =
        co_await c.sock.async_read_some(asio::buffer(p, avail), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      c.broken = true;
      if (c.dog.expired())
        co_return make_error(ErrorKind::Timeout, "timeout waiting for back-end reply");
      co_return make_error(ErrorKind::Temporary,
                           ec == asio::error::eof ? std::string("back-end closed the connection")
                                                  : "back-end read error: " + ec.message());
    }
    c.in.commit(n);
  }
}

asio::awaitable<Status> write_all(BackendConnection& c, std::string_view data,
                                  Clock::duration timeout) {
  c.dog.arm(timeout);
  auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(data.data(), data.size()),
                                            asio::as_tuple(asio::use_awaitable));
  (void)n;
  if (ec) {
    c.broken = true;
    if (c.dog.expired()) co_return make_error(ErrorKind::Timeout, "timeout writing to back-end");
    co_return make_error(ErrorKind::Temporary, "back-end write error: " + ec.message());
  }
  co_return Ok{};
}

// A reply synthesised for a local failure talking to the back-end.
Reply failure_reply(const Error& e, std::string_view stage) {
  std::string enh = e.kind == ErrorKind::Timeout ? "4.4.2" : "4.4.1";
  if (e.kind == ErrorKind::Protocol) enh = "4.5.0";
  return make_reply(451, enh, "back-end " + std::string(stage) + ": " + e.message);
}

// A configured timeout, cut to what is left before the request's deadline
// (none left: zero, and the wait fails at once as a timeout).
Clock::duration cut(conf::Seconds t, const DeliveryRequest& req) {
  if (!req.deadline) return t;
  auto left = *req.deadline - Clock::now();
  return std::clamp<Clock::duration>(left, Clock::duration::zero(), t);
}

// ----------------------------------------------------------------- envelope

// XFORWARD lines (Postfix's XFORWARD_README) with the attributes the
// back-end announced, a new line before one would pass 500 bytes.
std::vector<std::string> xforward_commands(const BackendConnection& c, const Envelope& env) {
  std::vector<std::string> cmds;
  std::string line = "XFORWARD";
  for (auto& [k, v] : env.xforward) {
    if (std::find(c.xforward_attrs.begin(), c.xforward_attrs.end(), k) == c.xforward_attrs.end())
      continue;
    std::string attr = " " + k + "=" + v;
    if (line.size() + attr.size() > 500 && line != "XFORWARD") {
      cmds.push_back(line + "\r\n");
      line = "XFORWARD";
    }
    line += attr;
  }
  if (line != "XFORWARD") cmds.push_back(line + "\r\n");
  return cmds;
}

// " KEY=value KEY" for ESMTP parameters passed on as received.
std::string params_text(const std::vector<Param>& params) {
  std::string s;
  for (auto& p : params) s += " " + p.key + (p.has_value ? "=" + p.value : "");
  return s;
}

// The envelope's commands: XFORWARD lines first, then MAIL, then one RCPT
// per recipient.
struct EnvelopeCommands {
  std::vector<std::string> lines;
  std::size_t n_xforward = 0;  // lines[n_xforward] is MAIL
};

EnvelopeCommands envelope_commands(const BackendConnection& c, const DeliveryRequest& req,
                                   bool use_xforward) {
  const Envelope& env = req.envelope;
  EnvelopeCommands cmds;
  if (use_xforward && c.xforward && !env.xforward.empty()) cmds.lines = xforward_commands(c, env);
  cmds.n_xforward = cmds.lines.size();
  std::string mail = "MAIL FROM:<" + env.sender + ">";
  if (c.size) mail += " SIZE=" + std::to_string(req.message.size());
  if (env.body_8bit && c.eightbit) mail += " BODY=8BITMIME";
  if (env.smtputf8) mail += " SMTPUTF8";
  if (c.dsn) mail += params_text(env.mail_params);
  cmds.lines.push_back(mail + "\r\n");
  for (auto& r : env.recipients)
    cmds.lines.push_back("RCPT TO:<" + r.address + ">" + (c.dsn ? params_text(r.params) : "") +
                         "\r\n");
  return cmds;
}

// Each recipient's RCPT reply (replies[first + i]) into res.rcpt.  Returns
// the indexes of the accepted recipients; `first_temp` is the first one
// refused with 4xx, if any.
std::vector<std::size_t> take_rcpt_replies(const std::vector<Reply>& replies, std::size_t first,
                                           std::size_t n, DeliveryResult& res,
                                           std::optional<std::size_t>& first_temp) {
  std::vector<std::size_t> accepted;
  res.rcpt.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    res.rcpt[i] = replies[first + i];
    if (!res.rcpt[i].positive()) metrics::backend_reply(res.rcpt[i].code);
    if (res.rcpt[i].positive()) accepted.push_back(i);
    else if (res.rcpt[i].temporary() && !first_temp) first_temp = i;
  }
  return accepted;
}

// ----------------------------------------------------------------- SMTP/LMTP

class SmtpBackend : public Backend, public std::enable_shared_from_this<SmtpBackend> {
 public:
  SmtpBackend(asio::any_io_executor ex, conf::ForwardConfig cfg, std::string helo)
      : ex_(std::move(ex)), cfg_(std::move(cfg)), helo_(std::move(helo)) {}
  ~SmtpBackend() override { close_idle(); }

  void close_idle() override {
    metrics::backend_idle(-static_cast<int>(idle_.size()));
    for (auto& c : idle_) {
      c->dog.stop();
      boost::system::error_code ec;
      c->sock.close(ec);
    }
    idle_.clear();
  }

  asio::awaitable<DeliveryResult> deliver(const DeliveryRequest& req) override;

 private:
  asio::awaitable<Result<ConnPtr>> connect(const DeliveryRequest& req);
  ConnPtr take_idle();
  void give_back(ConnPtr c);
  // One attempt; `retry` is set when a reused connection was dead before
  // anything was accepted.
  asio::awaitable<DeliveryResult> attempt(BackendConnection& c, const DeliveryRequest& req,
                                          bool reused, bool& retry);
  // Sends the commands (in one write with PIPELINING, else one by one, a
  // refused MAIL ending them) and returns their replies in order.  Failure:
  // as write_all and read_reply; `retry` as for attempt().
  asio::awaitable<Result<std::vector<Reply>>> send_envelope(BackendConnection& c,
                                                            const DeliveryRequest& req,
                                                            const EnvelopeCommands& cmds,
                                                            bool reused, bool& retry);
  // Gives the transaction up before any data (see attempt()).
  asio::awaitable<void> abandon(BackendConnection& c, const DeliveryRequest& req,
                                const std::optional<Reply>& data_go);
  // DATA's reply: the pipelined one, or DATA sent now.  Failure: as
  // write_all and read_reply.
  asio::awaitable<Result<Reply>> open_data(BackendConnection& c, const DeliveryRequest& req,
                                           const std::optional<Reply>& data_go);
  // The message and the final dot.  Returns the reply for the accepted
  // recipients when that failed.
  asio::awaitable<std::optional<Reply>> send_message(BackendConnection& c,
                                                     const DeliveryRequest& req);
  // The replies after the dot: one (SMTP) or one per accepted recipient (LMTP).
  asio::awaitable<DeliveryResult> final_replies(BackendConnection& c, const DeliveryRequest& req,
                                                DeliveryResult res,
                                                const std::vector<std::size_t>& accepted);
  Clock::duration reply_timeout(const DeliveryRequest& req) const {
    return cut(cfg_.reply_timeout, req);
  }

  asio::any_io_executor ex_;
  conf::ForwardConfig cfg_;
  std::string helo_;
  std::deque<ConnPtr> idle_;
};

ConnPtr SmtpBackend::take_idle() {
  auto now = Clock::now();
  while (!idle_.empty()) {
    ConnPtr c = std::move(idle_.back());
    idle_.pop_back();
    metrics::backend_idle(-1);
    if (now - c->idle_since < cfg_.idle_connection_time && !c->broken) return c;
    c->dog.stop();
    boost::system::error_code ec;
    c->sock.close(ec);
  }
  return nullptr;
}

void SmtpBackend::give_back(ConnPtr c) {
  if (c->broken || cfg_.max_idle_connections == 0 || cfg_.idle_connection_time.count() == 0) {
    c->dog.stop();
    boost::system::error_code ec;
    c->sock.close(ec);
    return;
  }
  // Drop the oldest beyond the cap.
  while (idle_.size() >= cfg_.max_idle_connections) {
    idle_.front()->dog.stop();
    boost::system::error_code ec;
    idle_.front()->sock.close(ec);
    idle_.pop_front();
    metrics::backend_idle(-1);
  }
  c->idle_since = Clock::now();
  idle_.push_back(std::move(c));
  metrics::backend_idle(1);
}

asio::awaitable<Result<ConnPtr>> SmtpBackend::connect(const DeliveryRequest& req) {
  auto c = std::make_unique<BackendConnection>(ex_);
  BackendConnection* raw = c.get();
  c->dog.start([raw] {
    boost::system::error_code ec;
    raw->sock.cancel(ec);
  });
  c->lmtp = cfg_.target.kind != conf::ForwardTarget::Kind::Smtp;
  asio::generic::stream_protocol::endpoint ep;
  if (cfg_.target.kind == conf::ForwardTarget::Kind::LmtpUnix) {
    ep = asio::local::stream_protocol::endpoint(cfg_.target.path);
  } else {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(cfg_.target.host, ec);
    ep = asio::ip::tcp::endpoint(addr, cfg_.target.port);
  }
  c->dog.arm(cut(cfg_.connect_timeout, req));
  auto [ec] = co_await c->sock.async_connect(ep, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    std::string why = c->dog.expired() ? std::string("connect timeout") : ec.message();
    co_return make_error(ErrorKind::Temporary, "connect to " + cfg_.target.text + ": " + why);
  }
  if (cfg_.target.kind != conf::ForwardTarget::Kind::LmtpUnix) {
    int one = 1;
    ::setsockopt(c->sock.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  auto greet = co_await read_reply(*c, cut(cfg_.connect_timeout, req));
  if (!greet) co_return greet.error();
  if (greet->code != 220)
    co_return make_error(ErrorKind::Temporary, "back-end greeting: " + greet->summary());
  std::string hello = (c->lmtp ? "LHLO " : "EHLO ") + helo_ + "\r\n";
  if (auto s = co_await write_all(*c, hello, reply_timeout(req)); !s) co_return s.error();
  auto ehlo = co_await read_reply(*c, reply_timeout(req));
  if (!ehlo) co_return ehlo.error();
  if (ehlo->code != 250)
    co_return make_error(ErrorKind::Temporary, "back-end EHLO: " + ehlo->summary());
  for (std::size_t i = 1; i < ehlo->lines.size(); ++i) {
    std::string l = ascii::upper(ehlo->lines[i]);
    auto word = l.substr(0, l.find(' '));
    if (word == "PIPELINING") c->pipelining = true;
    else if (word == "DSN") c->dsn = true;
    else if (word == "SIZE") c->size = true;
    else if (word == "8BITMIME") c->eightbit = true;
    else if (word == "SMTPUTF8") c->smtputf8 = true;
    else if (word == "XFORWARD") {
      c->xforward = true;
      std::size_t pos = word.size();
      while (pos < l.size()) {
        while (pos < l.size() && l[pos] == ' ') ++pos;
        auto e = l.find(' ', pos);
        if (pos < l.size()) c->xforward_attrs.push_back(l.substr(pos, e - pos));
        pos = e == std::string::npos ? l.size() : e;
      }
    }
  }
  co_return std::move(c);
}

asio::awaitable<DeliveryResult> SmtpBackend::deliver(const DeliveryRequest& req) {
  const std::size_t n = req.envelope.recipients.size();
  for (int round = 0; round < 2; ++round) {
    // The second round connects afresh: the first found a cached connection
    // dead, which is what a back-end restart does to every connection cached
    // before it (all dropped below), so another cached one would fail alike.
    ConnPtr c = round == 0 ? take_idle() : nullptr;
    bool reused = c != nullptr;
    if (!c) {
      auto r = co_await connect(req);
      if (!r) {
        metrics::backend_connect_failure();
        co_return fail_all(n, failure_reply(r.error(), "unavailable"));
      }
      c = std::move(r.value());
    }
    bool retry = false;
    DeliveryResult res = co_await attempt(*c, req, reused, retry);
    give_back(std::move(c));
    if (retry && round == 0) {
      log::backend().debug("{}: cached back-end connection was dead; dropping {} more, reconnecting",
                           req.log_id, idle_.size());
      close_idle();
      continue;
    }
    co_return res;
  }
  co_return DeliveryResult{};  // not reached
}

asio::awaitable<DeliveryResult> SmtpBackend::attempt(BackendConnection& c,
                                                     const DeliveryRequest& req, bool reused,
                                                     bool& retry) {
  const std::size_t n = req.envelope.recipients.size();
  if (req.envelope.smtputf8 && !c.smtputf8)
    co_return fail_all(n, make_reply(554, "5.6.7",
                                     "SMTPUTF8 is required, but was not offered by the back-end"));

  // ---- envelope, pipelined when offered
  EnvelopeCommands cmds = envelope_commands(c, req, cfg_.xforward);
  // With PIPELINING, DATA goes in the same batch as MAIL and RCPT (RFC 2920
  // §3.1 allows it as the last command of a group): one write and one read
  // fewer per message.  If the envelope then turns out unusable while DATA
  // got 354, the transaction is abandoned by dropping the connection before
  // any data, never by sending an empty message (see abandon()).
  const bool data_pipelined = c.pipelining;
  if (data_pipelined) cmds.lines.push_back("DATA\r\n");
  auto replies = co_await send_envelope(c, req, cmds, reused, retry);
  if (!replies) co_return fail_all(n, failure_reply(replies.error(), "envelope"));
  std::optional<Reply> data_go;  // the pipelined DATA's reply
  if (data_pipelined) {
    data_go = std::move(replies->back());
    replies->pop_back();
  }

  for (std::size_t i = 0; i < cmds.n_xforward; ++i)
    if (!(*replies)[i].positive())
      log::backend().warn("{}: back-end refused XFORWARD: {}", req.log_id, (*replies)[i].summary());
  const Reply& mail_reply = (*replies)[cmds.n_xforward];
  if (!mail_reply.positive()) {
    metrics::backend_reply(mail_reply.code);
    co_await abandon(c, req, data_go);
    co_return fail_all(n, mail_reply);
  }
  DeliveryResult res;
  std::optional<std::size_t> first_temp;
  const auto accepted = take_rcpt_replies(*replies, cmds.n_xforward + 1, n, res, first_temp);
  if (accepted.empty()) {
    co_await abandon(c, req, data_go);
    res.decisive = res.rcpt[first_temp.value_or(0)];
    co_return res;
  }
  if (first_temp && !req.per_recipient_replies) {
    // Tempfail everything before any data is sent: no duplicates on retry.
    Reply t = res.rcpt[*first_temp];
    co_await abandon(c, req, data_go);
    co_return fail_all(n, t);
  }

  // ---- DATA (already sent and answered when pipelined)
  auto go = co_await open_data(c, req, data_go);
  if (!go || go->code != 354) {
    if (go) metrics::backend_reply(go->code);
    if (go) co_await abandon(c, req, data_go);
    co_return settle_accepted(std::move(res), accepted,
                              go ? go.value() : failure_reply(go.error(), "DATA"));
  }

  // ---- message, final reply
  if (auto f = co_await send_message(c, req))
    co_return settle_accepted(std::move(res), accepted, *f);
  co_return co_await final_replies(c, req, std::move(res), accepted);
}

asio::awaitable<Result<std::vector<Reply>>> SmtpBackend::send_envelope(
    BackendConnection& c, const DeliveryRequest& req, const EnvelopeCommands& cmds, bool reused,
    bool& retry) {
  const auto& lines = cmds.lines;
  if (c.pipelining) {
    std::string all;
    for (auto& s : lines) all += s;
    if (auto s = co_await write_all(c, all, reply_timeout(req)); !s) {
      if (reused) retry = true;
      co_return s.error();
    }
  }
  std::vector<Reply> replies;
  replies.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!c.pipelining) {
      if (auto s = co_await write_all(c, lines[i], reply_timeout(req)); !s) {
        if (reused && i == 0) retry = true;
        co_return s.error();
      }
    }
    auto r = co_await read_reply(c, reply_timeout(req));
    if (!r) {
      // A cached connection the back-end closed meanwhile: worth a new one.
      if (i == 0 && reused && r.error().kind == ErrorKind::Temporary) retry = true;
      co_return r.error();
    }
    replies.push_back(std::move(r.value()));
    if (!c.pipelining && i == cmds.n_xforward && !replies.back().positive()) break;  // MAIL refused
  }
  co_return std::move(replies);
}

asio::awaitable<void> SmtpBackend::abandon(BackendConnection& c, const DeliveryRequest& req,
                                           const std::optional<Reply>& data_go) {
  if (data_go && data_go->code == 354) {
    // DATA was accepted although the transaction is being given up: a
    // connection closed before the final dot delivers nothing.
    c.broken = true;
    co_return;
  }
  if (!(co_await write_all(c, "RSET\r\n", reply_timeout(req)))) co_return;
  auto r = co_await read_reply(c, reply_timeout(req));
  if (!r || !r->positive()) c.broken = true;
}

asio::awaitable<Result<Reply>> SmtpBackend::open_data(BackendConnection& c,
                                                      const DeliveryRequest& req,
                                                      const std::optional<Reply>& data_go) {
  if (data_go) co_return *data_go;
  if (auto s = co_await write_all(c, "DATA\r\n", reply_timeout(req)); !s) co_return s.error();
  co_return co_await read_reply(c, reply_timeout(req));
}

asio::awaitable<std::optional<Reply>> SmtpBackend::send_message(BackendConnection& c,
                                                                const DeliveryRequest& req) {
  // Dot-stuffed, in bounded chunks.
  std::string& out = c.out;
  out.clear();
  out.reserve(ChunkReader::kChunkSize + ChunkReader::kChunkSize / 4);
  bool bol = true;
  const std::uint64_t off = put_head(req, [&](std::string_view s) { dot_stuff(s, bol, out); });
  ChunkReader chunks(req.message, off, c.chunk);
  char last = '\n';
  for (;;) {
    auto piece = chunks.next();
    if (!piece) {
      // Local spool failure: abandon the transaction without the final dot.
      c.broken = true;
      co_return make_reply(451, "4.3.0",
                           "local error reading the message: " + piece.error().message);
    }
    if (piece->empty()) break;
    last = piece->back();
    dot_stuff(*piece, bol, out);
    if (out.size() >= ChunkReader::kChunkSize) {
      if (auto s = co_await write_all(c, out, reply_timeout(req)); !s)
        co_return failure_reply(s.error(), "sending data");
      out.clear();
    }
  }
  if (last != '\n') out += "\r\n";
  out += ".\r\n";
  if (auto s = co_await write_all(c, out, reply_timeout(req)); !s)
    co_return failure_reply(s.error(), "sending data");
  co_return std::nullopt;
}

asio::awaitable<DeliveryResult> SmtpBackend::final_replies(
    BackendConnection& c, const DeliveryRequest& req, DeliveryResult res,
    const std::vector<std::size_t>& accepted) {
  std::size_t finals = c.lmtp ? accepted.size() : 1;
  for (std::size_t k = 0; k < finals; ++k) {
    auto r = co_await read_reply(c, reply_timeout(req));
    if (!r) {
      // The dot went out; the back-end may have queued the message.
      res.uncertain = true;
      Reply f = make_reply(451, "4.4.2",
                           "lost the back-end after end of data (" + r.error().message +
                               "); delivery state unknown, retry may duplicate");
      co_return settle_accepted(std::move(res), std::span(accepted).subspan(k), f);
    }
    metrics::backend_reply(r->code);
    if (!c.lmtp) co_return settle_accepted(std::move(res), accepted, r.value());
    res.rcpt[accepted[k]] = r.value();
    if (k == 0 || !r->positive()) res.decisive = r.value();
  }
  co_return res;
}

}  // namespace

std::shared_ptr<Backend> make_backend(asio::any_io_executor ex, const conf::ForwardConfig& cfg,
                                      const std::string& helo) {
  if (cfg.target.kind == conf::ForwardTarget::Kind::Maildir)
    return make_maildir_backend(cfg.target.path, helo);
  return std::make_shared<SmtpBackend>(std::move(ex), cfg, helo);
}

}  // namespace sigil::filter
