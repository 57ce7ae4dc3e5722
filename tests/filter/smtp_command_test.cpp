// tests/filter/smtp_command_test.cpp — filter/smtp/smtp_command.hpp and filter/core/smtp_text.hpp: command lines,
// MAIL/RCPT paths and ESMTP parameters, xtext, XFORWARD and reply parsing.
#include "filter/smtp/smtp_command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sigil::filter {
namespace {

using namespace std::string_literals;

// ------------------------------------------------------------ parse_command

TEST(ParseCommand, VerbsCaseInsensitiveAndArgument) {
  struct Case {
    std::string_view line;
    Verb verb;
    std::string_view verb_text;
    std::string_view arg;
  };
  const Case cases[] = {
      {"HELO client.example", Verb::Helo, "HELO", "client.example"},
      {"ehlo client.example", Verb::Ehlo, "ehlo", "client.example"},
      {"LhLo x", Verb::Lhlo, "LhLo", "x"},
      {"MAIL FROM:<a@b> SIZE=10", Verb::Mail, "MAIL", "FROM:<a@b> SIZE=10"},
      {"rcpt TO:<a@b>", Verb::Rcpt, "rcpt", "TO:<a@b>"},
      {"DATA", Verb::Data, "DATA", ""},
      {"DATA ", Verb::Data, "DATA", ""},
      {"RSET", Verb::Rset, "RSET", ""},
      {"NOOP hello", Verb::Noop, "NOOP", "hello"},
      {"QUIT", Verb::Quit, "QUIT", ""},
      {"VRFY postmaster", Verb::Vrfy, "VRFY", "postmaster"},
      {"HELP", Verb::Help, "HELP", ""},
      {"XFORWARD NAME=x", Verb::Xforward, "XFORWARD", "NAME=x"},
      {"BDAT 100 LAST", Verb::Bdat, "BDAT", "100 LAST"},
      {"STARTTLS", Verb::Starttls, "STARTTLS", ""},
      // Only one space is eaten: the rest belongs to the argument.
      {"NOOP  two", Verb::Noop, "NOOP", " two"},
      {"FOO bar", Verb::Unknown, "FOO", "bar"},
      {"MAILX FROM:<>", Verb::Unknown, "MAILX", "FROM:<>"},
      {"MAI", Verb::Unknown, "MAI", ""},
      {"", Verb::Unknown, "", ""},
      {" MAIL", Verb::Unknown, "", "MAIL"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.line));
    Command cmd = parse_command(c.line);
    EXPECT_EQ(cmd.verb, c.verb) << "got verb " << static_cast<int>(cmd.verb) << ", want "
                                << static_cast<int>(c.verb);
    EXPECT_EQ(cmd.verb_text, c.verb_text);
    EXPECT_EQ(cmd.arg, c.arg);
  }
}

// ---------------------------------------------------------- parse_mail_from

TEST(ParseMailFrom, Paths) {
  struct Case {
    std::string_view arg;
    std::string address;
  };
  const Case cases[] = {
      {"FROM:<a@example.com>", "a@example.com"},
      {" FROM:<a@example.com>", "a@example.com"},    // text after "MAIL", with its space
      {"from:<a@example.com>", "a@example.com"},     // case-insensitive keyword
      {"FROM: <a@example.com>", "a@example.com"},    // one space after the colon (Postfix)
      {"FROM:<>", ""},                               // null sender
      {"FROM:<\"john doe\"@example.com>", "\"john doe\"@example.com"},
      {"FROM:<\"a>b\"@example.com>", "\"a>b\"@example.com"},      // '>' inside quotes
      {"FROM:<\"a\\\">b\"@example.com>", "\"a\\\">b\"@example.com"},  // quoted-pair
      {"FROM:<@relay.example:user@example.com>", "user@example.com"},  // source route
      {"FROM:<@a.example,@b.example:user@example.com>", "user@example.com"},
      {"FROM:<us\xc3\xa9r@ex\xc3\xa4mple.com> SMTPUTF8", "us\xc3\xa9r@ex\xc3\xa4mple.com"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.arg));
    auto r = parse_mail_from(c.arg);
    ASSERT_TRUE(r.ok()) << "got error " << r.error.code << " " << r.error.text;
    EXPECT_EQ(r.value->address, c.address);
  }
}

