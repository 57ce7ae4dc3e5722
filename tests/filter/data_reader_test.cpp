// tests/filter/data_reader_test.cpp — filter/smtp/data_reader.hpp: the end-of-data
// marker and the smuggling policy (only <CRLF>.<CRLF> ends the data), dot
// unstuffing, bare CR/LF marking, the size limit, and independence from how
// the input is split into reads.
#include "filter/smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace sigil::filter {
namespace {

using namespace std::string_literals;

// What feeding an input produced, up to and including the end marker.
struct Outcome {
  bool done = false;
  std::size_t consumed = 0;  // total bytes of input used
  std::string out;
  bool bare = false;
  std::uint64_t size = 0;
  bool too_big = false;
};

// Feeds `in` in pieces of `chunk` bytes (0: in one piece), stopping at the end
// marker the way the session does (the rest stays in its buffer).
Outcome run(std::string_view in, std::size_t chunk = 0, std::uint64_t max = 1 << 20) {
  DataReader r(max);
  Outcome o;
  std::size_t pos = 0;
  if (chunk == 0) chunk = in.size() ? in.size() : 1;
  while (pos < in.size()) {
    std::size_t n = std::min(chunk, in.size() - pos);
    auto st = r.feed(in.data() + pos, n, o.out);
    EXPECT_LE(st.consumed, n);
    if (!st.done) {
      EXPECT_EQ(st.consumed, n) << "a read that does not end must be used whole";
    }
    pos += st.consumed;
    if (st.done) {
      o.done = true;
      break;
    }
  }
  o.consumed = pos;
  o.bare = r.bare_newline();
  o.size = r.size();
  o.too_big = r.too_big();
  return o;
}

// Feeds in exactly two pieces, split at `at`.
Outcome run_split(std::string_view in, std::size_t at) {
  DataReader r(1 << 20);
  Outcome o;
  auto a = r.feed(in.data(), at, o.out);
  o.consumed = a.consumed;
  if (a.done) {
    o.done = true;
  } else {
    EXPECT_EQ(a.consumed, at);
    auto b = r.feed(in.data() + at, in.size() - at, o.out);
    o.consumed += b.consumed;
    o.done = b.done;
  }
  o.bare = r.bare_newline();
  o.size = r.size();
  o.too_big = r.too_big();
  return o;
}

std::string show(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '\r') o += "\\r";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

struct Case {
  const char* name;
  std::string in;
  bool done;
  std::size_t consumed;
  std::string out;
  bool bare;
};

// Each input is followed by whatever the client sent next; `consumed` says
// where the real end marker was found (everything after it is left alone).
const Case kCases[] = {
    {"crlf_dot_crlf_ends", "a\r\n.\r\nQUIT\r\n", true, 6, "a\r\n", false},
    {"lf_dot_lf_is_content", "a\n.\nMAIL FROM:<x@y>\nb\r\n.\r\nQUIT\r\n", true, 26,
     "a\n.\nMAIL FROM:<x@y>\nb\r\n", true},
    {"cr_dot_cr_is_content", "a\r.\rb\r\n.\r\n", true, 10, "a\r.\rb\r\n", true},
    {"lf_dot_crlf_is_content", "a\n.\r\nRSET\r\n.\r\n", true, 14, "a\n.\r\nRSET\r\n", true},
    // The line ".\n" starts after a CRLF: its leading dot is unstuffed.
    {"crlf_dot_lf_is_content", "a\r\n.\nb\r\n.\r\n", true, 11, "a\r\n\nb\r\n", true},
    {"crlf_dot_cr_is_content", "a\r\n.\rb\r\n.\r\n", true, 11, "a\r\n\rb\r\n", true},
    {"crlf_dot_cr_cr_lf", "a\r\n.\r\r\n.\r\n", true, 10, "a\r\n\r\r\n", true},
    {"bare_lf_in_text", "a\nb\r\n.\r\n", true, 8, "a\nb\r\n", true},
    {"bare_cr_in_text", "a\rb\r\n.\r\n", true, 8, "a\rb\r\n", true},
    {"bare_cr_before_crlf", "a\r\r\n.\r\n", true, 7, "a\r\r\n", true},
    {"bare_lf_then_dot_line", "a\n..\r\n.\r\n", true, 9, "a\n..\r\n", true},
    {"dot_stuffed_line", "a\r\n..\r\n.\r\n", true, 10, "a\r\n.\r\n", false},
    {"dot_stuffed_text", "a\r\n..b\r\n.c\r\n.\r\n", true, 15, "a\r\n.b\r\nc\r\n", false},
    {"empty_message", ".\r\nMAIL FROM:<>\r\n", true, 3, "", false},
    {"empty_line_message", "\r\n.\r\n", true, 5, "\r\n", false},
    {"leading_dotdot", "..\r\n.\r\n", true, 7, ".\r\n", false},
    {"leading_dotdot_text", "..x\r\n.\r\n", true, 8, ".x\r\n", false},
    {"leading_dot_lf", ".\nx\r\n.\r\n", true, 8, "\nx\r\n", true},
    {"no_end_yet", "a\r\nb\r\n.", false, 7, "a\r\nb\r\n", false},
    {"no_end_dot_cr", "a\r\n.\r", false, 5, "a\r\n", false},
    {"no_end_text", "abc", false, 3, "abc", false},
    {"utf8_and_nul", "\xc3\xa9\0x\r\n.\r\n"s, true, 9, "\xc3\xa9\0x\r\n"s, false},
};

TEST(DataReader, SmugglingPolicyTable) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Outcome o = run(c.in);
    EXPECT_EQ(o.done, c.done) << "got done=" << o.done << ", want " << c.done;
    EXPECT_EQ(o.consumed, c.consumed) << "got consumed " << o.consumed << ", want " << c.consumed;
    EXPECT_EQ(o.out, c.out) << "got '" << show(o.out) << "', want '" << show(c.out) << "'";
    EXPECT_EQ(o.bare, c.bare) << "got bare_newline " << o.bare << ", want " << c.bare;
    EXPECT_EQ(o.size, c.out.size());
    EXPECT_FALSE(o.too_big);
  }
}

