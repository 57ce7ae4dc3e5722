// filter/stages/spam_protocol.cpp — spamd's and rspamd's wire formats: the
// request heads, the reply framing, and the reply parsers declared in
// spam_stage.hpp and spam_protocol.hpp.
//
// Implements spamd's SPAMC/1.5 protocol (status line, Spam: and
// Content-length headers, REPORT and SYMBOLS bodies) and rspamd's checkv2
// over HTTP/1.0 (RFC 1945; the JSON body through Boost.JSON).  Every reply
// is untrusted: anything malformed is a Protocol error, never a crash.
// Does not: any I/O (spam_stage.cpp), or turn a score into a finding
// (spam_fields.cpp).
#include "filter/stages/spam_protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>

#include "conf/ascii.hpp"
#include "filter/stages/spam_stage.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

namespace {

// Text of a scanner's reply without SP and HT in front and white space and
// line ends behind.  Not ascii::trim, which also takes CR and LF off the
// front: a bare CR or LF can start a line of a reply, and a field name,
// number or test list starting with one is malformed.
std::string_view trim_reply_text(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && ascii::is_space(s.back())) s.remove_suffix(1);
  return s;
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


}  // namespace

namespace spam {

std::string spamd_request_head(const conf::SpamConfig& cfg, std::uint64_t size) {
  return std::string(cfg.command == conf::SpamConfig::Command::Report ? "REPORT" : "SYMBOLS") +
         " SPAMC/1.5\r\nContent-length: " + std::to_string(size) + "\r\nUser: " + cfg.user +
         "\r\n\r\n";
}

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

}  // namespace spam

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

}  // namespace sigil::filter