TEST(ParseMailFrom, EsmtpParameters) {
  auto r = parse_mail_from(
      "FROM:<a@example.com> size=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B314");
  ASSERT_TRUE(r.ok()) << r.error.text;
  const auto& ps = r.value->params;
  ASSERT_EQ(ps.size(), 5u);
  struct Want {
    std::string key, value;
    bool has_value;
  };
  const Want want[] = {{"SIZE", "12345", true},
                       {"BODY", "8BITMIME", true},
                       {"SMTPUTF8", "", false},
                       {"RET", "HDRS", true},
                       {"ENVID", "QQ+2B314", true}};  // xtext kept as sent
  for (std::size_t i = 0; i < ps.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ps[i].key, want[i].key);
    EXPECT_EQ(ps[i].value, want[i].value);
    EXPECT_EQ(ps[i].has_value, want[i].has_value);
  }
}

TEST(ParseMailFrom, ParameterEdgeCases) {
  {  // several spaces between parameters and trailing spaces are tolerated
    auto r = parse_mail_from("FROM:<> SIZE=1   BODY=7BIT  ");
    ASSERT_TRUE(r.ok()) << r.error.text;
    ASSERT_EQ(r.value->params.size(), 2u);
    EXPECT_EQ(r.value->params[1].key, "BODY");
    EXPECT_EQ(r.value->params[1].value, "7BIT");
  }
  {  // "KEY=" has an empty value, which is not the same as no value
    auto r = parse_mail_from("FROM:<> X-FOO=");
    ASSERT_TRUE(r.ok()) << r.error.text;
    ASSERT_EQ(r.value->params.size(), 1u);
    EXPECT_EQ(r.value->params[0].key, "X-FOO");
    EXPECT_TRUE(r.value->params[0].has_value);
    EXPECT_EQ(r.value->params[0].value, "");
  }
  {  // the value may itself contain '='
    auto r = parse_mail_from("FROM:<> AUTH=a=b");
    ASSERT_TRUE(r.ok()) << r.error.text;
    EXPECT_EQ(r.value->params[0].key, "AUTH");
    EXPECT_EQ(r.value->params[0].value, "a=b");
  }
}

TEST(ParseMailFrom, BadSyntax) {
  struct Case {
    std::string arg;
    int code;
    std::string enhanced;
  };
  const Case cases[] = {
      {"", 501, "5.5.4"},
      {"TO:<a@b>", 501, "5.5.4"},
      {"FROM", 501, "5.5.4"},
      {"FROM:", 501, "5.5.4"},
      {"FROM:a@example.com", 501, "5.5.4"},         // no angle brackets
      {"FROM:<a@example.com", 501, "5.5.4"},        // no closing bracket
      {"FROM:<\"a@example.com>", 501, "5.5.4"},     // unterminated quote hides the '>'
      {"FROM:<a@example.com>SIZE=1", 501, "5.5.4"},  // parameter not separated
      {"FROM:<a@example.com> =1", 501, "5.5.4"},    // empty parameter name
      {"FROM:<a@example.com> SI_ZE=1", 501, "5.5.4"},
      {"FROM:<a\tb@example.com>", 501, "5.1.7"},    // control character
      {"FROM:<a\x7f@example.com>", 501, "5.1.7"},
      {"FROM:<a\r\nRCPT TO:<x@y>>"s, 501, "5.1.7"},
      {"FROM:<a\0b@example.com>"s, 501, "5.1.7"},
      {"FROM:<\"\\\x1b[31m\"@x>", 501, "5.1.7"},     // escaped in a quoted local part
      {"FROM:<\"a\x1b\"@x>", 501, "5.1.7"},          // bare in a quoted local part
      {"FROM:<\"\\\x7f\"@x>", 501, "5.1.7"},
      {"FROM:<@relay.example>", 501, "5.5.4"},      // source route without ':'
      {"FROM:<" + std::string(250, 'a') + "@b.cd>", 553, "5.1.3"},  // 255 > 254
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.arg);
    auto r = parse_mail_from(c.arg);
    EXPECT_FALSE(r.ok()) << "got address " << (r.ok() ? r.value->address : "");
    EXPECT_EQ(r.error.code, c.code);
    EXPECT_EQ(r.error.enhanced, c.enhanced);
    EXPECT_FALSE(r.error.text.empty());
  }
  // A quoted local part with escaped printable characters is fine.
  auto quoted = parse_mail_from("FROM:<\"a\\\"b\\\\c\"@x>");
  ASSERT_TRUE(quoted.ok()) << quoted.error.text;
  EXPECT_EQ(quoted.value->address, "\"a\\\"b\\\\c\"@x");
  // 254 is still fine.
  auto ok = parse_mail_from("FROM:<" + std::string(249, 'a') + "@b.cd>");
  ASSERT_TRUE(ok.ok()) << ok.error.text;
  EXPECT_EQ(ok.value->address.size(), 254u);
}

