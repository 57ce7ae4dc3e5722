// bench/loadgen.cpp — sigil-loadgen, a bounded SMTP load generator.
//
// Opens N concurrent SMTP sessions to one host:port and sends M messages in
// total (one message or more per connection: MAIL/RCPT/DATA repeated without
// RSET), optionally pipelining MAIL/RCPT/DATA (RFC 2920) and optionally paced
// at a fixed rate.  For each message it measures the time from writing MAIL to
// reading the final reply after the dot, and prints msgs/s, p50/p90/p99/max
// latency and the 2xx/4xx/5xx counts as one human line and one JSON line.
// With --message-list it rotates over several message files (message i of
// the run is file i mod n), e.g. messages signed by different domains.
// A second mode (--idle) opens N sessions, says EHLO (and optionally sends a
// few messages), prints "READY n" and holds them open, for memory-per-session
// measurements.
//
// Does not: speak TLS, AUTH, BDAT or LMTP; retry refused messages; verify
// what the sink received.  It is a measuring tool, not a conformance test.
// Everything is bounded: the message count, connect retries and a global
// timeout (--timeout) after which it reports what it has and exits non-zero.
//
// RFC 5321 (SMTP, 4.5.2 dot-stuffing), RFC 2920 (PIPELINING), RFC 1870 (SIZE).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// ------------------------------------------------------------------ options

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  unsigned sessions = 8;
  std::uint64_t messages = 1000;
  std::uint64_t per_conn = 0;  // messages per connection; 0 = as many as possible
  std::string file;
  std::string message_list;  // file with one message path per line
  std::uint64_t size = 0;  // generated message size when no --file
  bool pipeline = false;
  double rate = 0;       // messages per second over all sessions; 0 = unpaced
  double timeout = 120;  // global, seconds
  unsigned rcpts = 1;
  std::string from = "bench@example.com";
  std::string to = "sink@example.net";
  std::string helo = "loadgen.example.com";
  std::string label = "run";
  unsigned idle = 0;  // idle mode: connections to hold
  double hold = 5;    // idle mode: seconds to hold after READY
  unsigned idle_msgs = 0;
};

[[noreturn]] void usage(int rc) {
  (rc ? std::cerr : std::cout) <<
      R"(usage: sigil-loadgen --port PORT [options]

Load mode (default): N sessions send M messages in total, then print a summary.
  --host ADDR        server address (default 127.0.0.1; loopback intended)
  --port PORT        server port (required)
  --sessions N       concurrent SMTP sessions (default 8)
  --messages M       messages to send in total (default 1000)
  --per-conn K       messages per connection before QUIT and reconnect
                     (default 0: keep each connection for the whole run)
  --file FILE        message to send (LF or CRLF line ends; dot-stuffed here)
  --message-list F   or rotate over the messages named in F, one path per
                     line (blank lines and '#' lines skipped): message i of
                     the run is the (i mod n)-th file
  --size SIZE        or generate a text message of SIZE bytes: 1024, 5K, 100K,
                     1M, 100M (K = 1024)  (default: 5K when no --file)
  --pipeline         send MAIL, RCPT and DATA in one write (if offered)
  --rate R           pace message starts at R msgs/s over all sessions
  --rcpts N          recipients per message (default 1)
  --from ADDR, --to ADDR, --helo NAME   envelope and greeting
  --timeout S        global deadline in seconds (default 120)
  --label TEXT       name printed in the summary and JSON

Idle mode: hold many mostly idle sessions open.
  --idle N           open N sessions, EHLO, send --idle-msgs messages each,
                     print "READY <established>", hold --hold seconds
                     (or until SIGTERM/SIGINT), then QUIT
  --idle-msgs K      messages per idle session before holding (default 0)
  --hold S           seconds to hold (default 5)

Output: one human summary line, then one JSON line (starts with '{').
Exit: 0 all messages got 2xx, 1 otherwise (or timeout), 2 usage error.
)";
  std::exit(rc);
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t mult = 1;
  char last = s.back();
  if (last == 'k' || last == 'K') mult = 1024;
  else if (last == 'm' || last == 'M') mult = 1024 * 1024;
  else if (last == 'g' || last == 'G') mult = 1024ull * 1024 * 1024;
  if (mult != 1) s.remove_suffix(1);
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v * mult;
}

