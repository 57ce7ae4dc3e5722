// dkim/auth_results.cpp — the Authentication-Results field (RFC 8601 §2.2,
// §2.7.1; header.b per RFC 6008): RFC 2045 token/quoted-string values,
// bounded in length, folding at 78 characters (RFC 5322 §2.2.3; no line
// past 998 octets, §2.1.1), and the authserv-id check of
// existing fields (RFC 8601 §5, CFWS per RFC 5322 §3.2.2).  Interface in
// auth_results.hpp.
// Does not: verify anything (verifier.cpp) or parse other A-R content.
#include "dkim/auth_results.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "conf/ascii.hpp"
#include "dkim/signature_parse.hpp"
#include "dkim/verifier.hpp"

namespace sigil::dkim {

using detail::field_name;
using detail::is_alpha;
using detail::is_digit;
using detail::valid_dns_name;

namespace {

// RFC 2045 token characters (what a `value` may be without quotes).
bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", c) == nullptr;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

// RFC 2045 quoted-string; control characters become spaces and 8-bit bytes
// '?' (the field must stay ASCII).
std::string quoted(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (u < 0x20 || u == 0x7f) {
      o += ' ';
    } else if (u >= 0x80) {
      o += '?';
    } else {
      o += c;
    }
  }
  o += '"';
  return o;
}

std::string value(std::string_view s) { return is_token(s) ? std::string(s) : quoted(s); }

// Values from a signature are the sender's to choose: one longer than any
// valid one (a DNS name is at most 253 octets, an address 254) is cut, and
// marked so by "..." inside quotes, so that no line of the field passes
// RFC 5322's 998 octets (§2.1.1) however long the tag was.
constexpr std::size_t kMaxValue = 255;

std::optional<std::string> cut_if_long(std::string_view s) {
  if (s.size() <= kMaxValue) return std::nullopt;
  return quoted(std::string(s.substr(0, kMaxValue - 3)) + "...");
}

std::string bounded_value(std::string_view s) { return cut_if_long(s).value_or(value(s)); }

// header.i may be written as [local-part] "@" domain-name (RFC 8601 §2.2).
std::string identity_value(std::string_view id) {
  if (auto cut = cut_if_long(id)) return *cut;
  auto at = id.rfind('@');
  if (at != std::string_view::npos) {
    auto local = id.substr(0, at);
    auto dom = id.substr(at + 1);
    bool local_ok = std::all_of(local.begin(), local.end(), [](char c) {
      return is_alpha(c) || is_digit(c) || std::strchr("!#$%&'*+-/=?^_`{|}~.", c) != nullptr;
    });
    if (local_ok && valid_dns_name(dom) && (local.empty() || (local.front() != '.' && local.back() != '.')))
      return std::string(id);
  }
  return quoted(id);
}

// Builds a folded field: items separated by a space, a fold (CRLF TAB)
// before an item that would take the line past 78 characters.  A quoted
// string longer than a line is folded at its own spaces (CRLF inserted
// before the space, so unfolding gives back the same text).
struct FieldBuilder {
  std::string out;
  std::size_t line_start = 0;
  std::size_t col() const { return out.size() - line_start; }
  void newline() {
    out += "\r\n\t";
    line_start = out.size() - 1;
  }
  void add(const std::string& item) {
    if (col() + 1 + item.size() > 78 && col() > 1) newline();
    else if (col() > 1) out += ' ';
    if (col() + item.size() <= 78 || item.find(' ') == std::string::npos) {
      out += item;
      return;
    }
    std::size_t pos = 0;
    while (pos < item.size()) {
      std::size_t sp = item.find(' ', pos + 1);
      std::size_t end = sp == std::string::npos ? item.size() : sp;
      if (col() + (end - pos) > 78 && pos > 0 && col() > 1) {
        out += "\r\n";
        line_start = out.size();
      }
      out.append(item, pos, end - pos);
      pos = end;
    }
  }
};

}  // namespace

std::string authentication_results(std::string_view authserv_id,
                                   const std::vector<SignatureResult>& results) {
  FieldBuilder f;
  f.out = "Authentication-Results: " + value(authserv_id) + ";";
  if (results.empty()) {
    f.newline();
    f.out += "dkim=none";
  }
  for (std::size_t k = 0; k < results.size(); ++k) {
    const auto& r = results[k];
    std::vector<std::string> items;
    items.push_back(std::string("dkim=") + to_string(r.result));
    if (r.result != AuthResult::Pass && r.result != AuthResult::None && !r.reason.empty()) {
      std::string reason = r.reason.size() > 200 ? r.reason.substr(0, 197) + "..." : r.reason;
      items.push_back("reason=" + quoted(reason));
    }
    if (r.key_bits > 0)
      items.push_back("(" + std::to_string(r.key_bits) + "-bit key" +
                      (r.key_testing ? "; test mode)" : ")"));
    if (!r.domain.empty()) items.push_back("header.d=" + bounded_value(r.domain));
    if (!r.identity.empty() && !ascii::iequals(r.identity, "@" + r.domain))
      items.push_back("header.i=" + identity_value(r.identity));
    if (!r.selector.empty()) items.push_back("header.s=" + bounded_value(r.selector));
    if (!r.algorithm.empty()) items.push_back("header.a=" + bounded_value(r.algorithm));
    if (!r.b_prefix.empty()) items.push_back("header.b=" + bounded_value(r.b_prefix));
    if (k + 1 < results.size()) items.back() += ";";
    f.newline();
    for (const auto& it : items) f.add(it);
  }
  f.out += "\r\n";
  return std::move(f.out);
}

namespace {

// Skips CFWS (RFC 5322 §3.2.2): whitespace, line breaks and comments, which
// nest and may hold quoted-pairs.  False on an unclosed comment.
bool skip_cfws(std::string_view s, std::size_t& i) {
  for (;;) {
    while (i < s.size() && ascii::is_space(s[i])) ++i;
    if (i >= s.size() || s[i] != '(') return true;
    int depth = 0;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '\\') {
        if (i < s.size()) ++i;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (--depth == 0) break;
      }
    }
    if (depth != 0) return false;
  }
}

}  // namespace

bool claims_authserv_id(std::string_view field, std::string_view authserv_id) {
  if (authserv_id.empty() || !ascii::iequals(field_name(field), "Authentication-Results"))
    return false;
  std::size_t i = field.find(':') + 1;
  if (!skip_cfws(field, i) || i >= field.size()) return false;
  std::string id;
  if (field[i] == '"') {
    ++i;
    bool closed = false;
    while (i < field.size()) {
      char c = field[i++];
      if (c == '\\' && i < field.size()) {
        id += field[i++];
      } else if (c == '"') {
        closed = true;
        break;
      } else if (c != '\r' && c != '\n') {
        id += c;
      }
    }
    if (!closed) return false;
  } else {
    // The first word is the authserv-id; what follows it (a version, the
    // results, or garbage) does not change whose field this claims to be.
    std::size_t start = i;
    while (i < field.size() && !ascii::is_space(field[i]) && field[i] != '(' && field[i] != ';')
      ++i;
    id.assign(field.substr(start, i - start));
  }
  return ascii::iequals(id, authserv_id);
}

}  // namespace sigil::dkim