// ------------------------------------------------------------ parse_rcpt_to

TEST(ParseRcptTo, PathsAndDsnParameters) {
  auto r = parse_rcpt_to(
      " TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.org");
  ASSERT_TRUE(r.ok()) << r.error.text;
  EXPECT_EQ(r.value->address, "b@example.org");
  ASSERT_EQ(r.value->params.size(), 2u);
  EXPECT_EQ(r.value->params[0].key, "NOTIFY");
  EXPECT_EQ(r.value->params[0].value, "SUCCESS,FAILURE");
  EXPECT_EQ(r.value->params[1].key, "ORCPT");
  EXPECT_EQ(r.value->params[1].value, "rfc822;b+2Bx@example.org");
  auto decoded = xtext_decode(r.value->params[1].value);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, "rfc822;b+x@example.org");

  struct Case {
    std::string_view arg;
    std::string address;
  };
  const Case cases[] = {
      {"TO:<Postmaster>", "Postmaster"},
      {"to: <c@example.org>", "c@example.org"},
      {"TO:<@hop1,@hop2:c@example.org>", "c@example.org"},
      {"TO:<\"x y\"@example.org>", "\"x y\"@example.org"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.arg));
    auto p = parse_rcpt_to(c.arg);
    ASSERT_TRUE(p.ok()) << p.error.text;
    EXPECT_EQ(p.value->address, c.address);
    EXPECT_TRUE(p.value->params.empty());
  }
}

TEST(ParseRcptTo, BadSyntax) {
  struct Case {
    std::string_view arg;
    int code;
    std::string enhanced;
  };
  const Case cases[] = {
      {"TO:<>", 501, "5.1.3"},  // the null path is not a recipient
      {"FROM:<a@b>", 501, "5.5.4"},
      {"TO:a@b", 501, "5.5.4"},
      {"TO:<a@b", 501, "5.5.4"},
      {"TO:<a@b>NOTIFY=NEVER", 501, "5.5.4"},
      {"TO:<a@b> NOT!FY=NEVER", 501, "5.5.4"},
      {"", 501, "5.5.4"},
      {"TO:<\"\\\x1b[31m\"@x>", 501, "5.1.3"},  // an escaped control character
      {"TO:<a\x01@b>", 501, "5.1.3"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.arg));
    auto r = parse_rcpt_to(c.arg);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error.code, c.code);
    EXPECT_EQ(r.error.enhanced, c.enhanced);
  }
}

// -------------------------------------------------------------------- xtext

TEST(Xtext, Decode) {
  struct Case {
    std::string_view in;
    std::optional<std::string> out;
  };
  const Case cases[] = {
      {"", ""},
      {"plain", "plain"},
      {"a+2Bb", "a+b"},
      {"+3D", "="},
      {"+20+09+7E", " \t~"},
      {"+00", "\0"s},
      {"+FF", "\xff"},
      {"a+2b", std::nullopt},  // lower-case hex is not xtext
      {"+G0", std::nullopt},
      {"+2", std::nullopt},   // truncated escape
      {"a+", std::nullopt},
      {"a=b", std::nullopt},  // '=' must be encoded
      {"a b", std::nullopt},  // SP must be encoded
      {"a\x7f", std::nullopt},
      {"\xc3\xa9", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.in));
    auto got = xtext_decode(c.in);
    EXPECT_EQ(got, c.out) << "got " << (got ? *got : "nullopt");
  }
}

TEST(Xtext, EncodeAndRoundTrip) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("plain@example.com"), "plain@example.com");
  EXPECT_EQ(xtext_encode("\xc3\xa9"), "+C3+A9");
  EXPECT_EQ(xtext_encode(""), "");
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string enc = xtext_encode(all);
  for (char c : enc) {
    unsigned char u = static_cast<unsigned char>(c);
    ASSERT_TRUE(u >= 33 && u <= 126 && c != '=') << "encoded byte " << int(u);
  }
  auto dec = xtext_decode(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, all);
}

// ---------------------------------------------------------------- XFORWARD