double parse_double(const std::string& name, const std::string& v) {
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size() || !std::isfinite(d) || d < 0) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    std::cerr << "sigil-loadgen: bad value for " << name << ": '" << v << "'\n";
    usage(2);
  }
}

std::uint64_t parse_count(const std::string& name, const std::string& v) {
  auto n = parse_size(v);
  if (!n) {
    std::cerr << "sigil-loadgen: bad value for " << name << ": '" << v << "'\n";
    usage(2);
  }
  return *n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_size = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(0);
    if (a == "--pipeline") {
      o.pipeline = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "sigil-loadgen: unknown option or missing value: " << a << "\n";
      usage(2);
    }
    std::string v = argv[++i];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = static_cast<unsigned>(parse_count(a, v));
    else if (a == "--sessions") o.sessions = static_cast<unsigned>(parse_count(a, v));
    else if (a == "--messages") o.messages = parse_count(a, v);
    else if (a == "--per-conn") o.per_conn = parse_count(a, v);
    else if (a == "--file") o.file = v;
    else if (a == "--message-list") o.message_list = v;
    else if (a == "--size") {
      o.size = parse_count(a, v);
      have_size = true;
    } else if (a == "--rate") o.rate = parse_double(a, v);
    else if (a == "--timeout") o.timeout = parse_double(a, v);
    else if (a == "--rcpts") o.rcpts = static_cast<unsigned>(parse_count(a, v));
    else if (a == "--from") o.from = v;
    else if (a == "--to") o.to = v;
    else if (a == "--helo") o.helo = v;
    else if (a == "--label") o.label = v;
    else if (a == "--idle") o.idle = static_cast<unsigned>(parse_count(a, v));
    else if (a == "--hold") o.hold = parse_double(a, v);
    else if (a == "--idle-msgs") o.idle_msgs = static_cast<unsigned>(parse_count(a, v));
    else {
      std::cerr << "sigil-loadgen: unknown option " << a << "\n";
      usage(2);
    }
  }
  if (o.port == 0 || o.port > 65535) {
    std::cerr << "sigil-loadgen: --port 1..65535 is required\n";
    usage(2);
  }
  if (o.idle == 0 && (o.sessions == 0 || o.messages == 0)) {
    std::cerr << "sigil-loadgen: --sessions and --messages must be at least 1\n";
    usage(2);
  }
  if (o.rcpts == 0 || o.rcpts > 1000) {
    std::cerr << "sigil-loadgen: --rcpts must be 1..1000\n";
    usage(2);
  }
  if (o.timeout <= 0) o.timeout = 1;
  if ((!o.file.empty()) + (!o.message_list.empty()) + have_size > 1) {
    std::cerr << "sigil-loadgen: --file, --message-list and --size exclude each other\n";
    usage(2);
  }
  if (o.file.empty() && o.message_list.empty() && !have_size) o.size = 5 * 1024;
  return o;
}

// ------------------------------------------------------------------ message

// The wire form of a message: CRLF line ends, dot-stuffed, ending in CRLF.CRLF.
std::string to_wire(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 32 + 8);
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto nl = raw.find('\n', pos);
    std::string_view line =
        raw.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '.') out.push_back('.');
    out.append(line);
    out.append("\r\n");
  }
  out.append(".\r\n");
  return out;
}

