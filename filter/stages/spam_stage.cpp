// filter/stages/spam_stage.cpp — see spam_stage.hpp.
#include "filter/stages/spam_stage.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
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
#include <boost/json.hpp>

#include "conf/ascii.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/policy.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// spamd's reply is a status, two headers and a report of a few KiB, rspamd's
// a JSON object of a few KiB; more is not a spam scanner.
constexpr std::size_t kMaxReply = 1 << 20;

// Text of a scanner's reply without SP and HT in front and white space and
// line ends behind.  Not ascii::trim, which also takes CR and LF off the
// front: a bare CR or LF can start a line of a reply, and a field name,
// number or test list starting with one is malformed.
std::string_view trim_reply_text(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && ascii::is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The field name of a complete header field ("Name: value\r\n").
std::string_view field_name_of(std::string_view field) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return {};
  return ascii::trim(field.substr(0, colon));
}

bool parse_number(std::string_view s, double& out) {
  s = trim_reply_text(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && std::isfinite(out);
}

bool rule_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
  });
}

// For notes and logs: a peer's text without control bytes, at most 200 bytes.
std::string printable(std::string_view s) {
  std::string o(s.substr(0, 200));
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 32 || c == 127) c = '?';
  return o;
}

// REPORT's table: after the "---- ----..." line, rows " pts RULE_NAME  text";
// a description that wraps continues on lines that start with spaces and no
// number.
std::vector<std::pair<std::string, std::string>> report_tests(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  bool in_table = false;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    auto line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto t = trim_reply_text(line);
    if (!in_table) {
      in_table = t.starts_with("----") && t.find(" -") != std::string_view::npos &&
                 t.find_first_not_of("- ") == std::string_view::npos;
      continue;
    }
    if (t.empty()) continue;
    auto sp = t.find(' ');
    if (sp == std::string_view::npos) continue;
    double v = 0;
    if (!parse_number(t.substr(0, sp), v)) continue;  // a wrapped description
    auto rest = trim_reply_text(t.substr(sp + 1));
    auto name = rest.substr(0, rest.find(' '));
    if (rule_name(name)) out.emplace_back(std::string(name), std::string(t.substr(0, sp)));
  }
  return out;
}

// Folds a field before a space so that lines stay near 78 characters
// (RFC 5322 §2.2.3: unfolding removes only the CRLF, the space stays).
std::string fold(std::string_view field) {
  std::string out;
  std::size_t line = 0;
  std::size_t pos = 0;
  while (pos < field.size()) {
    auto sp = field.find(' ', pos + 1);
    auto end = sp == std::string_view::npos ? field.size() : sp;
    auto word = field.substr(pos, end - pos);  // starts with its space, but the first
    if (line > 0 && line + word.size() > 78 && word.front() == ' ') {
      out += "\r\n";
      line = 0;
    }
    out += word;
    line += word.size();
    pos = end;
  }
  return out + "\r\n";
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

std::string spamd_request_head(const conf::SpamConfig& cfg, std::uint64_t size) {
  return std::string(cfg.command == conf::SpamConfig::Command::Report ? "REPORT" : "SYMBOLS") +
         " SPAMC/1.5\r\nContent-length: " + std::to_string(size) + "\r\nUser: " + cfg.user +
         "\r\n\r\n";
}

// True once `reply` holds an HTTP head and as many body bytes as its
// Content-Length says (rspamd closes anyway; this does not wait for it).
bool http_reply_complete(std::string_view reply) {
  auto end = reply.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::size_t pos = reply.find("\r\n") + 2;
  while (pos < end + 2) {
    auto e = reply.find("\r\n", pos);
    auto line = reply.substr(pos, e - pos);
    pos = e + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos ||
        !ascii::iequals(trim_reply_text(line.substr(0, colon)), "Content-Length"))
      continue;
    auto v = trim_reply_text(line.substr(colon + 1));
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || p != v.data() + v.size()) return false;  // EOF decides
    return reply.size() - (end + 4) >= n;
  }
  return false;
}

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
    if (http && http_reply_complete(reply)) break;
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

