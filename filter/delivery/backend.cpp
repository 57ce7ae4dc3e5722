// filter/delivery/backend.cpp — see backend.hpp.
#include "filter/delivery/backend.hpp"

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

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "filter/net/watchdog.hpp"
#include "filter/net/line_buffer.hpp"
#include "filter/core/log.hpp"

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

Reply make_reply(int code, std::string enhanced, std::string text) {
  Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines.push_back(std::move(text));
  return r;
}

// ----------------------------------------------------------------- connection

struct Connection {
  Connection(asio::any_io_executor ex) : sock(ex), dog(ex) {}
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
  std::unique_ptr<char[]> chunk;
};

using ConnPtr = std::unique_ptr<Connection>;

// Reads one (possibly multi-line) reply.  Failure: Timeout, Protocol
// (malformed reply), Temporary (connection closed or reset).
asio::awaitable<Result<Reply>> read_reply(Connection& c, Clock::duration timeout) {
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

asio::awaitable<Status> write_all(Connection& c, std::string_view data, Clock::duration timeout) {
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

// ----------------------------------------------------------------- SMTP/LMTP

class SmtpBackend : public Backend, public std::enable_shared_from_this<SmtpBackend> {
 public:
  SmtpBackend(asio::any_io_executor ex, conf::ForwardConfig cfg, std::string helo)
      : ex_(std::move(ex)), cfg_(std::move(cfg)), helo_(std::move(helo)) {}
  ~SmtpBackend() override { close_idle(); }

  void close_idle() override {
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
  asio::awaitable<DeliveryResult> attempt(Connection& c, const DeliveryRequest& req, bool reused,
                                          bool& retry);

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
  }
  c->idle_since = Clock::now();
  idle_.push_back(std::move(c));
}

// A configured timeout, cut to what is left before the request's deadline
// (none left: zero, and the wait fails at once as a timeout).
static Clock::duration cut(conf::Seconds t, const DeliveryRequest& req) {
  if (!req.deadline) return t;
  auto left = *req.deadline - Clock::now();
  return std::clamp<Clock::duration>(left, Clock::duration::zero(), t);
}

asio::awaitable<Result<ConnPtr>> SmtpBackend::connect(const DeliveryRequest& req) {
  auto c = std::make_unique<Connection>(ex_);
  Connection* raw = c.get();
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
  if (auto s = co_await write_all(*c, hello, cut(cfg_.reply_timeout, req)); !s) co_return s.error();
  auto ehlo = co_await read_reply(*c, cut(cfg_.reply_timeout, req));
  if (!ehlo) co_return ehlo.error();
  if (ehlo->code != 250)
    co_return make_error(ErrorKind::Temporary, "back-end EHLO: " + ehlo->summary());
  for (std::size_t i = 1; i < ehlo->lines.size(); ++i) {
    std::string l = ehlo->lines[i];
    for (auto& ch : l) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
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
    ConnPtr c = take_idle();
    bool reused = c != nullptr;
    if (!c) {
      auto r = co_await connect(req);
      if (!r) {
        DeliveryResult res;
        res.decisive = failure_reply(r.error(), "unavailable");
        res.rcpt.assign(n, res.decisive);
        co_return res;
      }
      c = std::move(r.value());
    }
    bool retry = false;
    DeliveryResult res = co_await attempt(*c, req, reused, retry);
    give_back(std::move(c));
    if (retry && round == 0) {
      log::backend().debug("{}: cached back-end connection was dead; reconnecting", req.log_id);
      continue;
    }
    co_return res;
  }
  co_return DeliveryResult{};  // not reached
}

asio::awaitable<DeliveryResult> SmtpBackend::attempt(Connection& c, const DeliveryRequest& req,
                                                     bool reused, bool& retry) {
  const Envelope& env = req.envelope;
  const std::size_t n = env.recipients.size();
  DeliveryResult res;
  auto fail_all = [&](const Reply& r) {
    res.decisive = r;
    res.rcpt.assign(n, r);
    return res;
  };
  if (env.smtputf8 && !c.smtputf8)
    co_return fail_all(make_reply(
        554, "5.6.7", "SMTPUTF8 is required, but was not offered by the back-end"));

  // ---- envelope, pipelined when offered
  std::vector<std::string> cmds;
  if (cfg_.xforward && c.xforward && !env.xforward.empty()) {
    std::string line = "XFORWARD";
    for (auto& [k, v] : env.xforward) {
      if (std::find(c.xforward_attrs.begin(), c.xforward_attrs.end(), k) ==
          c.xforward_attrs.end())
        continue;
      std::string attr = " " + k + "=" + v;
      if (line.size() + attr.size() > 500 && line != "XFORWARD") {
        cmds.push_back(line + "\r\n");
        line = "XFORWARD";
      }
      line += attr;
    }
    if (line != "XFORWARD") cmds.push_back(line + "\r\n");
  }
  const std::size_t n_xforward = cmds.size();
  std::string mail = "MAIL FROM:<" + env.sender + ">";
  if (c.size) mail += " SIZE=" + std::to_string(req.message.size());
  if (env.body_8bit && c.eightbit) mail += " BODY=8BITMIME";
  if (env.smtputf8) mail += " SMTPUTF8";
  if (c.dsn)
    for (auto& p : env.mail_params) mail += " " + p.key + (p.has_value ? "=" + p.value : "");
  cmds.push_back(mail + "\r\n");
  for (auto& r : env.recipients) {
    std::string rc = "RCPT TO:<" + r.address + ">";
    if (c.dsn)
      for (auto& p : r.params) rc += " " + p.key + (p.has_value ? "=" + p.value : "");
    cmds.push_back(rc + "\r\n");
  }

  std::vector<Reply> replies;
  replies.reserve(cmds.size());
  bool first_read = true;
  auto get = [&](std::size_t i) -> asio::awaitable<Result<Reply>> {
    (void)i;
    auto r = co_await read_reply(c, cut(cfg_.reply_timeout, req));
    if (!r && first_read && reused && r.error().kind == ErrorKind::Temporary) retry = true;
    first_read = false;
    co_return r;
  };
  // With PIPELINING, DATA goes in the same batch as MAIL and RCPT (RFC 2920
  // §3.1 allows it as the last command of a group): one write and one read
  // fewer per message.  If the envelope then turns out unusable while DATA
  // got 354, the transaction is abandoned by dropping the connection before
  // any data, never by sending an empty message (see abandon below).
  const bool data_pipelined = c.pipelining;
  if (data_pipelined) cmds.push_back("DATA\r\n");
  if (c.pipelining) {
    std::string all;
    for (auto& s : cmds) all += s;
    if (auto s = co_await write_all(c, all, cut(cfg_.reply_timeout, req)); !s) {
      if (reused) retry = true;
      co_return fail_all(failure_reply(s.error(), "envelope"));
    }
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      auto r = co_await get(i);
      if (!r) co_return fail_all(failure_reply(r.error(), "envelope"));
      replies.push_back(std::move(r.value()));
    }
  } else {
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      if (auto s = co_await write_all(c, cmds[i], cut(cfg_.reply_timeout, req)); !s) {
        if (reused && i == 0) retry = true;
        co_return fail_all(failure_reply(s.error(), "envelope"));
      }
      auto r = co_await get(i);
      if (!r) co_return fail_all(failure_reply(r.error(), "envelope"));
      replies.push_back(std::move(r.value()));
      if (i == n_xforward && !replies.back().positive()) break;  // MAIL refused
    }
  }

  std::optional<Reply> data_go;  // the pipelined DATA's reply
  if (data_pipelined) {
    data_go = std::move(replies.back());
    replies.pop_back();
  }
  auto rset = [&]() -> asio::awaitable<void> {
    if (data_go && data_go->code == 354) {
      // DATA was accepted although the transaction is being given up: a
      // connection closed before the final dot delivers nothing.
      c.broken = true;
      co_return;
    }
    if (!(co_await write_all(c, "RSET\r\n", cut(cfg_.reply_timeout, req)))) co_return;
    auto r = co_await read_reply(c, cut(cfg_.reply_timeout, req));
    if (!r || !r->positive()) c.broken = true;
  };

  for (std::size_t i = 0; i < n_xforward; ++i)
    if (!replies[i].positive())
      log::backend().warn("{}: back-end refused XFORWARD: {}", req.log_id, replies[i].summary());
  const Reply& mail_reply = replies[n_xforward];
  if (!mail_reply.positive()) {
    co_await rset();
    co_return fail_all(mail_reply);
  }
  res.rcpt.resize(n);
  std::vector<std::size_t> accepted;
  bool any_temp = false;
  const Reply* first_temp = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    res.rcpt[i] = replies[n_xforward + 1 + i];
    if (res.rcpt[i].positive()) accepted.push_back(i);
    else if (res.rcpt[i].temporary()) {
      any_temp = true;
      if (!first_temp) first_temp = &res.rcpt[i];
    }
  }
  if (accepted.empty()) {
    co_await rset();
    res.decisive = first_temp ? *first_temp : res.rcpt.front();
    co_return res;
  }
  if (any_temp && !req.per_recipient_replies) {
    // Tempfail everything before any data is sent: no duplicates on retry.
    Reply t = *first_temp;
    co_await rset();
    co_return fail_all(t);
  }

  // ---- DATA (already sent and answered when pipelined)
  Result<Reply> go = make_reply(0, "", "");
  if (data_go) {
    go = *data_go;
  } else {
    if (auto s = co_await write_all(c, "DATA\r\n", cut(cfg_.reply_timeout, req)); !s) {
      Reply f = failure_reply(s.error(), "DATA");
      for (auto i : accepted) res.rcpt[i] = f;
      res.decisive = f;
      co_return res;
    }
    go = co_await read_reply(c, cut(cfg_.reply_timeout, req));
  }
  if (!go || go->code != 354) {
    Reply f = go ? go.value() : failure_reply(go.error(), "DATA");
    if (go) co_await rset();
    for (auto i : accepted) res.rcpt[i] = f;
    res.decisive = f;
    co_return res;
  }

  // ---- message, dot-stuffed, in bounded chunks
  constexpr std::size_t kChunk = 64 * 1024;
  std::string& out = c.out;
  out.clear();
  out.reserve(kChunk + kChunk / 4);
  bool bol = true;
  for (auto& h : req.edits.prepend) dot_stuff(h, bol, out);
  // With fields removed, the header section is written field by field and
  // the stored bytes are sent from the end of the last field on.
  std::uint64_t off = passthrough_offset(req.edits, req.message.headers());
  if (off > 0) {
    const auto& hi = req.message.headers();
    for (std::size_t i = 0; i < hi.fields().size(); ++i)
      if (!req.edits.removed(i)) dot_stuff(hi.field(hi.fields()[i]), bol, out);
  }
  std::string_view mem = req.message.in_memory();
  if (mem.empty() && req.message.size() > 0 && !c.chunk)
    c.chunk = std::make_unique_for_overwrite<char[]>(kChunk);
  char last = '\n';
  for (;;) {
    std::string_view piece;
    if (!mem.empty()) {
      piece = mem.substr(static_cast<std::size_t>(off), kChunk);
    } else if (req.message.size() > 0) {
      auto r = req.message.read(off, c.chunk.get(), kChunk);
      if (!r) {
        // Local spool failure: abandon the transaction without the final dot.
        c.broken = true;
        Reply f =
            make_reply(451, "4.3.0", "local error reading the message: " + r.error().message);
        for (auto i : accepted) res.rcpt[i] = f;
        res.decisive = f;
        co_return res;
      }
      piece = std::string_view(c.chunk.get(), *r);
    }
    if (piece.empty()) break;
    off += piece.size();
    last = piece.back();
    dot_stuff(piece, bol, out);
    if (out.size() >= kChunk) {
      if (auto s = co_await write_all(c, out, cut(cfg_.reply_timeout, req)); !s) {
        Reply f = failure_reply(s.error(), "sending data");
        for (auto i : accepted) res.rcpt[i] = f;
        res.decisive = f;
        co_return res;
      }
      out.clear();
    }
  }
  if (last != '\n') out += "\r\n";
  out += ".\r\n";
  if (auto s = co_await write_all(c, out, cut(cfg_.reply_timeout, req)); !s) {
    Reply f = failure_reply(s.error(), "sending data");
    for (auto i : accepted) res.rcpt[i] = f;
    res.decisive = f;
    co_return res;
  }

  // ---- final reply: one (SMTP) or one per accepted recipient (LMTP)
  std::size_t finals = c.lmtp ? accepted.size() : 1;
  for (std::size_t k = 0; k < finals; ++k) {
    auto r = co_await read_reply(c, cut(cfg_.reply_timeout, req));
    if (!r) {
      // The dot went out; the back-end may have queued the message.
      res.uncertain = true;
      Reply f = make_reply(451, "4.4.2",
                           "lost the back-end after end of data (" + r.error().message +
                               "); delivery state unknown, retry may duplicate");
      for (std::size_t j = k; j < accepted.size(); ++j) res.rcpt[accepted[j]] = f;
      res.decisive = f;
      co_return res;
    }
    if (c.lmtp) {
      res.rcpt[accepted[k]] = r.value();
      if (k == 0 || !r->positive()) res.decisive = r.value();
    } else {
      for (auto i : accepted) res.rcpt[i] = r.value();
      res.decisive = r.value();
    }
  }
  co_return res;
}