TEST(DataReader, ByteByByteMatchesOnePiece) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Outcome whole = run(c.in);
    Outcome bytes = run(c.in, 1);
    EXPECT_EQ(bytes.done, whole.done);
    EXPECT_EQ(bytes.consumed, whole.consumed);
    EXPECT_EQ(bytes.out, whole.out) << "got '" << show(bytes.out) << "', want '"
                                    << show(whole.out) << "'";
    EXPECT_EQ(bytes.bare, whole.bare);
    EXPECT_EQ(bytes.size, whole.size);
  }
}

TEST(DataReader, EveryTwoWaySplitMatchesOnePiece) {
  for (const auto& c : kCases) {
    Outcome whole = run(c.in);
    for (std::size_t at = 0; at <= c.in.size(); ++at) {
      SCOPED_TRACE(std::string(c.name) + " split at " + std::to_string(at));
      Outcome s = run_split(c.in, at);
      EXPECT_EQ(s.done, whole.done);
      EXPECT_EQ(s.consumed, whole.consumed);
      EXPECT_EQ(s.out, whole.out) << "got '" << show(s.out) << "', want '" << show(whole.out)
                                  << "'";
      EXPECT_EQ(s.bare, whole.bare);
    }
  }
}

TEST(DataReader, LongMixedMessageAnyChunkSize) {
  // A message mixing every construct; compare several chunk sizes.
  std::string in;
  for (int i = 0; i < 200; ++i) {
    in += "Line " + std::to_string(i) + "\r\n";
    if (i % 7 == 0) in += "..stuffed\r\n";
    if (i % 11 == 0) in += "bare\rcr\r\n";
    if (i % 13 == 0) in += "bare\nlf\r\n";
    if (i % 17 == 0) in += ".\n.\r.\r\n\n";
  }
  in += ".\r\nQUIT\r\n";
  Outcome whole = run(in);
  ASSERT_TRUE(whole.done);
  EXPECT_EQ(whole.consumed, in.size() - 6);
  EXPECT_TRUE(whole.bare);
  EXPECT_EQ(whole.out.find("\r\n..stuffed"), std::string::npos);
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 64u, 1000u}) {
    SCOPED_TRACE(chunk);
    Outcome o = run(in, chunk);
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.consumed, whole.consumed);
    EXPECT_EQ(o.out, whole.out);
    EXPECT_EQ(o.bare, whole.bare);
  }
}