// The header fields of a reply, from `pos` (after the status line) to the
// empty line, which `pos` is left after.  `clen_name` (any case) must be a
// number, given once or always the same, and the body that follows must be
// that long; every other field goes to `each`, which returns "" or what is
// wrong.  Returns "" or what is wrong.
template <typename Each>
static std::string reply_fields(std::string_view reply, std::size_t& pos, std::string_view clen_name,
                         std::optional<std::size_t>& clen, Each&& each) {
  for (;;) {
    auto e = reply.find("\r\n", pos);
    if (e == std::string_view::npos) return "reply headers not terminated";
    auto line = reply.substr(pos, e - pos);
    pos = e + 2;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return "bad reply header '" + printable(line) + "'";
    auto name = trim_reply_text(line.substr(0, colon));
    auto value = trim_reply_text(line.substr(colon + 1));
    if (ascii::iequals(name, clen_name)) {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || p != value.data() + value.size() || (clen && *clen != n))
        return "bad " + std::string(clen_name) + " '" + printable(value) + "'";
      clen = n;
    } else if (std::string why = each(name, value); !why.empty()) {
      return why;
    }
  }
  std::size_t body = reply.size() - pos;
  if (clen && *clen != body)
    return std::string(clen_name) + " " + std::to_string(*clen) + " but " + std::to_string(body) +
           " bytes followed";
  return "";
}

Result<SpamReply> parse_spamd_reply(std::string_view reply, conf::SpamConfig::Command cmd) {
  auto bad = [](std::string why) { return make_error(ErrorKind::Protocol, std::move(why)); };
  auto eol = reply.find("\r\n");
  if (eol == std::string_view::npos) {
    if (reply.empty()) return bad("spamd closed without a reply");
    return bad("no complete status line: '" + printable(reply) + "'");
  }
  // "SPAMD/1.1 0 EX_OK"; errors: "SPAMD/1.0 76 Bad header line: ...".
  auto status = reply.substr(0, eol);
  if (!status.starts_with("SPAMD/1.")) return bad("not a spamd reply: '" + printable(status) + "'");
  auto sp1 = status.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : status.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos) return bad("bad status line: '" + printable(status) + "'");
  auto code = status.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos
                                                                    : sp2 - sp1 - 1);
  if (code != "0") return bad("spamd said '" + printable(status.substr(sp1 + 1)) + "'");

  SpamReply r;
  std::optional<std::size_t> clen;
  bool have_spam = false;
  std::size_t pos = eol + 2;
  std::string err = reply_fields(reply, pos, "Content-length", clen, [&](std::string_view name, std::string_view value) -> std::string {
    if (ascii::iequals(name, "Spam")) {
      // "True ; 1000.0 / 5.0"
      auto semi = value.find(';');
      auto slash = value.find('/');
      if (semi == std::string_view::npos || slash == std::string_view::npos || slash < semi)
        return "bad Spam header '" + printable(value) + "'";
      auto verdict = trim_reply_text(value.substr(0, semi));
      if (ascii::iequals(verdict, "True") || ascii::iequals(verdict, "Yes")) r.is_spam = true;
      else if (ascii::iequals(verdict, "False") || ascii::iequals(verdict, "No")) r.is_spam = false;
      else return "bad Spam header '" + printable(value) + "'";
      if (!parse_number(value.substr(semi + 1, slash - semi - 1), r.score) ||
          !parse_number(value.substr(slash + 1), r.threshold))
        return "bad score in Spam header '" + printable(value) + "'";
      have_spam = true;
    }
    return "";
  });
  if (!err.empty()) return bad(err);
  if (!have_spam) return bad("no Spam header in the reply");
  auto body = reply.substr(pos);
  if (cmd == conf::SpamConfig::Command::Symbols) {
    auto b = trim_reply_text(body);
    std::size_t p = 0;
    while (p < b.size()) {
      auto c = b.find(',', p);
      auto n = trim_reply_text(
          b.substr(p, c == std::string_view::npos ? std::string_view::npos : c - p));
      p = c == std::string_view::npos ? b.size() : c + 1;
      if (n.empty()) continue;
      if (!rule_name(n)) return bad("bad test name '" + printable(n) + "'");
      r.tests.emplace_back(std::string(n), std::string());
    }
  } else {
    r.tests = report_tests(body);
  }
  std::sort(r.tests.begin(), r.tests.end());
  return r;
}

namespace {

// A JSON number as a double (Boost.JSON keeps integers apart).
std::optional<double> json_number(const boost::json::value* v) {
  if (!v) return std::nullopt;
  double d = 0;
  if (v->is_double()) d = v->get_double();
  else if (v->is_int64()) d = static_cast<double>(v->get_int64());
  else if (v->is_uint64()) d = static_cast<double>(v->get_uint64());
  else return std::nullopt;
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

// A header value without control characters (CR, LF, NUL, ...).
std::string header_value(std::string_view s) {
  std::string o(s);
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 32 || c == 127) c = '?';
  return o;
}

}  // namespace