// ----------------------------------------------------------------- maildir

// XXX: maildir delivery writes synchronously on the event loop.  It exists for
// first runs and demos; production uses an MTA back-end.
class MaildirBackend : public Backend {
 public:
  MaildirBackend(std::string dir, std::string host) : dir_(std::move(dir)), host_(std::move(host)) {}

  asio::awaitable<DeliveryResult> deliver(const DeliveryRequest& req) override {
    DeliveryResult res;
    auto st = write_message(req);
    if (st) res.decisive = make_reply(250, "2.0.0", "delivered to maildir as " + st.value());
    else res.decisive = make_reply(451, "4.3.0", "maildir delivery failed: " + st.error().message);
    res.rcpt.assign(req.envelope.recipients.size(), res.decisive);
    co_return res;
  }

 private:
  Status ensure_dirs() {
    if (ready_) return Ok{};
    for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
      std::string d = dir_ + sub;
      // Create parents of the maildir as needed.
      for (std::size_t pos = 1; pos != std::string::npos;) {
        pos = d.find('/', pos + 1);
        std::string part = d.substr(0, pos);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
          return make_error(ErrorKind::Io, "mkdir " + part + ": " + std::strerror(errno));
      }
    }
    ready_ = true;
    return Ok{};
  }

  Result<std::string> write_message(const DeliveryRequest& req) {
    if (auto s = ensure_dirs(); !s) return s.error();
    static std::atomic<unsigned long> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    std::string name = std::to_string(us / 1000000) + ".M" + std::to_string(us % 1000000) + "P" +
                       std::to_string(::getpid()) + "Q" + std::to_string(++counter) + "." + host_;
    std::string tmp = dir_ + "/tmp/" + name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorKind::Io, "open " + tmp + ": " + std::strerror(errno));
    // Maildir files use local (LF) line ends, as Postfix's local(8) writes them.
    std::string out = "Return-Path: <" + req.envelope.sender + ">\n";
    for (auto& r : req.envelope.recipients) out += "X-Original-To: " + r.address + "\n";
    auto put = [&](std::string_view s) {
      for (char ch : s)
        if (ch != '\r') out.push_back(ch);
    };
    for (auto& h : req.edits.prepend) put(h);
    std::uint64_t off = passthrough_offset(req.edits, req.message.headers());
    if (off > 0) {
      const auto& hi = req.message.headers();
      for (std::size_t i = 0; i < hi.fields().size(); ++i)
        if (!req.edits.removed(i)) put(hi.field(hi.fields()[i]));
    }
    std::vector<char> chunk(64 * 1024);
    bool okw = true;
    auto flush = [&] {
      const char* p = out.data();
      std::size_t left = out.size();
      while (left) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return false;
        p += w;
        left -= static_cast<std::size_t>(w);
      }
      out.clear();
      return true;
    };
    std::string err;
    for (;;) {
      auto r = req.message.read(off, chunk.data(), chunk.size());
      if (!r) {
        err = r.error().message;
        okw = false;
        break;
      }
      if (*r == 0) break;
      off += *r;
      // A CR split from its LF by the chunk boundary is dropped too: the store
      // holds canonical CRLF only.
      put(std::string_view(chunk.data(), *r));
      if (out.size() > 256 * 1024 && !flush()) {
        err = std::strerror(errno);
        okw = false;
        break;
      }
    }
    if (okw && !flush()) {
      err = std::strerror(errno);
      okw = false;
    }
    if (okw && ::fsync(fd) != 0) {
      err = std::string("fsync: ") + std::strerror(errno);
      okw = false;
    }
    ::close(fd);
    if (!okw) {
      ::unlink(tmp.c_str());
      return make_error(ErrorKind::Io, "write " + tmp + ": " + err);
    }
    std::string fin = dir_ + "/new/" + name;
    if (::rename(tmp.c_str(), fin.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return make_error(ErrorKind::Io, "rename to " + fin + ": " + std::strerror(e));
    }
    int dfd = ::open((dir_ + "/new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return name;
  }

  std::string dir_, host_;
  bool ready_ = false;
};

}  // namespace

std::shared_ptr<Backend> make_backend(asio::any_io_executor ex, const conf::ForwardConfig& cfg,
                                      const std::string& helo) {
  if (cfg.target.kind == conf::ForwardTarget::Kind::Maildir)
    return std::make_shared<MaildirBackend>(cfg.target.path, helo);
  return std::make_shared<SmtpBackend>(std::move(ex), cfg, helo);
}

}  // namespace sigil::filter
