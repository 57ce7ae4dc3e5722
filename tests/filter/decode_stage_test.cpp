// tests/filter/decode_stage_test.cpp — the decode stage's MIME walk and
// header checks (decode_message), table-driven, fixtures built here.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "filter/decode_stage.hpp"
#include "filter/message_store.hpp"

using namespace sigil;
using namespace sigil::filter;

namespace {

const std::string kHead =
    "From: a@example.org\r\nTo: b@example.net\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Subject: test\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n";

std::unique_ptr<MessageStore> store(const std::string& bytes, std::size_t threshold = 1 << 20) {
  auto m = std::make_unique<MessageStore>(threshold, ::testing::TempDir(), 64 * 1024);
  EXPECT_TRUE(m->append(bytes).ok());
  EXPECT_TRUE(m->finish().ok());
  return m;
}

std::string multipart(const std::string& parts_body, const std::string& ct_extra = "") {
  return kHead + "Content-Type: multipart/mixed; boundary=\"XX\"" + ct_extra + "\r\n\r\n" +
         parts_body + "--XX--\r\n";
}

std::string part(const std::string& headers, const std::string& body) {
  return "--XX\r\n" + headers + "\r\n" + body + "\r\n";
}

bool has(const DecodeResult& r, conf::Category c, const std::string& reason) {
  for (const auto& f : r.findings)
    if (f.category == c && f.reason == reason && f.stage == "decode") return true;
  return false;
}

std::string nested(int levels) {
  std::string s = kHead + "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n";
  for (int i = 1; i < levels; ++i)
    s += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=\"b" +
         std::to_string(i) + "\"\r\n\r\n";
  s += "--b" + std::to_string(levels - 1) + "\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
  for (int i = levels - 1; i >= 0; --i) s += "--b" + std::to_string(i) + "--\r\n";
  return s;
}

std::string many_parts(int n) {
  std::string body;
  for (int i = 0; i < n; ++i) body += part("Content-Type: text/plain\r\n", "x");
  return multipart(body);
}

TEST(DecodeStage, Table) {
  struct Case {
    std::string name;
    std::string msg;
    bool smtputf8 = false;
    std::vector<std::pair<conf::Category, std::string>> findings;  // exactly these
    std::vector<std::string> names;  // the leaves' file names, in order ("" none)
  } cases[] = {
      {"clean", multipart(part("Content-Type: text/plain\r\n", "hello") +
                          part("Content-Type: application/pdf; name=\"a.pdf\"\r\n"
                               "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
                               "Content-Transfer-Encoding: base64\r\n",
                               "JVBERi0xLjQK")),
       false, {}, {"", "a.pdf"}},
      {"rfc2231", multipart(part("Content-Type: application/octet-stream\r\n"
                                 "Content-Disposition: attachment; "
                                 "filename*=utf-8''facture-%C3%A9.exe\r\n",
                                 "data")),
       false, {}, {"facture-\xc3\xa9.exe"}},
      {"rfc2047", multipart(part("Content-Type: application/octet-stream; "
                                 "name=\"=?utf-8?Q?facture-=C3=A9.exe?=\"\r\n",
                                 "data")),
       false, {}, {"facture-\xc3\xa9.exe"}},
      {"5000 parts", many_parts(5000), false,
       {{conf::Category::Unchecked, "more than 1500 MIME parts"}}, {}},
      {"100 levels", nested(100), false,
       {{conf::Category::Unchecked, "MIME nesting deeper than 14"}}, {}},
      {"14 levels is fine", nested(14), false, {}, {""}},
      {"duplicate boundary",
       kHead + "Content-Type: multipart/mixed; boundary=\"XX\"; boundary=\"YY\"\r\n\r\n" +
           part("Content-Type: text/plain\r\n", "a") + "--XX--\r\n",
       false, {{conf::Category::Unchecked, "multipart with 2 boundary parameters"}}, {}},
      {"missing boundary",
       kHead + "Content-Type: multipart/mixed\r\n\r\n--XX\r\n\r\nhi\r\n--XX--\r\n", false,
       {{conf::Category::Unchecked, "multipart without a boundary parameter"}}, {}},
      {"missing From", "To: b@example.net\r\nSubject: s\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "missing From"}}, {""}},
      {"two From", "From: a@x.org\r\nFrom: c@x.org\r\nSubject: s\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "duplicate From"}}, {""}},
      {"two Date and Subject",
       kHead + "Date: Tue, 2 Jan 2024 00:00:00 +0000\r\nSubject: again\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "duplicate Date"},
        {conf::Category::BadHeader, "duplicate Subject"}},
       {""}},
      {"8-bit header", kHead + "X-Note: caf\xc3\xa9\r\n\r\nbody\r\n", false,
       {{conf::Category::BadHeader, "8-bit bytes in the header without SMTPUTF8"}}, {""}},
      {"8-bit header with SMTPUTF8", kHead + "X-Note: caf\xc3\xa9\r\n\r\nbody\r\n", true, {},
       {""}},
  };
  conf::DecodeConfig cfg;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Envelope env;
    env.smtputf8 = c.smtputf8;
    auto m = store(c.msg);
    auto t0 = std::chrono::steady_clock::now();
    DecodeResult r = decode_message(*m, env, cfg);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    ASSERT_EQ(r.findings.size(), c.findings.size());
    for (const auto& [cat, reason] : c.findings)
      EXPECT_TRUE(has(r, cat, reason)) << reason << " / got " << r.findings[0].reason;
    if (c.findings.empty() || c.findings[0].first == conf::Category::BadHeader) {
      EXPECT_TRUE(r.complete);
      ASSERT_EQ(r.parts.size(), c.names.size());
      for (std::size_t i = 0; i < c.names.size(); ++i) EXPECT_EQ(r.parts[i].name, c.names[i]);
    } else {
      EXPECT_FALSE(r.complete);
    }
  }
}

TEST(DecodeStage, PartInfoAndNote) {
  std::string msg = multipart(part("Content-Type: text/plain\r\n", "hello world") +
                              part("Content-Type: text/plain; name=\"readme.txt\"\r\n",
                                   std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", 14) +
                                       std::string(64, '\0') + "This program cannot be run in DOS mode") +
                              part("Content-Type: application/octet-stream\r\n"
                                   "Content-Disposition: attachment; "
                                   "filename*=utf-8''facture-%C3%A9.exe\r\n"
                                   "Content-Transfer-Encoding: base64\r\n",
                                   "aGVsbG8="));
  auto m = store(msg);
  DecodeResult r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.parts.size(), 3u);
  EXPECT_EQ(r.parts[0].declared_type, "text/plain");
  EXPECT_EQ(r.parts[0].detected_type, "text/plain");
  EXPECT_EQ(r.parts[0].depth, 1u);
  EXPECT_EQ(r.parts[1].declared_type, "text/plain");
  EXPECT_TRUE(r.parts[1].detected_type == "application/x-dosexec" ||
              r.parts[1].detected_type == "application/x-msdownload" ||
              r.parts[1].detected_type == "application/vnd.microsoft.portable-executable")
      << r.parts[1].detected_type;
  EXPECT_EQ(r.parts[2].size, 5u) << "base64 decoded";
  EXPECT_EQ(r.note, "3 parts; names: readme.txt, facture-\xc3\xa9.exe");
}