// A plain-text message of exactly `size` bytes (CRLF included, the final dot
// excluded), or of the header size when `size` is smaller.  Body lines are
// words from a fixed vocabulary with a fixed seed: identical on every run and
// never starting with '.'.  Returned in wire form.
std::string generate(std::uint64_t size) {
  std::string m;
  m.reserve(size + 64);
  m += "From: Bench Sender <bench@example.com>\r\n";
  m += "To: Bench Sink <sink@example.net>\r\n";
  m += "Subject: sigil-loadgen generated message of " + std::to_string(size) + " bytes\r\n";
  m += "Date: Mon, 23 Nov 2026 10:15:01 +0000\r\n";
  m += "Message-ID: <loadgen-" + std::to_string(size) + "@example.com>\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "Content-Transfer-Encoding: 7bit\r\n";
  m += "\r\n";
  static const char* words[] = {"the",    "invoice", "budget",  "shipment", "schedule", "meeting",
                                "report", "please",  "project", "deadline", "forecast", "update",
                                "with",   "for",     "and",     "quarter",  "numbers",  "thanks"};
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  while (m.size() < size) {
    std::uint64_t left = size - m.size();
    if (left <= 76) {
      // Last line: pad to the exact size (at least "x\r\n"; 1-2 bytes left
      // become a bare CRLF or are dropped).
      if (left >= 3) m.append(left - 2, 'x');
      if (left >= 2) m += "\r\n";
      break;
    }
    std::string line;
    while (line.size() < 66) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      if (!line.empty()) line += ' ';
      line += words[x % std::size(words)];
    }
    m += line;
    m += "\r\n";
  }
  m += ".\r\n";
  return m;
}

// ------------------------------------------------------------------ protocol

struct Reply {
  int code = 0;  // 0: I/O error or malformed reply
  std::string text;
  bool pipelining = false;  // EHLO reply offers PIPELINING
  bool size = false;        // EHLO reply offers SIZE
};

struct Conn {
  explicit Conn(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::string buf;
  std::size_t pos = 0;
};

bool has_keyword(std::string_view line, std::string_view kw) {
  // "250-PIPELINING" / "250 SIZE 1000": keyword starts at offset 4.
  if (line.size() < 4 + kw.size()) return false;
  for (std::size_t i = 0; i < kw.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(line[4 + i])) != kw[i]) return false;
  return line.size() == 4 + kw.size() || line[4 + kw.size()] == ' ';
}

asio::awaitable<Reply> read_reply(Conn& c) {
  Reply r;
  char tmp[8192];
  for (;;) {
    auto nl = c.buf.find('\n', c.pos);
    if (nl == std::string::npos) {
      if (c.pos > 0) {
        c.buf.erase(0, c.pos);
        c.pos = 0;
      }
      if (c.buf.size() > 64 * 1024) {
        r.code = 0;
        r.text = "reply line too long";
        co_return r;
      }
      auto [ec, n] = co_await c.sock.async_read_some(asio::buffer(tmp), tuple_awaitable);
      if (ec) {
        r.code = 0;
        r.text = ec == asio::error::eof ? "connection closed by server" : ec.message();
        co_return r;
      }
      c.buf.append(tmp, n);
      continue;
    }
    std::string_view line(c.buf.data() + c.pos, nl - c.pos);
    c.pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
        !std::isdigit(static_cast<unsigned char>(line[1])) ||
        !std::isdigit(static_cast<unsigned char>(line[2])) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      r.code = 0;
      r.text = "malformed reply: " + std::string(line.substr(0, 80));
      co_return r;
    }
    if (has_keyword(line, "PIPELINING")) r.pipelining = true;
    if (has_keyword(line, "SIZE")) r.size = true;
    if (line.size() > 3 && line[3] == '-') continue;
    r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    r.text = std::string(line);
    co_return r;
  }
}

asio::awaitable<bool> write_all(Conn& c, std::string_view data) {
  auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(data.data(), data.size()),
                                            tuple_awaitable);
  (void)n;
  co_return !ec;
}

// ------------------------------------------------------------------ the run

enum class Outcome { Ok, Temp, Perm, IoError };

struct Run {
  Run(asio::io_context& io, Options o, std::vector<std::string> m, std::vector<std::uint64_t> raw)
      : io(io), opt(std::move(o)), msgs(std::move(m)), raw_sizes(std::move(raw)), deadline(io),
        gate(io) {}
  asio::io_context& io;
  Options opt;
  std::vector<std::string> msgs;         // wire form; message i of the run is msgs[i % size]
  std::vector<std::uint64_t> raw_sizes;  // the same without ".\r\n" (SIZE=)
  tcp::endpoint ep;
  std::string envelope_tail;  // RCPT lines

  std::uint64_t next = 0;  // messages claimed
  Clock::time_point t0, t_last;
  std::vector<std::uint32_t> lat_us;  // successful messages only
  std::uint64_t n2 = 0, n4 = 0, n5 = 0, io_err = 0, conn_err = 0;
  std::string first_error;
  unsigned live = 0;
  bool timed_out = false;
  asio::steady_timer deadline;

