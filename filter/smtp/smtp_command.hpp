// filter/smtp/smtp_command.hpp — parsing of SMTP/LMTP command lines.
//
// Pure functions, no I/O.  Implements the command syntax of RFC 5321 §4.1
// (paths, ESMTP parameters), the DSN parameters RET,
// ENVID, NOTIFY and ORCPT (RFC 3461 §4.1-4.4), SIZE (RFC 1870), BODY (RFC 6152),
// SMTPUTF8 (RFC 6531) and Postfix's XFORWARD attributes.
// Does not: decide what a session does with a command (smtp_session.cpp does).
// Replies, xtext and Param: core/smtp_text.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

enum class Verb {
  Helo, Ehlo, Lhlo, Mail, Rcpt, Data, Rset, Noop, Quit, Vrfy, Help, Xforward, Bdat,
  Starttls, Unknown
};

struct Command {
  Verb verb = Verb::Unknown;
  std::string_view verb_text;  // as sent
  std::string_view arg;        // everything after the verb and one space
};

// Splits a command line (without CRLF).  Never fails: unknown verbs give Unknown.
Command parse_command(std::string_view line);


struct MailFrom {
  std::string address;  // without <>; empty for the null sender
  std::vector<Param> params;
};

struct RcptTo {
  std::string address;
  std::vector<Param> params;
};

// A parse error carries the SMTP reply to send.
struct SyntaxError {
  int code;
  std::string enhanced;
  std::string text;
};

template <typename T>
struct Parsed {
  std::optional<T> value;
  SyntaxError error{};
  bool ok() const { return value.has_value(); }
};

// arg is the text after "MAIL" (" FROM:<a@b> SIZE=1").
Parsed<MailFrom> parse_mail_from(std::string_view arg);
Parsed<RcptTo> parse_rcpt_to(std::string_view arg);


// XFORWARD attributes, e.g. "NAME=mail.example ADDR=192.0.2.1".
// Keys are upper-cased and must be one of NAME ADDR PORT PROTO HELO IDENT SOURCE.
// Values stay xtext-encoded (they are passed through as received).
Parsed<std::vector<std::pair<std::string, std::string>>> parse_xforward(std::string_view arg);



}  // namespace sigil::filter
