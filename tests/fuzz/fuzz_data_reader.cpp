// tests/fuzz/fuzz_data_reader.cpp — the DATA phase byte stream
// (filter/smtp/data_reader): dot-unstuffing, the end marker, bare CR/LF,
// the size limit (a small one, so it is hit).
// Properties: the reading (end, bare CR/LF, size) is the same however the
// input is cut into pieces, and so is the output within the limit; past it
// what is stored is a prefix of the whole output (a piece that crosses the
// limit is not stored: the message is refused anyway); what is stored never
// exceeds the limit; without bare_newline() every CR and LF of the output
// is part of a CRLF; and a message without bare CR/LF ending in CRLF,
// dot-stuffed and terminated, reads back as itself.
#include <cstdint>
#include <string>

#include "filter/smtp/data_reader.hpp"
#include "fuzz_check.hpp"

using sigil::filter::DataReader;

namespace {

constexpr std::uint64_t kMax = 256;

struct Read {
  std::string out;
  std::size_t consumed = 0;
  bool done = false, too_big = false, bare = false;
  std::uint64_t size = 0;
};

// Feeds `in` in pieces of `piece` bytes (the whole at once for 0).
Read read(std::string_view in, std::size_t piece, std::uint64_t max) {
  DataReader r(max);
  Read o;
  while (o.consumed < in.size() && !o.done) {
    std::size_t n = in.size() - o.consumed;
    if (piece && n > piece) n = piece;
    auto step = r.feed(in.data() + o.consumed, n, o.out);
    FUZZ_CHECK(step.consumed <= n);
    FUZZ_CHECK(step.consumed == n || step.done);
    o.consumed += step.consumed;
    o.done = step.done;
  }
  o.too_big = r.too_big();
  o.bare = r.bare_newline();
  o.size = r.size();
  return o;
}

bool canonical(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

std::string stuffed(std::string_view msg) {
  std::string o;
  bool line_start = true;
  for (char c : msg) {
    if (line_start && c == '.') o += '.';
    o += c;
    line_start = c == '\n';
  }
  return o + ".\r\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = sigil::fuzz::as_text(data, size);
  const Read unlimited = read(in, 0, UINT64_MAX);
  if (!unlimited.bare) FUZZ_CHECK(canonical(unlimited.out));
  FUZZ_CHECK(unlimited.out.size() == unlimited.size);
  for (std::size_t piece : {0, 1, 2, 3, 7}) {
    const Read cut = read(in, piece, kMax);
    FUZZ_CHECK(cut.consumed == unlimited.consumed && cut.done == unlimited.done &&
               cut.bare == unlimited.bare && cut.size == unlimited.size);
    FUZZ_CHECK(cut.too_big == (cut.size > kMax) && cut.out.size() <= kMax);
    FUZZ_CHECK(cut.too_big ? unlimited.out.starts_with(cut.out) : cut.out == unlimited.out);
  }
  // Round trip: the input as a message.
  if (canonical(in) && (in.empty() || in.ends_with("\r\n"))) {
    const Read back = read(stuffed(in), 0, in.size() + 1);
    FUZZ_CHECK(back.done && !back.bare && !back.too_big && back.out == in);
  }
  return 0;
}
