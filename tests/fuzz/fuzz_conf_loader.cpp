// tests/fuzz/fuzz_conf_loader.cpp — the TOML configuration loader
// (conf/config: load_string, toml++ and every section's checks).
// Properties: a refused configuration says why, naming the source; one
// that loads has at least one listener and every bank it names exists.
// Reads no file: key files are checked by keys/, not by the loader.
#include <string>

#include "conf/config.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = sigil::conf::load_string(sigil::fuzz::as_text(data, size), "fuzz.toml");
  if (!r.ok()) {
    FUZZ_CHECK(r.error().message.find("fuzz.toml") != std::string::npos);
    return 0;
  }
  const auto& c = r.value();
  FUZZ_CHECK(!c.listeners.empty());
  for (const auto& l : c.listeners) FUZZ_CHECK(c.banks.contains(l.bank));
  return 0;
}