TEST(ParseXforward, AllAttributes) {
  auto r = parse_xforward(
      "NAME=mail.example.com ADDR=192.0.2.1 PORT=4711 PROTO=ESMTP HELO=helo+20name "
      "IDENT=abc123 SOURCE=REMOTE");
  ASSERT_TRUE(r.ok()) << r.error.text;
  using KV = std::pair<std::string, std::string>;
  std::vector<KV> want = {{"NAME", "mail.example.com"}, {"ADDR", "192.0.2.1"},
                          {"PORT", "4711"},             {"PROTO", "ESMTP"},
                          {"HELO", "helo+20name"},  // stays xtext-encoded
                          {"IDENT", "abc123"},          {"SOURCE", "REMOTE"}};
  EXPECT_EQ(*r.value, want);
}

TEST(ParseXforward, SpecialValuesIpv6AndCase) {
  auto r = parse_xforward(
      " name=[UNAVAILABLE] addr=IPv6:2001:db8::1 helo=[TEMPUNAVAIL]  Source=LOCAL");
  ASSERT_TRUE(r.ok()) << r.error.text;
  using KV = std::pair<std::string, std::string>;
  std::vector<KV> want = {{"NAME", "[UNAVAILABLE]"},
                          {"ADDR", "IPv6:2001:db8::1"},
                          {"HELO", "[TEMPUNAVAIL]"},
                          {"SOURCE", "LOCAL"}};
  EXPECT_EQ(*r.value, want);
}

TEST(ParseXforward, Errors) {
  const std::string_view bad[] = {
      "",
      "   ",
      "FOO=bar",              // unknown attribute
      "NAME=x BOGUS=y",       // one unknown among known ones
      "NAME",                 // no value
      "ADDR=1.2.3.4 PORT",    // no value
      "HELO=a+2x",            // bad xtext
      "HELO=a=b",
      "=x",
  };
  for (auto a : bad) {
    SCOPED_TRACE(std::string(a));
    auto r = parse_xforward(a);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error.code, 501);
    EXPECT_EQ(r.error.enhanced, "5.5.4");
  }
  auto r = parse_xforward("NAME=x BOGUS=y");
  EXPECT_NE(r.error.text.find("BOGUS"), std::string::npos) << r.error.text;
}

// ------------------------------------------------------------------ replies

Reply feed_all(const std::vector<std::string_view>& lines) {
  ReplyParser p;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_FALSE(p.complete()) << "complete before line " << i;
    EXPECT_TRUE(p.feed(lines[i])) << "rejected line '" << lines[i] << "'";
  }
  EXPECT_TRUE(p.complete());
  return p.take();
}

TEST(ReplyParser, SingleLine) {
  Reply r = feed_all({"250 2.1.0 Sender ok"});
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.enhanced, "2.1.0");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "Sender ok");
  EXPECT_EQ(r.summary(), "250 2.1.0 Sender ok");
  EXPECT_TRUE(r.positive());
  EXPECT_FALSE(r.temporary());
  EXPECT_FALSE(r.permanent());

  Reply g = feed_all({"220 mx.example ESMTP Postfix"});
  EXPECT_EQ(g.code, 220);
  EXPECT_EQ(g.enhanced, "");
  EXPECT_EQ(g.summary(), "220 mx.example ESMTP Postfix");

  Reply bare = feed_all({"354"});
  EXPECT_EQ(bare.code, 354);
  ASSERT_EQ(bare.lines.size(), 1u);
  EXPECT_EQ(bare.lines[0], "");
  EXPECT_EQ(bare.summary(), "354");
  EXPECT_TRUE(bare.positive());

  Reply only_code = feed_all({"550 5.7.1"});
  EXPECT_EQ(only_code.enhanced, "5.7.1");
  EXPECT_EQ(only_code.summary(), "550 5.7.1");
  EXPECT_TRUE(only_code.permanent());

  Reply t = feed_all({"451 4.3.0 Try later"});
  EXPECT_TRUE(t.temporary());
  EXPECT_FALSE(t.positive());
  EXPECT_FALSE(t.permanent());
}

