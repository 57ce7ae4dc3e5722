// tests/fuzz/fuzz_mime_walker.cpp — the MIME and archive walk
// (filter/stages/decode/walker: GMime, libarchive, libmagic) with small
// limits, so the fuzzer reaches them: 3 levels, 12 parts, a 16 KiB quota.
// The first byte chooses whether the message is spooled to a file (as a
// message past memory_threshold is) or held in memory.
// Properties: no part deeper than max_depth, at most max_parts parts, an
// incomplete walk says why in an `unchecked` finding, every finding is the
// decode stage's, and the walk leaves nothing in its temporary directory.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "filter/core/message_store.hpp"
#include "filter/stages/decode/walker.hpp"
#include "fuzz_check.hpp"

using namespace sigil;
using namespace sigil::filter;

namespace {

std::string make_dir() {
  char tmpl[] = "/tmp/sigil-fuzz-walker.XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

const std::string& base_dir() {
  static const std::string dir = make_dir();
  return dir;
}

bool empty_dir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* e = readdir(d))
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") empty = false;
  closedir(d);
  return empty;
}

conf::DecodeConfig small_limits() {
  conf::DecodeConfig c;
  c.max_depth = 3;
  c.max_parts = 12;
  c.min_expansion_quota = 16 * 1024;
  c.min_expansion_factor = 2;
  c.max_expansion_quota = 64 * 1024;
  c.max_expansion_factor = 4;
  c.temp_dir = base_dir();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const conf::DecodeConfig cfg = small_limits();
  const bool spool = data[0] & 1;
  MessageStore m(spool ? 0 : 1 << 20, base_dir(), 64 * 1024);
  if (!m.append(fuzz::as_text(data + 1, size - 1)).ok() || !m.finish().ok()) return 0;
  DecodeResult r;
  decode::walk_message(m, cfg, std::nullopt, r);

  FUZZ_CHECK(r.parts.size() <= cfg.max_parts);
  bool unchecked = false;
  for (const auto& f : r.findings) {
    FUZZ_CHECK(f.stage == "decode" && !f.reason.empty());
    unchecked = unchecked || f.category == conf::Category::Unchecked;
  }
  FUZZ_CHECK(r.complete || unchecked);
  for (const auto& p : r.parts) FUZZ_CHECK(p.depth <= cfg.max_depth);
  FUZZ_CHECK(empty_dir(base_dir()));
  return 0;
}
