// tests/fuzz/fuzz_smtp_command.cpp — SMTP/LMTP command lines and ESMTP
// parameters (filter/smtp/smtp_command): parse_command on the line, then
// MAIL FROM, RCPT TO and XFORWARD arguments on its argument.
// Properties: the verb and argument are views into the line; a failed
// parse carries a 5xx or 4xx reply; parameter keys are upper case; XFORWARD
// keys are the seven Postfix names; a value that decodes as xtext (RFC
// 3461 §4) encodes and decodes back to the same text.
#include <algorithm>
#include <string>

#include "filter/smtp/smtp_command.hpp"
#include "fuzz_check.hpp"

using namespace sigil::filter;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() &&
                          part.data() + part.size() <= whole.data() + whole.size());
}

bool upper(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

void check_xtext(std::string_view value) {
  auto text = xtext_decode(value);
  if (!text) return;
  auto again = xtext_decode(xtext_encode(*text));
  FUZZ_CHECK(again && *again == *text);
}

template <typename T>
void check_params(const Parsed<T>& p) {
  if (!p.ok()) {
    FUZZ_CHECK(p.error.code >= 400 && p.error.code < 600);
    return;
  }
  for (const auto& param : p.value->params) {
    FUZZ_CHECK(upper(param.key) && !param.key.empty());
    check_xtext(param.value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line = sigil::fuzz::as_text(data, size);
  const Command c = parse_command(line);
  FUZZ_CHECK(inside(c.verb_text, line) && inside(c.arg, line));

  check_params(parse_mail_from(c.arg));
  check_params(parse_rcpt_to(c.arg));
  auto x = parse_xforward(c.arg);
  if (x.ok()) {
    static const std::string_view kKeys[] = {"NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT",
                                            "SOURCE"};
    for (const auto& [k, v] : *x.value) {
      FUZZ_CHECK(std::find(std::begin(kKeys), std::end(kKeys), k) != std::end(kKeys));
      check_xtext(v);
    }
  } else {
    FUZZ_CHECK(x.error.code >= 400 && x.error.code < 600);
  }
  return 0;
}