TEST(DataReader, PipelinedCommandsAfterTheDotStayInTheBuffer) {
  std::string in = "Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
  DataReader r(1000);
  std::string out;
  auto st = r.feed(in.data(), in.size(), out);
  ASSERT_TRUE(st.done);
  EXPECT_EQ(in.substr(st.consumed), "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
  EXPECT_EQ(out, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(r.size(), out.size());

  // A fresh reader for the next message handles the next DATA the same way.
  std::string next = "second\r\n.\r\n";
  DataReader r2(1000);
  std::string out2;
  auto st2 = r2.feed(next.data(), next.size(), out2);
  EXPECT_TRUE(st2.done);
  EXPECT_EQ(st2.consumed, next.size());
  EXPECT_EQ(out2, "second\r\n");
}

TEST(DataReader, MaxSize) {
  const std::uint64_t max = 100;
  std::string body;
  for (int i = 0; i < 40; ++i) body += "0123456789\r\n";  // 480 bytes
  std::string in = body + ".\r\nQUIT\r\n";
  for (std::size_t chunk : {0u, 1u, 7u, 12u, 50u}) {
    SCOPED_TRACE(chunk);
    DataReader r(max);
    std::string out;
    std::size_t pos = 0, step = chunk ? chunk : in.size();
    std::size_t kept_when_over = 0;
    bool was_over = false, done = false;
    while (pos < in.size() && !done) {
      std::size_t n = std::min(step, in.size() - pos);
      auto st = r.feed(in.data() + pos, n, out);
      pos += st.consumed;
      done = st.done;
      EXPECT_LE(out.size(), max) << "output grew past the limit";
      if (was_over) {
        EXPECT_EQ(out.size(), kept_when_over) << "output grew once too big";
      }
      if (r.too_big() && !was_over) {
        was_over = true;
        kept_when_over = out.size();
      }
    }
    EXPECT_TRUE(done);
    EXPECT_EQ(pos, body.size() + 3) << "the end is still found past the limit";
    EXPECT_TRUE(r.too_big());
    EXPECT_EQ(r.size(), body.size()) << "size keeps counting past the limit";
    EXPECT_EQ(out, body.substr(0, out.size())) << "what is kept is a prefix of the message";
  }
  // Exactly at the limit is not too big.
  DataReader exact(12);
  std::string out;
  std::string in2 = "0123456789\r\n.\r\n";
  auto st = exact.feed(in2.data(), in2.size(), out);
  EXPECT_TRUE(st.done);
  EXPECT_FALSE(exact.too_big());
  EXPECT_EQ(out, "0123456789\r\n");
  DataReader over(11);
  out.clear();
  st = over.feed(in2.data(), in2.size(), out);
  EXPECT_TRUE(st.done);
  EXPECT_TRUE(over.too_big());
  EXPECT_EQ(over.size(), 12u);
  EXPECT_LE(out.size(), 11u);
}

TEST(DataReader, EmptyFeedIsHarmless) {
  DataReader r(100);
  std::string out;
  auto st = r.feed("", 0, out);
  EXPECT_FALSE(st.done);
  EXPECT_EQ(st.consumed, 0u);
  std::string in = ".\r\n";
  st = r.feed(in.data(), in.size(), out);
  EXPECT_TRUE(st.done);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace sigil::filter