TEST(DecodeStage, SpooledMessageParsedFromTheFile) {
  std::string big(200000, 'A');
  std::string msg = multipart(part("Content-Type: text/plain\r\n", "first") +
                              part("Content-Type: application/octet-stream; name=\"big.bin\"\r\n",
                                   big));
  auto m = store(msg, 1024);
  ASSERT_TRUE(m->spooled());
  DecodeResult r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_TRUE(r.findings.empty());
  ASSERT_EQ(r.parts.size(), 2u);
  EXPECT_EQ(r.parts[1].name, "big.bin");
  EXPECT_EQ(r.parts[1].size, big.size());
  // Twice: the stage does not disturb the store.
  DecodeResult again = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_EQ(again.parts.size(), 2u);
}

TEST(DecodeStage, ConfiguredLimits) {
  conf::DecodeConfig cfg;
  cfg.max_parts = 3;
  cfg.max_depth = 2;
  auto m = store(many_parts(5));
  auto r = decode_message(*m, Envelope{}, cfg);
  EXPECT_TRUE(has(r, conf::Category::Unchecked, "more than 3 MIME parts"));
  auto n = store(nested(4));
  auto s = decode_message(*n, Envelope{}, cfg);
  EXPECT_TRUE(has(s, conf::Category::Unchecked, "MIME nesting deeper than 2"));
}

}  // namespace

namespace {

// GMime builds the whole tree before the walk: very deep nesting must still
// end in `unchecked`, not a crash.
TEST(DecodeStage, VeryDeepNestingDoesNotCrash) {
  auto m = store(nested(20000));
  auto t0 = std::chrono::steady_clock::now();
  auto r = decode_message(*m, Envelope{}, conf::DecodeConfig{});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_TRUE(has(r, conf::Category::Unchecked, "MIME nesting deeper than 14"));
}

}  // namespace