Result<SpamReply> parse_rspamd_reply(std::string_view reply) {
  auto bad = [](std::string why) { return make_error(ErrorKind::Protocol, std::move(why)); };
  auto eol = reply.find("\r\n");
  if (eol == std::string_view::npos) {
    if (reply.empty()) return bad("rspamd closed without a reply");
    return bad("no complete status line: '" + printable(reply) + "'");
  }
  // "HTTP/1.1 200 OK"; errors: "HTTP/1.1 500 invalid command".
  auto status = reply.substr(0, eol);
  if (!status.starts_with("HTTP/1.") || status.size() < 12 || status[8] != ' ')
    return bad("not an HTTP reply: '" + printable(status) + "'");
  auto code = status.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (status.size() > 12 && status[12] != ' '))
    return bad("bad status line: '" + printable(status) + "'");

  std::optional<std::size_t> clen;
  std::size_t pos = eol + 2;
  std::string err = reply_fields(reply, pos, "Content-Length", clen, [&](std::string_view name, std::string_view value) -> std::string {
    if ((ascii::iequals(name, "Transfer-Encoding") || ascii::iequals(name, "Content-Encoding")) &&
        !ascii::iequals(value, "identity"))
      return std::string(name) + " '" + printable(value) + "' not supported";
    return "";
  });
  if (!err.empty()) return bad(err);
  auto body = reply.substr(pos);

  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  const boost::json::object* obj = !ec && doc.is_object() ? &doc.as_object() : nullptr;
  if (code != "200") {
    // rspamd's errors: {"error": "invalid command", "error_domain": "protocol-error"}.
    std::string why = "rspamd said '" + printable(status.substr(9)) + "'";
    if (obj)
      if (auto* e = obj->if_contains("error"); e && e->is_string())
        why += ": " + printable(std::string_view(e->get_string()));
    return bad(why);
  }
  if (ec) return bad("bad JSON in the reply: " + ec.message());
  if (!obj) return bad("the reply is not a JSON object");

  SpamReply r;
  auto score = json_number(obj->if_contains("score"));
  if (!score) return bad("no numeric score in the reply");
  r.score = *score;
  auto required = json_number(obj->if_contains("required_score"));
  if (obj->if_contains("required_score") && !required)
    return bad("required_score is not a number");
  r.threshold = required.value_or(0);
  auto* action = obj->if_contains("action");
  if (!action || !action->is_string()) return bad("no action in the reply");
  r.action = printable(std::string_view(action->get_string()));
  r.is_spam = r.action == "reject" || r.action == "add header" || r.action == "rewrite subject";
  // A forced reject (GTUBE, force_actions, other pre-results) never scores
  // below the reject threshold (see the header).
  if (r.action == "reject" && required && r.score < *required) {
    r.forced_from = r.score;
    r.score = *required;
  }
  if (auto* syms = obj->if_contains("symbols")) {
    if (!syms->is_object()) return bad("symbols is not an object");
    for (const auto& [key, sym] : syms->get_object()) {
      if (!sym.is_object()) return bad("symbol '" + printable(std::string_view(key)) + "' is not an object");
      std::string pts;
      if (auto* sc = sym.get_object().if_contains("score")) {
        auto v = json_number(sc);
        if (!v) return bad("symbol '" + printable(std::string_view(key)) + "' has a bad score");
        pts = format_spam_score(*v);
      }
      if (rule_name(key)) r.tests.emplace_back(std::string(key), std::move(pts));
    }
  }
  std::sort(r.tests.begin(), r.tests.end());
  return r;
}