  // idle mode
  unsigned ready = 0, failed = 0;
  bool release = false;
  asio::steady_timer gate;
  Clock::time_point t_ready;

  void note_error(std::string_view what) {
    if (first_error.empty()) first_error = std::string(what.substr(0, 200));
  }
};

void count_reply(Run& r, const Reply& rep, Outcome& out) {
  if (rep.code >= 400 && rep.code < 500) {
    ++r.n4;
    out = Outcome::Temp;
  } else {
    ++r.n5;  // 5xx, or an unexpected code where 2xx/354 belonged
    out = Outcome::Perm;
  }
  r.note_error(rep.text);
}

// One MAIL/RCPT/DATA transaction of message `idx` of the run.  Failure
// outcomes: Temp (a 4xx anywhere), Perm (5xx or an unexpected reply), IoError
// (connection lost or malformed reply; the caller drops the connection).
asio::awaitable<Outcome> transaction(Run& r, Conn& c, bool pipe, bool size, std::uint64_t idx) {
  auto t = Clock::now();
  const std::size_t which = static_cast<std::size_t>(idx % r.msgs.size());
  std::string mail = "MAIL FROM:<" + r.opt.from + ">";
  if (size) mail += " SIZE=" + std::to_string(r.raw_sizes[which]);
  mail += "\r\n";
  Outcome out = Outcome::Ok;
  bool need_rset = false;
  auto io_fail = [&](const Reply& rep) {
    ++r.io_err;
    r.note_error(rep.text.empty() ? "write failed" : rep.text);
    return Outcome::IoError;
  };

  Reply data;
  if (pipe) {
    if (!co_await write_all(c, mail + r.envelope_tail + "DATA\r\n")) co_return io_fail({});
    Reply m = co_await read_reply(c);
    if (m.code == 0) co_return io_fail(m);
    unsigned accepted = 0;
    Reply rcpt_bad;
    for (unsigned i = 0; i < r.opt.rcpts; ++i) {
      Reply rc = co_await read_reply(c);
      if (rc.code == 0) co_return io_fail(rc);
      if (rc.code / 100 == 2) ++accepted;
      else if (rcpt_bad.code == 0) rcpt_bad = rc;
    }
    data = co_await read_reply(c);
    if (data.code == 0) co_return io_fail(data);
    const Reply* bad = m.code / 100 != 2 ? &m : accepted == 0 ? &rcpt_bad : nullptr;
    if (data.code == 354 && bad) {
      // Cannot happen with a conforming server; send an empty message so the
      // session stays in sync, and count the earlier refusal.
      if (!co_await write_all(c, ".\r\n")) co_return io_fail({});
      Reply f = co_await read_reply(c);
      if (f.code == 0) co_return io_fail(f);
    }
    if (bad) {
      count_reply(r, *bad, out);
      need_rset = m.code / 100 == 2;
    } else if (data.code != 354) {
      count_reply(r, data, out);
      need_rset = true;
    }
  } else {
    if (!co_await write_all(c, mail)) co_return io_fail({});
    Reply m = co_await read_reply(c);
    if (m.code == 0) co_return io_fail(m);
    if (m.code / 100 != 2) {
      count_reply(r, m, out);
    } else {
      unsigned accepted = 0;
      Reply first_bad;
      std::string_view tail = r.envelope_tail;
      while (!tail.empty()) {
        auto e = tail.find('\n') + 1;
        if (!co_await write_all(c, tail.substr(0, e))) co_return io_fail({});
        tail.remove_prefix(e);
        Reply rc = co_await read_reply(c);
        if (rc.code == 0) co_return io_fail(rc);
        if (rc.code / 100 == 2) ++accepted;
        else if (first_bad.code == 0) first_bad = rc;
      }
      need_rset = true;
      if (accepted == 0) {
        count_reply(r, first_bad, out);
      } else {
        if (!co_await write_all(c, "DATA\r\n")) co_return io_fail({});
        data = co_await read_reply(c);
        if (data.code == 0) co_return io_fail(data);
        if (data.code != 354) count_reply(r, data, out);
      }
    }
  }

  if (out == Outcome::Ok) {
    if (!co_await write_all(c, r.msgs[which])) co_return io_fail({});
    Reply f = co_await read_reply(c);
    if (f.code == 0) co_return io_fail(f);
    auto now = Clock::now();
    r.t_last = now;
    if (f.code / 100 == 2) {
      ++r.n2;
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - t).count();
      r.lat_us.push_back(static_cast<std::uint32_t>(
          std::min<std::int64_t>(us, std::numeric_limits<std::uint32_t>::max())));
      co_return Outcome::Ok;
    }
    count_reply(r, f, out);
    co_return out;  // the transaction is over after the final reply
  }
  r.t_last = Clock::now();
  if (need_rset) {
    if (!co_await write_all(c, "RSET\r\n")) co_return io_fail({});
    Reply rs = co_await read_reply(c);
    if (rs.code == 0) co_return io_fail(rs);
  }
  co_return out;
}

