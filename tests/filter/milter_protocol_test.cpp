// tests/filter/milter_protocol_test.cpp — filter/milter/milter_protocol.hpp: packet
// framing, the decoders of the MTA's commands (untrusted input: short and
// malformed packets are errors, never crashes) and the byte layout of the
// replies.  e2e.milter_miltertest runs the protocol against miltertest and
// a raw-socket client.
#include "filter/milter/milter_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sigil::filter::milter {
namespace {

using namespace std::string_literals;

// A packet as the MTA writes it: 32-bit big-endian length (command byte
// included), command, data.
std::string packet(char cmd, std::string_view data) {
  std::uint32_t n = static_cast<std::uint32_t>(data.size() + 1);
  std::string s;
  s.push_back(static_cast<char>(n >> 24));
  s.push_back(static_cast<char>((n >> 16) & 0xff));
  s.push_back(static_cast<char>((n >> 8) & 0xff));
  s.push_back(static_cast<char>(n & 0xff));
  s.push_back(cmd);
  s.append(data);
  return s;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// Printable form of bytes for failure messages.
std::string show(std::string_view s) {
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

struct Got {
  char cmd;
  std::string data;
};

// Drains every complete packet; *err gets the error message if one comes.
std::vector<Got> drain(Framer& f, std::string* err = nullptr) {
  std::vector<Got> out;
  for (int guard = 0; guard < 1000; ++guard) {
    auto n = f.next();
    if (!n) {
      if (err) *err = n.error().message;
      break;
    }
    if (!n.value()) break;
    out.push_back({n.value()->cmd, std::string(n.value()->data)});
  }
  return out;
}

// ------------------------------------------------------------------ Framer

TEST(MilterFramer, PacketSplitAcrossFeeds) {
  const std::string p = packet(kHeader, "Subject\0 hi\0"s);
  // Every split point, including inside the length field.
  for (std::size_t cut = 0; cut <= p.size(); ++cut) {
    SCOPED_TRACE("split at " + std::to_string(cut));
    Framer f(kMinMaxPacket);
    f.feed(std::string_view(p).substr(0, cut));
    auto first = drain(f);
    if (cut < p.size()) {
      EXPECT_TRUE(first.empty()) << "got a packet from " << cut << " of " << p.size()
                                 << " bytes, want none yet";
    }
    f.feed(std::string_view(p).substr(cut));
    auto rest = drain(f);
    first.insert(first.end(), rest.begin(), rest.end());
    ASSERT_EQ(first.size(), 1u) << "got " << first.size() << " packets, want 1";
    EXPECT_EQ(first[0].cmd, kHeader);
    EXPECT_EQ(first[0].data, "Subject\0 hi\0"s) << "got " << show(first[0].data);
    EXPECT_EQ(f.buffered(), 0u) << "got " << f.buffered() << " bytes left, want 0";
  }
}

TEST(MilterFramer, ByteByByte) {
  const std::string stream = packet(kOptneg, be32(6) + be32(0x1ff) + be32(0x1fffff)) +
                             packet(kMacro, "C{daemon_name}\0mx\0"s) + packet(kAbort, "");
  Framer f(kMinMaxPacket);
  std::vector<Got> got;
  for (char c : stream) {
    f.feed(std::string_view(&c, 1));
    auto g = drain(f);
    got.insert(got.end(), g.begin(), g.end());
  }
  ASSERT_EQ(got.size(), 3u) << "got " << got.size() << " packets, want 3";
  EXPECT_EQ(got[0].cmd, kOptneg);
  EXPECT_EQ(got[0].data.size(), 12u);
  EXPECT_EQ(got[1].cmd, kMacro);
  EXPECT_EQ(got[2].cmd, kAbort);
  EXPECT_EQ(got[2].data, "");
}

TEST(MilterFramer, SeveralPacketsInOneFeed) {
  const std::string stream = packet(kMail, "<a@example.com>\0"s) + packet(kRcpt, "<b@example.org>\0"s) +
                             packet(kEoh, "") + packet(kBody, "hello\r\n") +
                             packet(kBodyEob, "");
  Framer f(kMinMaxPacket);
  f.feed(stream + "\0\0"s);  // and the start of a sixth one
  auto got = drain(f);
  struct Want {
    char cmd;
    std::string data;
  };
  const Want want[] = {{kMail, "<a@example.com>\0"s},
                       {kRcpt, "<b@example.org>\0"s},
                       {kEoh, ""},
                       {kBody, "hello\r\n"},
                       {kBodyEob, ""}};
  ASSERT_EQ(got.size(), std::size(want)) << "got " << got.size() << " packets";
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].cmd, want[i].cmd) << "packet " << i << ": got '" << got[i].cmd << "', want '"
                                       << want[i].cmd << "'";
    EXPECT_EQ(got[i].data, want[i].data) << "packet " << i << ": got " << show(got[i].data);
  }
  EXPECT_EQ(f.buffered(), 2u) << "got " << f.buffered() << " bytes left, want 2";
}

