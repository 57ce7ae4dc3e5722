// filter/stages/decode/display.hpp — how names and paths of parts appear in
// the decode stage's findings and note: control bytes, quotes and
// backslashes replaced by '?', bounded to 200 bytes, paths joined with '/'.
//
// Does not: decode or re-encode names (they are UTF-8 as GMime and
// libarchive give them), or escape for any particular log format beyond
// keeping the note's quoting intact.  Implements no RFC.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sigil::filter::decode {

// For the note and reasons: no control bytes, no quotes, bounded.
std::string shown(std::string_view s);

// The first `n` elements of `v`, separated by `sep` (not made safe: see shown).
std::string join(const std::vector<std::string>& v, std::size_t n, std::string_view sep);

// A path for reasons and the note: "invoice.zip/x.exe"; an unnamed MIME
// part shows as "(unnamed)".  The first `n` names, or all of them.
std::string display(const std::vector<std::string>& path, std::size_t n);
std::string display(const std::vector<std::string>& path);

}  // namespace sigil::filter::decode