// Connects and greets.  nullopt on failure (counted as a connection error).
asio::awaitable<std::optional<std::pair<Conn, Reply>>> open_session(Run& r) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket sock(ex);
  auto [ec] = co_await sock.async_connect(r.ep, tuple_awaitable);
  if (ec) {
    ++r.conn_err;
    r.note_error("connect: " + ec.message());
    co_return std::nullopt;
  }
  boost::system::error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  Conn c(std::move(sock));
  Reply g = co_await read_reply(c);
  if (g.code != 220) {
    ++r.conn_err;
    r.note_error("greeting: " + g.text);
    co_return std::nullopt;
  }
  if (!co_await write_all(c, "EHLO " + r.opt.helo + "\r\n")) {
    ++r.conn_err;
    r.note_error("EHLO: write failed");
    co_return std::nullopt;
  }
  Reply e = co_await read_reply(c);
  if (e.code != 250) {
    ++r.conn_err;
    r.note_error("EHLO: " + e.text);
    co_return std::nullopt;
  }
  co_return std::make_pair(std::move(c), std::move(e));
}

asio::awaitable<void> close_session(Conn& c, bool polite) {
  if (polite && co_await write_all(c, "QUIT\r\n")) (void)co_await read_reply(c);
  boost::system::error_code ec;
  c.sock.shutdown(tcp::socket::shutdown_both, ec);
  c.sock.close(ec);
}

void session_done(Run& r) {
  if (--r.live == 0) r.deadline.cancel();
}

asio::awaitable<void> load_session(Run& r) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer pace(ex);
  unsigned conn_failures = 0;
  while (r.next < r.opt.messages) {
    auto s = co_await open_session(r);
    if (!s) {
      if (++conn_failures >= 20) break;  // bounded: give up this session
      pace.expires_after(std::chrono::milliseconds(100));
      co_await pace.async_wait(tuple_awaitable);
      continue;
    }
    conn_failures = 0;
    Conn& c = s->first;
    const bool pipe = r.opt.pipeline && s->second.pipelining;
    const bool size = s->second.size;
    std::uint64_t on_conn = 0;
    bool broken = false;
    while (!broken && (r.opt.per_conn == 0 || on_conn < r.opt.per_conn) &&
           r.next < r.opt.messages) {
      std::uint64_t idx = r.next++;
      if (r.opt.rate > 0) {
        auto due = r.t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(idx) / r.opt.rate));
        if (due > Clock::now()) {
          pace.expires_at(due);
          co_await pace.async_wait(tuple_awaitable);
        }
      }
      ++on_conn;
      if (co_await transaction(r, c, pipe, size, idx) == Outcome::IoError) broken = true;
    }
    co_await close_session(c, !broken);
  }
  session_done(r);
}

