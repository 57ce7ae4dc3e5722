// filter/smtp/smtp_command.cpp — see smtp_command.hpp.
#include "filter/smtp/smtp_command.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "conf/ascii.hpp"

namespace sigil::filter {

namespace {

SyntaxError syntax(std::string text) { return {501, "5.5.4", std::move(text)}; }

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Parses "<path>" at the start of s; returns the address and the rest.
// Accepts a source route (RFC 5321 §4.1.2, obsolete: ignored) and quoted
// local parts.  Tolerates one space after the colon, as Postfix does.
// A control character anywhere, a backslash-escaped one in a quoted local
// part included (RFC 5321's quoted-pairSMTP is %d92 %d32-126), is refused
// with 501 and bad_address_code (5.1.7 for a sender, 5.1.3 for a
// recipient, RFC 3463): it would reach logs and generated mail.
bool take_path(std::string_view& s, std::string& out, SyntaxError& err, const char* bad_address_code) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty() || s.front() != '<') {
    err = syntax("Syntax: address must be enclosed in <>");
    return false;
  }
  bool quoted = false;
  std::size_t i = 1;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quoted && c == '\\' && i + 1 < s.size()) c = s[++i];
    else if (c == '"') quoted = !quoted;
    else if (!quoted && c == '>') break;
    if (is_control(c)) {
      err = {501, bad_address_code, "Syntax: control character in address"};
      return false;
    }
  }
  if (i >= s.size()) {
    err = syntax("Syntax: missing '>' after address");
    return false;
  }
  std::string_view addr = s.substr(1, i - 1);
  if (!addr.empty() && addr.front() == '@') {  // source route "@a,@b:user@d"
    auto colon = addr.find(':');
    if (colon == std::string_view::npos) {
      err = syntax("Syntax: bad source route");
      return false;
    }
    addr.remove_prefix(colon + 1);
  }
  if (addr.size() > 254) {
    err = {553, "5.1.3", "Address too long"};
    return false;
  }
  out = std::string(addr);
  s.remove_prefix(i + 1);
  return true;
}

bool take_params(std::string_view s, std::vector<Param>& out, SyntaxError& err) {
  while (!s.empty()) {
    if (s.front() != ' ') {
      err = syntax("Syntax: parameters must be separated by a space");
      return false;
    }
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) break;
    auto end = s.find(' ');
    std::string_view kv = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
    Param p;
    auto eq = kv.find('=');
    std::string_view k = kv.substr(0, eq);
    if (k.empty() || !std::all_of(k.begin(), k.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
        })) {
      err = syntax("Syntax: bad parameter name");
      return false;
    }
    p.key = ascii::upper(k);
    if (eq != std::string_view::npos) {
      p.has_value = true;
      p.value = std::string(kv.substr(eq + 1));
    }
    out.push_back(std::move(p));
  }
  return true;
}

constexpr std::array<std::pair<std::string_view, Verb>, 14> kVerbs = {{
    {"HELO", Verb::Helo},     {"EHLO", Verb::Ehlo},       {"LHLO", Verb::Lhlo},
    {"MAIL", Verb::Mail},     {"RCPT", Verb::Rcpt},       {"DATA", Verb::Data},
    {"RSET", Verb::Rset},     {"NOOP", Verb::Noop},       {"QUIT", Verb::Quit},
    {"VRFY", Verb::Vrfy},     {"HELP", Verb::Help},       {"XFORWARD", Verb::Xforward},
    {"BDAT", Verb::Bdat},     {"STARTTLS", Verb::Starttls},
}};

}  // namespace

Command parse_command(std::string_view line) {
  Command c;
  auto sp = line.find(' ');
  c.verb_text = line.substr(0, sp);
  c.arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  for (auto& [name, verb] : kVerbs)
    if (ascii::iequals(c.verb_text, name)) c.verb = verb;
  return c;
}

Parsed<MailFrom> parse_mail_from(std::string_view arg) {
  Parsed<MailFrom> r;
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (!ascii::istarts_with(arg, "FROM:")) {
    r.error = syntax("Syntax: MAIL FROM:<address>");
    return r;
  }
  arg.remove_prefix(5);
  MailFrom m;
  if (!take_path(arg, m.address, r.error, "5.1.7")) return r;
  if (!take_params(arg, m.params, r.error)) return r;
  r.value = std::move(m);
  return r;
}

Parsed<RcptTo> parse_rcpt_to(std::string_view arg) {
  Parsed<RcptTo> r;
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (!ascii::istarts_with(arg, "TO:")) {
    r.error = syntax("Syntax: RCPT TO:<address>");
    return r;
  }
  arg.remove_prefix(3);
  RcptTo t;
  if (!take_path(arg, t.address, r.error, "5.1.3")) return r;
  if (t.address.empty()) {
    r.error = {501, "5.1.3", "Syntax: empty recipient address"};
    return r;
  }
  if (!take_params(arg, t.params, r.error)) return r;
  r.value = std::move(t);
  return r;
}


Parsed<std::vector<std::pair<std::string, std::string>>> parse_xforward(std::string_view arg) {
  Parsed<std::vector<std::pair<std::string, std::string>>> r;
  std::vector<Param> ps;
  std::string_view a = arg;
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  if (a.empty()) {
    r.error = syntax("Syntax: XFORWARD attribute=value...");
    return r;
  }
  std::string spaced;  // take_params expects the separator before each parameter
  spaced.reserve(a.size() + 1);
  spaced.push_back(' ');
  spaced.append(a);
  if (!take_params(spaced, ps, r.error)) return r;
  std::vector<std::pair<std::string, std::string>> out;
  static constexpr std::array<std::string_view, 7> known = {"NAME",  "ADDR",  "PORT", "PROTO",
                                                            "HELO", "IDENT", "SOURCE"};
  for (auto& p : ps) {
    if (std::find(known.begin(), known.end(), p.key) == known.end() || !p.has_value) {
      r.error = {501, "5.5.4", "Bad XFORWARD attribute name: " + p.key};
      return r;
    }
    if (!xtext_decode(p.value) && p.value != "[UNAVAILABLE]" && p.value != "[TEMPUNAVAIL]") {
      r.error = {501, "5.5.4", "Bad XFORWARD attribute value for " + p.key};
      return r;
    }
    out.emplace_back(p.key, p.value);
  }
  r.value = std::move(out);
  return r;
}

}  // namespace sigil::filter
