// tests/fuzz/fuzz_milter_protocol.cpp — milter packet decoding
// (filter/milter/milter_protocol): the framer on a byte stream (fed in two
// pieces), then every command decoder on each packet's data.
// Properties: no packet is longer than the framer's maximum; a packet
// encoded again and framed gives back the same command and data; the
// strings of split_strings hold no NUL; a macro is its name (one pair of
// braces taken off) and its value, in order.
#include <string>

#include "filter/milter/milter_protocol.hpp"
#include "fuzz_check.hpp"

namespace milter = sigil::filter::milter;

namespace {

constexpr std::uint32_t kMaxPacket = 512;

void decode(const milter::Packet& p) {
  (void)milter::decode_optneg(p.data);
  (void)milter::decode_connect(p.data);
  (void)milter::decode_header(p.data);
  if (auto m = milter::decode_macros(p.data); m.ok()) {
    const auto raw = milter::split_strings(p.data.substr(1));
    FUZZ_CHECK(m.value().values.size() == raw.size() / 2);
    for (std::size_t i = 0; i < m.value().values.size(); ++i) {
      std::string_view name = raw[2 * i];
      if (name.size() >= 2 && name.front() == '{' && name.back() == '}')
        name = name.substr(1, name.size() - 2);
      FUZZ_CHECK(m.value().values[i].first == name && m.value().values[i].second == raw[2 * i + 1]);
    }
  }
  for (auto s : milter::split_strings(p.data)) FUZZ_CHECK(s.find('\0') == std::string_view::npos);
  (void)milter::split_field(p.data, p.cmd & 1);
}

void round_trip(const milter::Packet& p) {
  milter::Framer f(kMaxPacket);
  f.feed(milter::encode(p.cmd, p.data));
  auto again = f.next();
  FUZZ_CHECK(again.ok() && again.value() && again.value()->cmd == p.cmd &&
             again.value()->data == p.data && f.buffered() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = sigil::fuzz::as_text(data, size);
  milter::Framer framer(kMaxPacket);
  const std::size_t half = in.size() / 2;
  framer.feed(in.substr(0, half));
  bool fed_all = false;
  for (;;) {
    auto next = framer.next();
    if (!next.ok()) break;  // the connection would be closed
    if (!next.value()) {
      if (fed_all) break;
      framer.feed(in.substr(half));
      fed_all = true;
      continue;
    }
    const milter::Packet p = *next.value();
    FUZZ_CHECK(p.data.size() + 1 <= kMaxPacket);
    decode(p);
    round_trip(p);
  }
  return 0;
}