asio::awaitable<void> idle_session(Run& r) {
  auto s = co_await open_session(r);
  bool ok = s.has_value();
  for (unsigned i = 0; ok && i < r.opt.idle_msgs; ++i)
    if (co_await transaction(r, s->first, r.opt.pipeline && s->second.pipelining,
                             s->second.size, i) != Outcome::Ok)
      ok = false;
  if (ok) ++r.ready;
  else ++r.failed;
  if (r.ready + r.failed == r.opt.idle) {
    r.t_ready = Clock::now();
    std::printf("READY %u\n", r.ready);
    std::fflush(stdout);
    auto hold = std::make_shared<asio::steady_timer>(r.io);
    hold->expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(r.opt.hold)));
    hold->async_wait([&r, hold](boost::system::error_code) {
      r.release = true;
      r.gate.cancel();
    });
  }
  while (!r.release) co_await r.gate.async_wait(tuple_awaitable);
  if (s) co_await close_session(s->first, ok);
  session_done(r);
}

// ------------------------------------------------------------------ report

std::string json_escape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += ch;
    }
  }
  return o;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options opt = parse_args(argc, argv);

  std::vector<std::string> files;
  if (!opt.message_list.empty()) {
    std::ifstream list(opt.message_list);
    if (!list) {
      std::cerr << "sigil-loadgen: cannot read " << opt.message_list << "\n";
      return 2;
    }
    for (std::string line; std::getline(list, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line.front() != '#') files.push_back(line);
    }
    if (files.empty()) {
      std::cerr << "sigil-loadgen: no message file named in " << opt.message_list << "\n";
      return 2;
    }
  } else if (!opt.file.empty()) {
    files.push_back(opt.file);
  }
  std::vector<std::string> wires;
  if (files.empty()) wires.push_back(generate(opt.size));
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::cerr << "sigil-loadgen: cannot read " << f << "\n";
      return 2;
    }
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    wires.push_back(to_wire(raw));
  }
  // CRLF line ends, dot-stuffed, without ".\r\n"; reported: the mean size.
  std::vector<std::uint64_t> raw_sizes;
  std::uint64_t total_size = 0;
  for (const auto& w : wires) {
    raw_sizes.push_back(w.size() - 3);
    total_size += w.size() - 3;
  }
  const std::uint64_t raw_size = total_size / wires.size();
  const std::size_t n_files = wires.size();

  asio::io_context io(1);
  Run r(io, opt, std::move(wires), std::move(raw_sizes));
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opt.host, ec);
  if (ec) {
    std::cerr << "sigil-loadgen: --host must be a numeric address: " << opt.host << "\n";
    return 2;
  }
  r.ep = tcp::endpoint(addr, static_cast<unsigned short>(opt.port));
  for (unsigned i = 0; i < opt.rcpts; ++i) {
    std::string to = opt.to;
    if (opt.rcpts > 1) to = std::to_string(i + 1) + "." + to;
    r.envelope_tail += "RCPT TO:<" + to + ">\r\n";
  }

  const double cpu0 = cpu_seconds();
  r.t0 = r.t_last = Clock::now();
  r.deadline.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout)));
  r.deadline.async_wait([&r](boost::system::error_code e) {
    if (e) return;  // cancelled: every session finished
    r.timed_out = true;
    r.io.stop();
  });
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&r](boost::system::error_code e, int) {
    if (e) return;
    if (r.opt.idle) {  // end the hold early, close politely
      r.release = true;
      r.gate.cancel();
    } else {
      r.timed_out = true;
      r.io.stop();
    }
  });
  r.gate.expires_at(Clock::time_point::max());

  const unsigned n = opt.idle ? opt.idle : static_cast<unsigned>(std::min<std::uint64_t>(
                                               opt.sessions, opt.messages));
  r.live = n;
  for (unsigned i = 0; i < n; ++i)
    asio::co_spawn(io, opt.idle ? idle_session(r) : load_session(r), asio::detached);
  // Runs until every session ended (then the deadline is cancelled and the
  // signal wait is the only work left) or the deadline stopped the context.
  while (!io.stopped() && r.live > 0) io.run_one();
  signals.cancel(ec);
  const double cpu = cpu_seconds() - cpu0;
  const auto t_end = Clock::now();

  int rc = 0;
  std::ostringstream human, json;
  human.setf(std::ios::fixed);
  json.setf(std::ios::fixed);
  if (opt.idle) {
    double setup = std::chrono::duration<double>(
                       (r.ready + r.failed == opt.idle ? r.t_ready : t_end) - r.t0)
                       .count();
    human.precision(3);
    human << "sigil-loadgen [" << opt.label << "] idle: " << r.ready << " of " << opt.idle
          << " sessions held (" << opt.idle_msgs << " msgs each first), setup " << setup
          << " s; failed " << r.failed << ", conn-err " << r.conn_err
          << (r.timed_out ? ", TIMED OUT" : "");
    if (!r.first_error.empty()) human << "; first error: " << r.first_error;
    json.precision(3);
    json << "{\"label\":\"" << json_escape(opt.label) << "\",\"mode\":\"idle\",\"sessions\":"
         << opt.idle << ",\"established\":" << r.ready << ",\"failed\":" << r.failed
         << ",\"conn_errors\":" << r.conn_err << ",\"setup_s\":" << setup
         << ",\"timed_out\":" << (r.timed_out ? "true" : "false") << ",\"first_error\":\""
         << json_escape(r.first_error) << "\"}";
    rc = (r.ready == opt.idle && !r.timed_out) ? 0 : 1;
  } else {
    std::sort(r.lat_us.begin(), r.lat_us.end());
    const double elapsed = std::max(
        1e-6, std::chrono::duration<double>((r.timed_out ? t_end : r.t_last) - r.t0).count());
    const double mps = static_cast<double>(r.n2) / elapsed;
    const double p50 = percentile_ms(r.lat_us, 50), p90 = percentile_ms(r.lat_us, 90),
                 p99 = percentile_ms(r.lat_us, 99), mx = percentile_ms(r.lat_us, 100);
    // Never sent, or cut off by the deadline before their final reply.
    const std::uint64_t unfinished =
        opt.messages - std::min(opt.messages, r.n2 + r.n4 + r.n5 + r.io_err);
    human.precision(1);
    human << "sigil-loadgen [" << opt.label << "] " << r.n2 << "/" << opt.messages << " msgs of "
          << (n_files > 1 ? "mean " : "") << raw_size << " B"
          << (n_files > 1 ? " from " + std::to_string(n_files) + " files" : "") << ", " << n
          << " sessions" << (opt.pipeline ? ", pipelined" : "");
    if (opt.rate > 0) human << ", paced " << opt.rate << "/s";
    human << ": " << mps << " msg/s in ";
    human.precision(3);
    human << elapsed << " s | latency ms p50 " << p50 << " p90 " << p90 << " p99 " << p99
          << " max " << mx << " | 2xx " << r.n2 << " 4xx " << r.n4 << " 5xx " << r.n5
          << " io-err " << r.io_err << " conn-err " << r.conn_err;
    if (unfinished) human << " unfinished " << unfinished;
    human << " | client cpu " << cpu << " s" << (r.timed_out ? " | TIMED OUT" : "");
    if (!r.first_error.empty()) human << " | first error: " << r.first_error;
    json.precision(3);
    json << "{\"label\":\"" << json_escape(opt.label) << "\",\"mode\":\"load\",\"sessions\":" << n
         << ",\"messages\":" << opt.messages << ",\"size\":" << raw_size
         << ",\"files\":" << n_files
         << ",\"pipeline\":" << (opt.pipeline ? "true" : "false") << ",\"rate\":" << opt.rate
         << ",\"elapsed_s\":" << elapsed << ",\"msgs_per_s\":" << mps << ",\"p50_ms\":" << p50
         << ",\"p90_ms\":" << p90 << ",\"p99_ms\":" << p99 << ",\"max_ms\":" << mx
         << ",\"n2xx\":" << r.n2 << ",\"n4xx\":" << r.n4 << ",\"n5xx\":" << r.n5
         << ",\"io_errors\":" << r.io_err << ",\"conn_errors\":" << r.conn_err
         << ",\"unfinished\":" << unfinished << ",\"client_cpu_s\":" << cpu
         << ",\"timed_out\":" << (r.timed_out ? "true" : "false") << ",\"first_error\":\""
         << json_escape(r.first_error) << "\"}";
    rc = (r.n2 == opt.messages && !r.timed_out) ? 0 : 1;
  }
  std::cout << human.str() << "\n" << json.str() << std::endl;
  // After a timeout, coroutines are still suspended inside the io_context;
  // skip their teardown, there is nothing left to flush.
  if (r.timed_out) std::_Exit(rc);
  return rc;
}
