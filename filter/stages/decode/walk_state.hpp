// filter/stages/decode/walk_state.hpp — the bookkeeping of one message's
// walk, shared by the MIME walk (walker.cpp), the archive reader
// (archives.cpp) and the content sink (content.cpp): the [decode] limits,
// the entity count, the expansion quota, the time limit, and how the walk
// stops (an `unchecked` finding, DecodeResult::complete = false).
//
// Does not: read any content, or decide what a limit's reason says beyond
// the quota and the time limit (the walkers name their own limits).
// Implements no RFC.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "conf/config.hpp"
#include "filter/stages/decode/parts.hpp"
#include "filter/stages/decode/temp_dir.hpp"

namespace sigil::filter::decode {

struct WalkState {
  const conf::DecodeConfig& cfg;
  DecodeResult& out;
  TempDir& tmp;
  std::uint64_t quota = 0;    // expansion_quota() of the message
  std::size_t entities = 0;   // MIME entities and archive members so far
  bool stop = false;          // set with the first `unchecked` finding: the walk ends
  std::optional<std::chrono::steady_clock::time_point> stop_at{};  // the time limit
  std::string quota_where{};  // the path being read, for the reasons

  // True (and the walk stopped) once the stage's time is up.
  bool late();
  // Stops the walk with an `unchecked` finding.
  void unchecked(std::string reason);
  // Counts n more decoded or unpacked bytes; false once past the quota or
  // the time limit.
  bool count(std::size_t n);
};

// max(min_quota, size * min_factor, min(max_quota, size * max_factor)),
// Amavis's rule: small messages get at least min_quota, big ones are capped
// near max_quota.
std::uint64_t expansion_quota(const conf::DecodeConfig& cfg, std::uint64_t size);

}  // namespace sigil::filter::decode
