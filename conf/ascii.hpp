// conf/ascii.hpp — the ASCII text helpers every module uses: case mapping,
// case-insensitive comparison, trimming of white space, the ASCII test.
//
// Protocol tokens (SMTP verbs, header field names, DKIM tags, domain names)
// are ASCII and compared without regard to case (RFC 5321 §2.4, RFC 5322
// §1.2.2, RFC 6376 §3.2).  These helpers never look at the locale and leave
// bytes >= 0x80 as they are, unlike std::tolower under a UTF-8 locale.
//
// Lives in conf/ because conf/ is the one module every other one links (as
// with conf/result.hpp); it depends on nothing but the standard library.
// Does not: decode encoded words, fold or unfold header lines, or know any
// protocol's grammar.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sigil::ascii {

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

inline std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = lower(c);
  return o;
}

inline std::string upper(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = upper(c);
  return o;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

constexpr bool iends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// SP, HT, CR, LF: white space and line ends (RFC 5322 FWS with its CRLF).
constexpr bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// `s` without white space and line ends at either end.
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// True when every byte of `s` is below 0x80 (no UTF-8, RFC 6531 §3.3).
constexpr bool is_ascii(std::string_view s) noexcept {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace sigil::ascii
