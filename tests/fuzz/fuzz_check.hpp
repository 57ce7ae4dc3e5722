// tests/fuzz/fuzz_check.hpp — what every fuzz target shares: the input as a
// string_view, and FUZZ_CHECK, a property check that aborts (so libFuzzer
// records the input as a crash) whatever the build type.
// Does not: generate inputs (FuzzedDataProvider, clang's, does that).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace sigil::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// No byte below 0x20 (except HT when `tab`) and no DEL.
inline bool printable(std::string_view s, bool tab = false) {
  for (unsigned char c : s)
    if ((c < 0x20 && !(tab && c == '\t')) || c == 0x7f) return false;
  return true;
}

}  // namespace sigil::fuzz
