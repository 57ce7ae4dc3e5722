// tests/fuzz/fuzz_spamd_reply.cpp — spamd's SPAMC/1.5 reply
// (filter/stages/spam_protocol: parse_spamd_reply), as REPORT and as
// SYMBOLS.
// Properties: a parsed score and threshold are finite numbers; the tests
// are sorted by name and named; a refused reply says why.
#include <algorithm>
#include <cmath>

#include "filter/stages/spam_stage.hpp"
#include "fuzz_check.hpp"

using namespace sigil;

namespace {

void check(const Result<filter::SpamReply>& r) {
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().message.empty());
    return;
  }
  const auto& s = r.value();
  FUZZ_CHECK(std::isfinite(s.score) && std::isfinite(s.threshold));
  FUZZ_CHECK(std::is_sorted(s.tests.begin(), s.tests.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; }));
  for (const auto& [name, score] : s.tests) FUZZ_CHECK(!name.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::as_text(data, size);
  check(filter::parse_spamd_reply(in, conf::SpamConfig::Command::Report));
  check(filter::parse_spamd_reply(in, conf::SpamConfig::Command::Symbols));
  return 0;
}
