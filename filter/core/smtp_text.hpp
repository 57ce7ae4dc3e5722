// filter/core/smtp_text.hpp — the SMTP text both sides of Sigil speak:
// ESMTP parameters as received, xtext, and replies with their parser.
//
// Pure functions, no I/O.  Implements reply syntax (RFC 5321 §4.2), enhanced
// status codes (RFC 3463 §2) and xtext (RFC 3461 §4).  The front's command
// parser (smtp/smtp_command.hpp), the back-end client (delivery/) and the
// stages all use it.
// Does not: parse command lines (smtp/smtp_command.hpp), or decide any reply
// (core/outcome.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sigil::filter {

struct Param {
  std::string key;    // upper-cased
  std::string value;  // as sent (xtext is not decoded)
  bool has_value = false;
};

// The parameter `key` (upper case) that has a value, or nullptr.
const Param* find_param(const std::vector<Param>& ps, std::string_view key);

// xtext (RFC 3461 §4): "+XX" escapes.  nullopt on malformed input.
std::optional<std::string> xtext_decode(std::string_view s);
std::string xtext_encode(std::string_view s);

// A reply from a peer: code, optional enhanced status code, text lines.
struct Reply {
  int code = 0;
  std::string enhanced;            // "2.0.0" or empty
  std::vector<std::string> lines;  // text after "NNN-" / "NNN "
  bool positive() const { return code >= 200 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // First line, with code: "250 2.0.0 Ok" (for logs and quoting).
  std::string summary() const;
};

// A one-line reply: `code`, `enhanced` (may be empty), `text`.
Reply make_reply(int code, std::string enhanced, std::string text);

// Incremental reply parser: feed lines (without CRLF) until complete() is true.
class ReplyParser {
 public:
  // Returns false on a malformed line (no 3-digit code or inconsistent code).
  bool feed(std::string_view line);
  bool complete() const { return complete_; }
  Reply take();

 private:
  Reply r_;
  bool complete_ = false;
};

// True if s is printable ASCII without controls (SP allowed).
bool is_printable_ascii(std::string_view s);

}  // namespace sigil::filter
