// tests/fuzz/fuzz_rotate_config_edit.cpp — the configuration text edit of
// `sigil keys rotate` (filter/app/rotate_config_edit: add_successor_block),
// on an admin's configuration text.  The key to rotate is the first
// [[key]] the loader finds (or "k" when the text does not load).
// Properties: the edit never crashes or loops, whatever the text; when it
// succeeds and the result loads (sigil keys rotate replaces the file only
// then), that result has every key the text had, the new key, and the
// rotated key naming it as successor: the edit did what it says, nothing
// else to the keys.
#include <string>

#include "conf/config.hpp"
#include "filter/app/rotate_config_edit.hpp"
#include "fuzz_check.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const auto before = conf::load_string(text, "fuzz.toml");
  std::string current = "k";
  if (before.ok() && !before.value().keys.empty()) current = before.value().keys.front().name;
  conf::KeyConfig next{"k-s20261207", "/etc/sigil/keys/example.com.s20261207.pem",
                       "example.com", "s20261207", ""};
  if (before.ok() && !before.value().keys.empty()) next.domain = before.value().keys.front().domain;
  const auto edited = filter::add_successor_block(text, current, next);
  if (!edited.ok() || !before.ok()) return 0;
  const auto after = conf::load_string(edited.value(), "fuzz.toml");
  if (!after.ok()) return 0;
  const auto& was = before.value().keys;
  const auto& now = after.value().keys;
  FUZZ_CHECK(now.size() == was.size() + 1);
  bool found_next = false, named = false;
  for (const auto& k : now) {
    if (k.name == next.name) found_next = k.selector == next.selector && k.file == next.file;
    if (k.name == current) named = k.successor == next.name;
  }
  FUZZ_CHECK(found_next);
  FUZZ_CHECK(named);
  for (const auto& k : was) {
    bool kept = false;
    for (const auto& n : now) kept = kept || (n.name == k.name && n.file == k.file);
    FUZZ_CHECK(kept);
  }
  return 0;
}
