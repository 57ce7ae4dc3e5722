// filter/stages/decode/banned.hpp — banned content (Amavis's
// $banned_filename_re): the [banned.NAME] rule sets compiled with RE2, and
// their application to the parts a walk recorded.
//
// A rule's matchers (name, declared type, detected type, path, formats the
// part is inside) are case-insensitive, unanchored RE2 patterns; the first
// rule whose matchers all match decides (ban or allow).  The built-in
// "default" set is there unless configured; "none" (no checks) is the
// stage's business (decode_stage.cpp).
//
// Does not: read content (it matches only what PartInfo holds), load the
// configuration (conf/ validates the patterns first), or match names inside
// documents.  Implements no RFC.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "conf/config.hpp"
#include "filter/stages/decode/parts.hpp"

namespace sigil::filter {

// A compiled [banned.NAME] rule set (RE2, case-insensitive, unanchored).
class BannedRules {
 public:
  // Throws std::runtime_error naming the rule for a bad regex (the
  // configuration loader has already refused those).
  explicit BannedRules(const conf::BannedRuleSet& set);
  ~BannedRules();
  BannedRules(const BannedRules&) = delete;
  BannedRules& operator=(const BannedRules&) = delete;

  struct Decision {
    bool ban = false;
    std::size_t rule = 0;  // 1-based, in the order written
    std::string what;      // what matched: "name 'x.exe'", "detected type 'application/x-dosexec'"...
  };
  // The first rule that matches `part`; nullopt: none (not banned).
  std::optional<Decision> decide(const PartInfo& part) const;
  const std::string& name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

using BannedSets = std::map<std::string, std::shared_ptr<const BannedRules>, std::less<>>;

// Every configured set, plus the built-in "default" unless configured.
// Throws like BannedRules.
BannedSets compile_banned(const std::map<std::string, conf::BannedRuleSet>& sets);

namespace decode {

// Applies `rules` to every part of `out` (also after an incomplete walk):
// each banned part gives a finding `banned` naming the part and the rule,
// at most 10, then one "N more banned parts".
void check_banned(DecodeResult& out, const BannedRules& rules);

}  // namespace decode

}  // namespace sigil::filter
