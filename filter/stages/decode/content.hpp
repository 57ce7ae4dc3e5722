// filter/stages/decode/content.hpp — the content of one MIME part or archive
// member as it is read, chunk by chunk: counted against the expansion quota,
// typed by libmagic from its first 64 KiB, probed for an archive, and, when
// it is one, kept for libarchive (in memory up to 64 KiB, else in a file of
// the walk's TempDir).
//
// Does not: decode transfer encodings (GMime does, walker.cpp), open
// archives (archives.cpp), or keep content that is not an archive: plain
// content is counted and dropped after its first 64 KiB.  Implements no
// RFC.
#pragma once

#include <cstddef>
#include <string>

#include "filter/stages/decode/temp_dir.hpp"
#include "filter/stages/decode/walk_state.hpp"

namespace sigil::filter::decode {

// Content to open with libarchive: in memory, or a temporary file.
struct Source {
  std::string mem;
  Fd file;
};

// Takes one part's or member's content chunk by chunk: counts it against
// the quota, keeps the first 64 KiB for libmagic and the archive probe, and
// once the probe says "archive" writes everything to a temporary file
// (content of at most 64 KiB stays in memory).
struct Sink {
  WalkState& w;
  std::string head;
  enum class State { Unknown, Plain, Archive } state = State::Unknown;
  Source src;
  std::string detected;
  bool typed = false;

  explicit Sink(WalkState& walk) : w(walk) {}
  bool feed(const char* p, std::size_t n);  // false: stop reading (limit or error)
  void finish();                            // at the end of the content
  // libmagic's MIME type of the first 64 KiB; "" when unknown.
  const std::string& type();
  bool archive() const { return state == State::Archive; }

 private:
  void decide(bool complete);
};

}  // namespace sigil::filter::decode