std::string rspamd_request_head(const ClientInfo& client, const Envelope& env,
                                std::string_view log_id, std::uint64_t size) {
  std::string h = "POST /checkv2 HTTP/1.0\r\nContent-Length: " + std::to_string(size) + "\r\n";
  if (client.ip) {
    // A v4-mapped address (a dual-stack listener) goes as the IPv4 one.
    boost::system::error_code ec;
    auto a = asio::ip::make_address(client.addr, ec);
    if (!ec && a.is_v6() && a.to_v6().is_v4_mapped())
      a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    h += "IP: " + (ec ? header_value(client.addr) : a.to_string()) + "\r\n";
  }
  if (!client.helo.empty()) h += "Helo: " + header_value(client.helo) + "\r\n";
  for (const auto& [k, v] : env.xforward) {
    if (!ascii::iequals(k, "NAME")) continue;
    auto name = xtext_decode(v);
    // Postfix: "[UNAVAILABLE]" (no PTR), "[TEMPUNAVAIL]" (DNS trouble).
    if (name && !name->empty() && name->front() != '[')
      h += "Hostname: " + header_value(*name) + "\r\n";
  }
  h += "From: <" + header_value(env.sender) + ">\r\n";
  for (const auto& r : env.recipients) h += "Rcpt: <" + header_value(r.address) + ">\r\n";
  if (!log_id.empty()) h += "Queue-Id: " + header_value(log_id) + "\r\n";
  return h + "\r\n";
}

std::string format_spam_score(double score) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", score);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

std::vector<std::string> spam_header_fields(double score, const conf::SpamLevels& lv,
                                            const SpamReply& reply) {
  std::vector<std::string> out;
  if (score < lv.tag_level) return out;
  bool spammy = score >= lv.tag2_level;
  std::string s = format_spam_score(score);
  out.push_back(std::string("X-Spam-Flag: ") + (spammy ? "YES" : "NO") + "\r\n");
  out.push_back("X-Spam-Score: " + s + "\r\n");
  // One star per whole point, at most 64 (Amavis's $sa_spam_level_char).
  std::size_t stars = score >= 1 ? static_cast<std::size_t>(std::min(64.0, std::floor(score))) : 0;
  out.push_back(stars ? "X-Spam-Level: " + std::string(stars, '*') + "\r\n"
                      : std::string("X-Spam-Level:\r\n"));
  std::string tests;
  for (const auto& [name, pts] : reply.tests) {
    if (!tests.empty()) tests += ", ";
    tests += name;
    if (!pts.empty()) tests += "=" + pts;
  }
  out.push_back(fold(std::string("X-Spam-Status: ") + (spammy ? "Yes" : "No") + ", score=" + s +
                     " tag=" + format_spam_score(lv.tag_level) +
                     " tag2=" + format_spam_score(lv.tag2_level) +
                     " kill=" + format_spam_score(lv.kill_level) + " tests=[" + tests + "]"));
  return out;
}

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
                 : spamd_request_head(cfg_, ctx.message.size());
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

HeaderEdits spam_local_edits(const SpamResult& r, const conf::SpamLevels& lv, const HeaderIndex& idx) {
  HeaderEdits e;
  for (auto& f : spam_header_fields(r.score, lv, r.reply)) e.prepend.push_back(std::move(f));
  if (r.score >= lv.tag2_level && !lv.subject_tag.empty()) {
    // The tag replaces the field: removed, then written anew on top with the
    // original value (folding and all) after the tag.
    if (r.subject) {
      auto f = idx.field(idx.fields()[*r.subject]);
      auto value = f.substr(f.find(':') + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      e.remove.push_back(*r.subject);
      std::string nf = "Subject: " + lv.subject_tag + std::string(value);
      if (!nf.ends_with("\r\n")) nf += "\r\n";
      e.prepend.push_back(std::move(nf));
    } else {
      e.prepend.push_back("Subject: " + std::string(ascii::trim(lv.subject_tag)) + "\r\n");
    }
  }
  return e;
}

std::optional<Finding> SpamResult::finding(const conf::SpamLevels& lv) const {
  return spam_finding(score, lv);
}

HeaderEdits SpamResult::local_edits(const conf::SpamLevels& lv, const HeaderIndex& headers) const {
  return spam_local_edits(*this, lv, headers);
}

std::optional<Finding> spam_finding(double score, const conf::SpamLevels& lv) {
  // Each level on its own (Amavis): kill below tag2 still makes spam.
  std::string sc = format_spam_score(score);
  if (score >= lv.kill_level)
    return Finding{conf::Category::Spam, "score " + sc + " >= kill " + format_spam_score(lv.kill_level), "spam"};
  if (score >= lv.tag2_level)
    return Finding{conf::Category::Spammy, "score " + sc + " >= tag2 " + format_spam_score(lv.tag2_level), "spam"};
  return std::nullopt;
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
    auto r = co_await scan(s, ctx);
    if (r) {
      reply = std::move(r.value());
      by = &s;
      break;
    }
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