TEST(ReplyParser, MultiLineAcrossFeeds) {
  ReplyParser p;
  ASSERT_TRUE(p.feed("250-mx.example"));
  EXPECT_FALSE(p.complete());
  ASSERT_TRUE(p.feed("250-PIPELINING"));
  EXPECT_FALSE(p.complete());
  ASSERT_TRUE(p.feed("250-SIZE 10240000"));
  ASSERT_TRUE(p.feed("250-"));  // an empty continuation line
  ASSERT_TRUE(p.feed("250 8BITMIME"));
  ASSERT_TRUE(p.complete());
  Reply r = p.take();
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.enhanced, "");
  std::vector<std::string> want = {"mx.example", "PIPELINING", "SIZE 10240000", "", "8BITMIME"};
  EXPECT_EQ(r.lines, want);
  EXPECT_EQ(r.summary(), "250 mx.example");

  // take() resets: the next reply starts clean.
  EXPECT_FALSE(p.complete());
  ASSERT_TRUE(p.feed("550-5.1.1 No such user"));
  ASSERT_TRUE(p.feed("550 5.1.1 here"));
  ASSERT_TRUE(p.complete());
  Reply e = p.take();
  EXPECT_EQ(e.code, 550);
  EXPECT_EQ(e.enhanced, "5.1.1");
  // The enhanced code is taken from the first line only.
  std::vector<std::string> want_e = {"No such user", "5.1.1 here"};
  EXPECT_EQ(e.lines, want_e);
}

TEST(ReplyParser, EnhancedCodeSyntax) {
  struct Case {
    std::string_view line;
    std::string enhanced;
    std::string first_line;
  };
  const Case cases[] = {
      {"250 2.0.0 Ok", "2.0.0", "Ok"},
      {"250 2.1.5 Ok", "2.1.5", "Ok"},
      {"550 5.100.999 x", "5.100.999", "x"},
      {"450 4.7.1 Greylisted", "4.7.1", "Greylisted"},
      {"250 5.0.0 mismatch", "", "5.0.0 mismatch"},   // class must match the reply code
      {"250 2.0 Ok", "", "2.0 Ok"},                  // two parts only
      {"250 2.0.0.0 Ok", "", "2.0.0.0 Ok"},          // four parts
      {"250 2.x.0 Ok", "", "2.x.0 Ok"},
      {"250 2..0 Ok", "", "2..0 Ok"},                // empty subject
      {"250 2.0. Ok", "", "2.0. Ok"},                // empty detail
      {"250 2.1000.0 Ok", "", "2.1000.0 Ok"},        // subject > 3 digits
      {"250 2.0.1000 Ok", "", "2.0.1000 Ok"},        // detail > 3 digits
      {"250 2.0.0Ok", "", "2.0.0Ok"},                // not followed by SP
      {"250 Ok 2.0.0", "", "Ok 2.0.0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.line));
    ReplyParser p;
    ASSERT_TRUE(p.feed(c.line));
    ASSERT_TRUE(p.complete());
    Reply r = p.take();
    EXPECT_EQ(r.enhanced, c.enhanced);
    ASSERT_EQ(r.lines.size(), 1u);
    EXPECT_EQ(r.lines[0], c.first_line);
  }
}

TEST(ReplyParser, Garbage) {
  const std::string_view bad[] = {
      "",        "2",         "25",        "hello",     "2x0 Ok",  "250x Ok", "2500 Ok",
      "099 Ok",  "199 Ok",    "600 Ok",    "-250 Ok",   " 250 Ok", "250\tOk",
  };
  for (auto line : bad) {
    SCOPED_TRACE(std::string(line));
    ReplyParser p;
    EXPECT_FALSE(p.feed(line));
    EXPECT_FALSE(p.complete());
  }
  // A continuation with a different code is inconsistent.
  ReplyParser p;
  ASSERT_TRUE(p.feed("250-first"));
  EXPECT_FALSE(p.feed("251 second"));
  EXPECT_FALSE(p.complete());
  // The parser is still usable with the right code.
  ASSERT_TRUE(p.feed("250 second"));
  ASSERT_TRUE(p.complete());
  Reply r = p.take();
  std::vector<std::string> want = {"first", "second"};
  EXPECT_EQ(r.lines, want);
}

TEST(IsPrintableAscii, Table) {
  EXPECT_TRUE(is_printable_ascii(""));
  EXPECT_TRUE(is_printable_ascii("Hello, world ~!"));
  EXPECT_FALSE(is_printable_ascii("tab\there"));
  EXPECT_FALSE(is_printable_ascii("cr\r"));
  EXPECT_FALSE(is_printable_ascii("del\x7f"));
  EXPECT_FALSE(is_printable_ascii("\xc3\xa9"));
  EXPECT_FALSE(is_printable_ascii("nul\0"s));
}

}  // namespace
}  // namespace sigil::filter
