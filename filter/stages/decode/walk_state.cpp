// filter/stages/decode/walk_state.cpp — see walk_state.hpp.
#include "filter/stages/decode/walk_state.hpp"

#include <algorithm>
#include <utility>

namespace sigil::filter::decode {

bool WalkState::late() {
  if (!stop_at || std::chrono::steady_clock::now() < *stop_at) return false;
  if (!stop) unchecked("decode time limit reached after " + std::to_string(entities) + " parts");
  return true;
}

void WalkState::unchecked(std::string reason) {
  out.findings.push_back({conf::Category::Unchecked, std::move(reason), "decode"});
  out.complete = false;
  stop = true;
}

bool WalkState::count(std::size_t n) {
  out.expanded += n;
  if (late()) return false;
  if (out.expanded <= quota) return true;
  if (!stop)
    unchecked("expansion quota of " + std::to_string(quota) + " bytes exceeded in " + quota_where);
  return false;
}

std::uint64_t expansion_quota(const conf::DecodeConfig& cfg, std::uint64_t size) {
  auto mul = [](std::uint64_t a, std::uint64_t b) {
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
  };
  std::uint64_t floor = std::max(cfg.min_expansion_quota, mul(size, cfg.min_expansion_factor));
  std::uint64_t cap = std::min(cfg.max_expansion_quota, mul(size, cfg.max_expansion_factor));
  return std::max(floor, cap);
}

}  // namespace sigil::filter::decode
