// filter/app/rotate_config_edit.hpp — the configuration text edit of
// `sigil keys rotate`: name a successor in one [[key]] block and add the
// successor's own [[key]] block, keeping every other byte (comments,
// layout, order) as it was.
//
// Pure: text in, text out.  The caller checks the result with the
// configuration loader before it replaces the file.
// Does not: parse TOML (it edits lines; the loader judges the result),
// handle keys written as inline tables (`key = [ {...} ]`: refused, edit by
// hand), or generate keys.
#pragma once

#include <string>
#include <string_view>

#include "conf/config.hpp"
#include "conf/result.hpp"

namespace sigil::filter {

// In `text`, the [[key]] block whose name is `current`: a line
// `successor = "NEXT"` is added after its last key line, and the block of
// `next` (name, file, domain, selector) right after it, separated by an
// empty line.  Failure (Config): no [[key]] block named `current` (or it is
// written in a form this edit does not know), or it already has a successor.
Result<std::string> add_successor_block(std::string_view text, const std::string& current,
                                        const conf::KeyConfig& next);

// The selector of a key made on `day` (YYYYMMDD): "s20261207"; `taken(s)`
// says whether a selector is in use, and then "s20261207b", "...c", ... are
// tried.  Empty when all are taken.
template <typename Taken>
std::string dated_selector(std::string_view day, Taken taken) {
  std::string base = "s";  // appends, not "s" + ...: GCC 12 -O3 -Wrestrict (bug 105651)
  base += day;
  if (!taken(base)) return base;
  for (char c = 'b'; c <= 'z'; ++c)
    if (!taken(base + c)) return base + c;
  return {};
}

}  // namespace sigil::filter
