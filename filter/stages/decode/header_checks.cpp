// filter/stages/decode/header_checks.cpp — see header_checks.hpp.
#include "filter/stages/decode/header_checks.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "conf/ascii.hpp"
#include "filter/stages/decode/display.hpp"

namespace sigil::filter::decode {

namespace {

// `s` without spaces and tabs at either end (line ends are kept: a CR or LF
// left in a token makes it invalid).
std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 2045 §5.1 token: printable US-ASCII without space and tspecials.
bool mime_token(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos)
      return false;
  }
  return true;
}

// The value without RFC 5322 comments and surrounding white space (comments
// are allowed in MIME fields, RFC 2045 §3); nested comments handled.
std::string strip_comments(std::string_view v) {
  std::string o;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      o += c;
      if (c == '\\' && i + 1 < v.size()) o += v[++i];
      else if (c == '"') quoted = false;
    } else if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
    } else if (c == '(') {
      depth = 1;
    } else {
      if (c == '"') quoted = true;
      o += c;
    }
  }
  return std::string(ascii::trim(o));
}

// A Content-Type value is type "/" subtype, both tokens, before any parameter.
bool valid_content_type(const char* ct) {
  std::string v = strip_comments(ct);
  std::string_view tv(v);
  tv = trim_blanks(tv.substr(0, tv.find(';')));
  auto slash = tv.find('/');
  return slash != std::string_view::npos && mime_token(trim_blanks(tv.substr(0, slash))) &&
         mime_token(trim_blanks(tv.substr(slash + 1)));
}

}  // namespace

std::string mime_fields_problem(const char* content_type, const char* transfer_encoding,
                                bool multipart) {
  if (content_type && !valid_content_type(content_type))
    return "invalid Content-Type '" + shown(content_type) + "'";
  if (transfer_encoding) {
    std::string v = ascii::lower(strip_comments(transfer_encoding));
    bool identity = v == "7bit" || v == "8bit" || v == "binary";
    bool known = identity || v == "quoted-printable" || v == "base64" || (v.rfind("x-", 0) == 0 && mime_token(v));
    if (!known) return "invalid Content-Transfer-Encoding '" + shown(transfer_encoding) + "'";
    // RFC 2045 §6.4: a multipart or message entity is never encoded.
    if (multipart && !identity)
      return "Content-Transfer-Encoding '" + shown(transfer_encoding) + "' on a multipart";
  }
  return "";
}

void header_checks(const MessageStore& message, const Envelope& env, DecodeResult& out) {
  const HeaderIndex& h = message.headers();
  auto bad = [&](std::string reason) {
    out.findings.push_back({conf::Category::BadHeader, std::move(reason), "decode"});
  };
  if (!env.smtputf8) {
    if (!ascii::is_ascii(h.block()))
      bad("8-bit bytes in the header without SMTPUTF8");
  }
  std::size_t from = 0, date = 0, subject = 0;
  for (const auto& f : h.fields()) {
    std::string_view n = h.name(f);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (ascii::iequals(n, "From")) ++from;
    else if (ascii::iequals(n, "Date")) ++date;
    else if (ascii::iequals(n, "Subject")) ++subject;
  }
  if (from == 0) bad("missing From");
  if (date == 0) bad("missing Date");
  if (from > 1) bad("duplicate From");
  if (date > 1) bad("duplicate Date");
  if (subject > 1) bad("duplicate Subject");
}

}  // namespace sigil::filter::decode