TEST(MilterFramer, LengthLimits) {
  constexpr std::uint32_t kMax = 100;
  struct Case {
    std::string name;
    std::uint32_t len;  // the length field
    bool error;
  };
  const Case cases[] = {
      {"zero length", 0, true},
      {"one byte (command only)", 1, false},
      {"exactly at the limit", kMax, false},
      {"one above the limit", kMax + 1, true},
      {"far above the limit", 0x7fffffff, true},
      {"all ones", 0xffffffff, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Framer f(kMax);
    // Only the length and the command byte: an over-limit length must fail
    // at once, without waiting for (or buffering) its data.
    f.feed(be32(c.len) + "B");
    auto n = f.next();
    if (c.error) {
      EXPECT_FALSE(n) << "got no error for length " << c.len << ", want one";
      if (!n) {
        EXPECT_EQ(n.error().kind, ErrorKind::Protocol);
      }
      // The stream cannot be resynchronised: the error stays.
      auto again = f.next();
      EXPECT_FALSE(again) << "got no error on the second next(), want the same error";
      continue;
    }
    ASSERT_TRUE(n) << "got error " << n.error().message << ", want none";
    if (c.len == 1) {
      ASSERT_TRUE(n.value()) << "got no packet, want the 1-byte one";
      EXPECT_EQ(n.value()->cmd, 'B');
      EXPECT_TRUE(n.value()->data.empty());
      continue;
    }
    EXPECT_FALSE(n.value()) << "got a packet before its data arrived";
    f.feed(std::string(c.len - 1, 'x'));
    auto full = f.next();
    ASSERT_TRUE(full) << "got error " << full.error().message;
    ASSERT_TRUE(full.value()) << "got no packet with all " << c.len << " bytes in";
    EXPECT_EQ(full.value()->data.size(), c.len - 1);
  }
}

TEST(MilterFramer, ErrorAfterGoodPackets) {
  Framer f(kMinMaxPacket);
  f.feed(packet(kAbort, "") + be32(0) + "junk");
  std::string err;
  auto got = drain(f, &err);
  ASSERT_EQ(got.size(), 1u) << "got " << got.size() << " packets before the bad one, want 1";
  EXPECT_EQ(got[0].cmd, kAbort);
  EXPECT_NE(err.find("length 0"), std::string::npos) << "got error '" << err << "'";
}

TEST(MilterFramer, ManyPacketsOverTimeDoNotAccumulate) {
  // The consumed prefix is dropped on feed(): after many packets the buffer
  // holds only what is pending.
  Framer f(kMinMaxPacket);
  const std::string body(1000, 'b');
  for (int i = 0; i < 500; ++i) {
    f.feed(packet(kBody, body));
    auto got = drain(f);
    ASSERT_EQ(got.size(), 1u) << "round " << i;
    ASSERT_EQ(got[0].data.size(), body.size());
  }
  EXPECT_EQ(f.buffered(), 0u);
}

// ------------------------------------------------------------------ OPTNEG

TEST(MilterOptneg, Decode) {
  struct Case {
    std::string name;
    std::string data;
    bool ok;
    Optneg want;
  };
  const Case cases[] = {
      {"version 6", be32(6) + be32(0x1ff) + be32(0x1fffff), true, {6, 0x1ff, 0x1fffff}},
      {"version 2", be32(2) + be32(0x3f) + be32(0x7f), true, {2, 0x3f, 0x7f}},
      // Sendmail 8.14 may append more; only the first 12 bytes count.
      {"trailing bytes", be32(6) + be32(1) + be32(2) + "xx", true, {6, 1, 2}},
      {"high bits", be32(0x80000006) + be32(0xffffffff) + be32(0x80000000), true,
       {0x80000006, 0xffffffff, 0x80000000}},
      {"empty", "", false, {}},
      {"short by one", be32(6) + be32(0x1ff) + "\0\0\0"s, false, {}},
      {"version only", be32(6), false, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto o = decode_optneg(c.data);
    ASSERT_EQ(o.ok(), c.ok) << "got ok=" << o.ok() << ", want " << c.ok;
    if (!c.ok) {
      EXPECT_EQ(o.error().kind, ErrorKind::Protocol);
      continue;
    }
    EXPECT_EQ(o->version, c.want.version) << "got version " << o->version;
    EXPECT_EQ(o->actions, c.want.actions) << "got actions " << o->actions;
    EXPECT_EQ(o->protocol, c.want.protocol) << "got protocol " << o->protocol;
  }
}

TEST(MilterOptneg, EncodeLayout) {
  const std::string got = encode_optneg({6, kAddHdrs | kChgHdrs | kQuarantineAct, kNrHdr | kHdrLeadSpc});
  const std::string want = "\x00\x00\x00\x0d"s + "O" + "\x00\x00\x00\x06"s + "\x00\x00\x00\x31"s +
                           "\x00\x10\x00\x80"s;
  EXPECT_EQ(got, want) << "got " << show(got) << ", want " << show(want);
  // And it decodes back.
  auto back = decode_optneg(std::string_view(got).substr(5));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, 6u);
  EXPECT_EQ(back->actions, kAddHdrs | kChgHdrs | kQuarantineAct);
  EXPECT_EQ(back->protocol, kNrHdr | kHdrLeadSpc);
}

// Version 6 appends per-stage macro lists: stage (32 bits), names, NUL.
TEST(MilterOptneg, EncodeMacroLists) {
  const std::string got = encode_optneg({6, kAddHdrs, 0}, {{6, ""}, {5, "i"}});
  const std::string want = "\x00\x00\x00\x18"s + "O" + "\x00\x00\x00\x06"s + "\x00\x00\x00\x01"s +
                           "\x00\x00\x00\x00"s + "\x00\x00\x00\x06"s + "\x00"s +
                           "\x00\x00\x00\x05"s + "i\x00"s;
  EXPECT_EQ(got, want) << "got " << show(got) << ", want " << show(want);
}

TEST(MilterConstants, MatchLibmilter) {
  // mfdef.h values: a wrong one is a silent protocol mismatch.
  EXPECT_EQ(kHdrLeadSpc, 0x100000u);
  EXPECT_EQ(kNrHdr, 0x80u);
  EXPECT_EQ(kNrBody, 0x80000u);
  EXPECT_EQ(kNoUnknown, 0x100u);
  EXPECT_EQ(kNoData, 0x200u);
  EXPECT_EQ(kQuarantineAct, 0x20u);
  EXPECT_EQ(kDelRcptAct, 0x08u);
  EXPECT_EQ(kInsHeader, 'i');
  EXPECT_EQ(kChgHeader, 'm');
  EXPECT_EQ(kReplyCode, 'y');
  EXPECT_EQ(kBodyEob, 'E');
  EXPECT_EQ(kQuitNc, 'K');
}

// ----------------------------------------------------------------- CONNECT

TEST(MilterConnect, Decode) {
  struct Case {
    std::string name;
    std::string data;
    bool ok;
    std::string hostname;
    char family;
    std::uint16_t port;
    std::string address;
  };
  const std::string p25 = "\x00\x19"s;    // 25
  const std::string p5000 = "\x13\x88"s;  // 5000
  const std::string phigh = "\xff\xfe"s;  // 65534: the sign bit must not leak
  const Case cases[] = {
      {"IPv4", "mx.example\0"s + "4" + p25 + "192.0.2.1\0"s, true, "mx.example", '4', 25,
       "192.0.2.1"},
      {"IPv4 high port", "h\0"s + "4" + phigh + "192.0.2.1\0"s, true, "h", '4', 65534, "192.0.2.1"},
      {"IPv6 with IPv6: prefix", "[2001:db8::1]\0"s + "6" + p5000 + "IPv6:2001:db8::1\0"s, true,
       "[2001:db8::1]", '6', 5000, "2001:db8::1"},
      {"IPv6 prefix in lower case", "h\0"s + "6" + p25 + "ipv6:::1\0"s, true, "h", '6', 25, "::1"},
      {"IPv6 without prefix", "h\0"s + "6" + p25 + "2001:db8::2\0"s, true, "h", '6', 25,
       "2001:db8::2"},
      {"IPv4 address without final NUL", "h\0"s + "4" + p25 + "192.0.2.9", true, "h", '4', 25,
       "192.0.2.9"},
      {"Unix socket", "localhost\0"s + "L" + "\0\0"s + "/run/x.sock\0"s, true, "localhost", 'L', 0,
       "/run/x.sock"},
      {"unknown family", "unknown\0"s + "U", true, "unknown", 'U', 0, ""},
      {"unknown family with junk after", "unknown\0"s + "Uxyz", true, "unknown", 'U', 0, ""},
      {"no family at all", "host.example\0"s, true, "host.example", 'U', 0, ""},
      {"missing port", "h\0"s + "4", false, "", 0, 0, ""},
      {"half a port", "h\0"s + "4" + "\x00"s, false, "", 0, 0, ""},
      {"bad family", "h\0"s + "X" + p25 + "192.0.2.1\0"s, false, "", 0, 0, ""},
      {"bad family, control byte", "h\0"s + "\x01" + p25, false, "", 0, 0, ""},
      {"no NUL after the host name", "mx.example", false, "", 0, 0, ""},
      {"empty", "", false, "", 0, 0, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = decode_connect(c.data);
    ASSERT_EQ(r.ok(), c.ok) << "got ok=" << r.ok() << ", want " << c.ok
                            << (r ? "" : " (" + r.error().message + ")");
    if (!c.ok) {
      EXPECT_EQ(r.error().kind, ErrorKind::Protocol);
      continue;
    }
    EXPECT_EQ(r->hostname, c.hostname);
    EXPECT_EQ(r->family, c.family) << "got family '" << r->family << "'";
    EXPECT_EQ(r->port, c.port) << "got port " << r->port;
    EXPECT_EQ(r->address, c.address) << "got address '" << r->address << "'";
  }
}

// ------------------------------------------------------------- split_strings

TEST(MilterSplitStrings, Cases) {
  struct Case {
    std::string in;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"", {}},
      {"\0"s, {""}},
      {"<a@b>\0"s, {"<a@b>"}},
      {"<a@b>\0SIZE=10\0BODY=8BITMIME\0"s, {"<a@b>", "SIZE=10", "BODY=8BITMIME"}},
      {"<a@b>\0SIZE=10"s, {"<a@b>", "SIZE=10"}},  // last string without NUL
      {"a\0\0b\0"s, {"a", "", "b"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(show(c.in));
    auto got = split_strings(c.in);
    std::vector<std::string> g(got.begin(), got.end());
    EXPECT_EQ(g, c.want) << "got " << g.size() << " strings, want " << c.want.size();
  }
}

// ------------------------------------------------------------------ MACRO

TEST(MilterMacros, Decode) {
  struct Case {
    std::string name;
    std::string data;
    bool ok;
    char for_cmd;
    std::vector<std::pair<std::string, std::string>> want;
  };
  const Case cases[] = {
      {"braces stripped", "M{auth_authen}\0alice\0i\0004XyZ\0"s, true, 'M',
       {{"auth_authen", "alice"}, {"i", "4XyZ"}}},
      {"single-letter names unchanged", "Cj\0mx.example\0_\0client [192.0.2.1]\0"s, true, 'C',
       {{"j", "mx.example"}, {"_", "client [192.0.2.1]"}}},
      {"one brace only: kept", "C{daemon_name\0x\0daemon_addr}\0y\0"s, true, 'C',
       {{"{daemon_name", "x"}, {"daemon_addr}", "y"}}},
      {"empty braces", "C{}\0v\0"s, true, 'C', {{"", "v"}}},
      {"empty value", "R{rcpt_addr}\0\0"s, true, 'R', {{"rcpt_addr", ""}}},
      {"name without value dropped", "Mi\0ABC\0{auth_type}\0"s, true, 'M', {{"i", "ABC"}}},
      {"command only", "T", true, 'T', {}},
      {"empty", "", false, 0, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto m = decode_macros(c.data);
    ASSERT_EQ(m.ok(), c.ok) << "got ok=" << m.ok() << ", want " << c.ok;
    if (!c.ok) continue;
    EXPECT_EQ(m->for_cmd, c.for_cmd) << "got for_cmd '" << m->for_cmd << "'";
    EXPECT_EQ(m->values, c.want) << "got " << m->values.size() << " macros, want " << c.want.size();
  }
}

// ------------------------------------------------------------------ HEADER

TEST(MilterHeader, Decode) {
  struct Case {
    std::string name;
    std::string data;
    bool ok;
    std::string hname;
    std::string value;
  };
  const Case cases[] = {
      {"with leading space (SMFIP_HDR_LEADSPC)", "Subject\0 hi there\0"s, true, "Subject",
       " hi there"},
      {"leading tab and spaces kept", "X-T\0\t  a  \0"s, true, "X-T", "\t  a  "},
      {"folded value", "Received\0 from a\n\tby b\0"s, true, "Received", " from a\n\tby b"},
      {"empty value", "X-Empty\0\0"s, true, "X-Empty", ""},
      {"value without final NUL", "Subject\0hi"s, true, "Subject", "hi"},
      {"name only with NUL", "Subject\0"s, true, "Subject", ""},
      {"no NUL after the name", "Subject", false, "", ""},
      {"empty name", "\0value\0"s, false, "", ""},
      {"empty", "", false, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto h = decode_header(c.data);
    ASSERT_EQ(h.ok(), c.ok) << "got ok=" << h.ok() << ", want " << c.ok;
    if (!c.ok) {
      EXPECT_EQ(h.error().kind, ErrorKind::Protocol);
      continue;
    }
    EXPECT_EQ(h->name, c.hname) << "got name '" << show(h->name) << "'";
    EXPECT_EQ(h->value, c.value) << "got value '" << show(h->value) << "'";
  }
}

// ------------------------------------------------------------- split_field

TEST(MilterSplitField, Cases) {
  struct Case {
    std::string name;
    std::string field;
    bool leadspc;
    std::string want_name;
    std::string want_value;
  };
  const Case cases[] = {
      {"leadspc: the space stays", "X-Sigil: yes\r\n", true, "X-Sigil", " yes"},
      {"no leadspc: one space dropped", "X-Sigil: yes\r\n", false, "X-Sigil", "yes"},
      {"no leadspc: only one space dropped", "X-S:   three\r\n", false, "X-S", "  three"},
      {"no leadspc: a tab is not dropped", "X-S:\tt\r\n", false, "X-S", "\tt"},
      {"leadspc: no space at all", "X-S:v\r\n", true, "X-S", "v"},
      {"folded CRLF becomes LF",
       "DKIM-Signature: v=1; a=rsa-sha256;\r\n\td=example.com; s=s1;\r\n\tb=AbC\r\n", true,
       "DKIM-Signature", " v=1; a=rsa-sha256;\n\td=example.com; s=s1;\n\tb=AbC"},
      {"folded, no leadspc",
       "Authentication-Results: mx.example;\r\n\tdkim=pass header.d=example.org\r\n", false,
       "Authentication-Results", "mx.example;\n\tdkim=pass header.d=example.org"},
      {"obsolete 'Name :'", "Subject :  hi\r\n", true, "Subject", "  hi"},
      {"obsolete 'Name\\t:'", "Subject\t: hi\r\n", false, "Subject", "hi"},
      {"bare LF end", "X-A: b\n", true, "X-A", " b"},
      {"no line end", "X-A: b", true, "X-A", " b"},
      {"empty value", "X-A:\r\n", false, "X-A", ""},
      {"colon in the value", "X-A: a:b\r\n", true, "X-A", " a:b"},
      {"bare CR kept", "X-A: a\rb\r\n", true, "X-A", " a\rb"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto [n, v] = split_field(c.field, c.leadspc);
    EXPECT_EQ(n, c.want_name) << "got name '" << show(n) << "'";
    EXPECT_EQ(v, c.want_value) << "got value '" << show(v) << "', want '" << show(c.want_value)
                               << "'";
  }
}

// ------------------------------------------------------------------ replies

TEST(MilterEncode, Layout) {
  struct Case {
    std::string name;
    std::string got;
    std::string want;
  };
  const Case cases[] = {
      {"continue", encode(kContinue), "\x00\x00\x00\x01"s + "c"},
      {"discard", encode(kDiscard), "\x00\x00\x00\x01"s + "d"},
      {"with data", encode(kProgress, "ab"), "\x00\x00\x00\x03"s + "pab"},
      {"256 bytes of data", encode(kReplBody, std::string(256, 'z')),
       "\x00\x00\x01\x01"s + "b" + std::string(256, 'z')},
      {"add_header", add_header("X-A", " v"), "\x00\x00\x00\x08"s + "hX-A\0 v\0"s},
      {"insert_header at 0", insert_header(0, "DKIM-Signature", " v=1"),
       "\x00\x00\x00\x19"s + "i" + "\x00\x00\x00\x00"s + "DKIM-Signature\0 v=1\0"s},
      {"insert_header at 258", insert_header(258, "X", "y"),
       "\x00\x00\x00\x09"s + "i" + "\x00\x00\x01\x02"s + "X\0y\0"s},
      {"change_header delete", change_header(2, "Authentication-Results", ""),
       "\x00\x00\x00\x1d"s + "m" + "\x00\x00\x00\x02"s + "Authentication-Results\0\0"s},
      {"quarantine", quarantine("banned\r\nx"), "\x00\x00\x00\x0b"s + "qbanned  x\0"s},
      {"quarantine with NUL", quarantine("a\0b"s), "\x00\x00\x00\x05"s + "qa b\0"s},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.got, c.want) << "got " << show(c.got) << ", want " << show(c.want);
  }
}

TEST(MilterReplyCode, Text) {
  struct Case {
    std::string name;
    int code;
    std::string enhanced;
    std::string text;
    std::string want_data;  // without the final NUL
  };
  const Case cases[] = {
      {"plain", 554, "5.7.1", "ABC Rejected: banned", "554 5.7.1 ABC Rejected: banned"},
      {"no enhanced code", 451, "", "later", "451 later"},
      {"percent doubled", 554, "5.7.1", "100% spam", "554 5.7.1 100%% spam"},
      {"two percents", 451, "4.7.1", "%%", "451 4.7.1 %%%%"},
      {"CR and LF replaced", 554, "5.7.1", "line1\r\nline2\nx\ry", "554 5.7.1 line1  line2 x y"},
      {"NUL replaced", 451, "4.3.0", "a\0b"s, "451 4.3.0 a b"},
      {"empty text", 452, "4.5.3", "", "452 4.5.3 "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string got = reply_code(c.code, c.enhanced, c.text);
    std::string want = packet(kReplyCode, c.want_data + '\0');
    EXPECT_EQ(got, want) << "got " << show(got) << ", want " << show(want);
  }
}

TEST(MilterDelRcpt, Brackets) {
  struct Case {
    std::string addr;
    std::string want;  // the data, without the final NUL
  };
  const Case cases[] = {
      {"b@example.org", "<b@example.org>"},
      {"<b@example.org>", "<b@example.org>"},
      {"", "<>"},
      {"<>", "<>"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.addr);
    std::string got = del_rcpt(c.addr);
    std::string want = packet(kDelRcpt, c.want + '\0');
    EXPECT_EQ(got, want) << "got " << show(got) << ", want " << show(want);
  }
}

// Replies go through the same framer as commands: what we encode, a peer
// splits back into the same packets.
TEST(MilterEncode, RoundTripThroughFramer) {
  const std::string stream = insert_header(0, "A", " 1") + change_header(1, "B", "") +
                             reply_code(554, "5.7.1", "no") + encode(kContinue);
  Framer f(kMinMaxPacket);
  f.feed(stream);
  auto got = drain(f);
  ASSERT_EQ(got.size(), 4u) << "got " << got.size() << " packets";
  EXPECT_EQ(got[0].cmd, kInsHeader);
  EXPECT_EQ(got[0].data, "\0\0\0\0A\0 1\0"s) << "got " << show(got[0].data);
  EXPECT_EQ(got[1].cmd, kChgHeader);
  EXPECT_EQ(got[2].cmd, kReplyCode);
  EXPECT_EQ(got[2].data, "554 5.7.1 no\0"s);
  EXPECT_EQ(got[3].cmd, kContinue);
}

}  // namespace
}  // namespace sigil::filter::milter
