// tests/fuzz/fuzz_rspamd_reply.cpp — rspamd's HTTP reply to /checkv2
// (filter/stages/spam_protocol: http_reply_complete, parse_rspamd_reply;
// the JSON through Boost.JSON).
// Properties: a reply that parses has finite scores, a forced score below
// the score, and tests sorted by name and named; a refused one says why.
#include <algorithm>
#include <cmath>

#include "filter/stages/spam_protocol.hpp"
#include "filter/stages/spam_stage.hpp"
#include "fuzz_check.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::as_text(data, size);
  (void)filter::spam::http_reply_complete(in);
  auto r = filter::parse_rspamd_reply(in);
  if (!r.ok()) {
    FUZZ_CHECK(!r.error().message.empty());
    return 0;
  }
  const auto& s = r.value();
  FUZZ_CHECK(std::isfinite(s.score) && std::isfinite(s.threshold));
  if (s.forced_from) FUZZ_CHECK(*s.forced_from < s.score);
  FUZZ_CHECK(std::is_sorted(s.tests.begin(), s.tests.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; }));
  for (const auto& [name, score] : s.tests) FUZZ_CHECK(!name.empty());
  return 0;
}
