// tests/dns/wire_test.cpp — the DNS wire format alone (dns/wire): reading
// replies built here byte by byte (pure: no sockets).  The resolver's own
// tests (resolver_test.cpp) send the same kinds of replies over the network.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dns/wire.hpp"

namespace conf = sigil::conf;
using namespace sigil::dns;

namespace {

using Bytes = std::vector<std::uint8_t>;
const std::string kName = "s1._domainkey.example.com";
constexpr std::uint16_t kId = 0x1234;

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xff));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
void put_name(Bytes& b, const std::string& n) {
  std::size_t start = 0;
  while (start <= n.size()) {
    auto dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    b.insert(b.end(), n.begin() + start, n.begin() + dot);
    start = dot + 1;
  }
  b.push_back(0);
}

// A reply with our question and `answers` TXT records for the name (each
// one character-string), rcode and TC as given.
Bytes reply(std::uint16_t id, unsigned rcode, std::vector<std::string> answers, bool tc = false,
            std::uint32_t ttl = 300) {
  Bytes b;
  put16(b, id);
  put16(b, 0x8180 | rcode | (tc ? 0x200 : 0));
  put16(b, 1);
  put16(b, answers.size());
  put16(b, 0);
  put16(b, 0);
  put_name(b, kName);
  put16(b, 16);
  put16(b, 1);
  for (const auto& a : answers) {
    put16(b, 0xc00c);  // the question's name
    put16(b, 16);
    put16(b, 1);
    put32(b, ttl);
    put16(b, a.size() + 1);
    b.push_back(static_cast<std::uint8_t>(a.size()));
    b.insert(b.end(), a.begin(), a.end());
  }
  return b;
}

Reply read(const Bytes& b, const conf::DnsConfig& cfg = {}) {
  return read_reply(b.data(), b.size(), kId, kName, "192.0.2.53:53", cfg);
}

}  // namespace

TEST(DnsWire, ReadsTxtRecordsWithTheirTtlCapped) {
  conf::DnsConfig cfg;
  cfg.max_ttl = std::chrono::seconds(100);
  Reply r = read(reply(kId, 0, {"v=DKIM1; p=abc", "second"}), cfg);
  ASSERT_EQ(r.kind, Reply::Kind::Read);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.answer.status, Status::Ok);
  EXPECT_EQ(r.answer.records, (std::vector<std::string>{"v=DKIM1; p=abc", "second"}));
  EXPECT_EQ(r.answer.ttl, 100u);
}

TEST(DnsWire, RcodesAndNodata) {
  EXPECT_EQ(read(reply(kId, 3, {})).answer.status, Status::NotFound);  // NXDOMAIN
  EXPECT_EQ(read(reply(kId, 0, {})).answer.status, Status::NotFound);  // NODATA
  EXPECT_EQ(read(reply(kId, 2, {})).answer.status, Status::Retry);     // SERVFAIL
  EXPECT_EQ(read(reply(kId, 4, {})).answer.status, Status::Fail);      // NOTIMP
}

TEST(DnsWire, AnotherIdOrQuestionIsAMismatchAndGarbageIsMalformed) {
  EXPECT_EQ(read(reply(kId + 1, 0, {"x"})).kind, Reply::Kind::Mismatch);
  Bytes other = reply(kId, 0, {"x"});
  other[13] = 't';  // "s1" → "t1" in the question
  EXPECT_EQ(read(other).kind, Reply::Kind::Mismatch);
  Bytes cut = reply(kId, 0, {"x"});
  cut.resize(cut.size() - 3);
  EXPECT_EQ(read(cut).kind, Reply::Kind::Malformed);
  EXPECT_EQ(read(Bytes{0x12}).kind, Reply::Kind::Malformed);
}

TEST(DnsWire, TruncatedIsSaid) {
  Reply r = read(reply(kId, 0, {}, true));
  ASSERT_EQ(r.kind, Reply::Kind::Read);
  EXPECT_TRUE(r.truncated);
}

TEST(DnsWire, QueryCarriesTheIdAndTheName) {
  auto q = build_query(kName, kId);
  ASSERT_TRUE(q);
  EXPECT_EQ((*q)[0], 0x12);
  EXPECT_EQ((*q)[1], 0x34);
  EXPECT_EQ(std::string(q->begin() + 13, q->begin() + 15), "s1");
}
