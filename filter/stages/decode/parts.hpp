// filter/stages/decode/parts.hpp — what the decode stage records about a
// message: a PartInfo per leaf MIME part or archive member, and the
// DecodeResult that carries them with the findings and the note.
//
// Plain data, shared by the walk (walker.cpp, archives.cpp), the banned
// rules (banned.cpp) and the stage (decode_stage.cpp).  Does not: parse,
// read or decide anything.  Implements no RFC itself: the MIME fields it
// holds come from GMime's reading of RFC 2045 Content-Type and RFC 2183
// Content-Disposition (see walker.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "filter/core/pipeline.hpp"

namespace sigil::filter {

// One leaf MIME part or archive member, in document order (a container
// before its members).
struct PartInfo {
  std::string declared_type;  // "application/pdf", lower case ("text/plain" by default); "" for members
  std::string name;           // declared file name, UTF-8 (filename or name), or the member's
                              // path inside its container; "" when none
  std::string detected_type;  // libmagic's MIME type of the (first 64 KiB of) content; "" if unknown
  std::uint64_t size = 0;     // decoded bytes (stops growing when the quota is exceeded)
  unsigned depth = 0;         // 0: the message's own body; members: their container's + 1
  // Names from the MIME part down: {"invoice.zip", "dir/inner.tar.gz", "x.exe"}
  // ("" for an unnamed MIME part).
  std::vector<std::string> path;
  std::string container;  // the immediate container's format ("zip", "tar", "gzip"...); "" for a MIME part
  std::vector<std::string> inside;  // every archive format on the way, outermost first
                                    // (a member of a tar.gz in a zip: "zip", "gzip", "tar")
};

struct DecodeResult {
  std::vector<PartInfo> parts;
  std::vector<Finding> findings;  // stage "decode"
  bool complete = true;           // false: the walk stopped early (a finding says why)
  std::string note;               // the value of the `decode` note
  std::uint64_t expanded = 0;     // decoded plus unpacked bytes counted against the quota
};

}  // namespace sigil::filter
