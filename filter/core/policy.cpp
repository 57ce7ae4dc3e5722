// filter/core/policy.cpp — see policy.hpp.
#include "filter/core/policy.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "filter/core/log.hpp"

namespace sigil::filter {

conf::Destiny Policy::destiny_for(conf::Category c) const {
  auto it = destiny.find(c);
  return it != destiny.end() ? it->second : conf::default_destiny(c);
}

Verdict apply_destiny(MessageContext& ctx, const Policy& pol, Verdict v) {
  const Finding* w = worst_finding(ctx);
  if (!w) return v;
  return apply_destiny(ctx, w, pol.destiny_for(w->category), std::move(v));
}

Verdict apply_destiny(MessageContext& ctx, const Finding* w, conf::Destiny d, Verdict v) {
  if (!w || (v.action != Action::Continue && v.action != Action::Accept)) return v;
  ctx.notes.emplace_back("category", std::string(conf::to_string(w->category)) + " (" + w->stage +
                                         ": " + w->reason + ") destiny=" + conf::to_string(d));
  std::string why = std::string(conf::to_string(w->category)) + ": " + w->reason;
  switch (d) {
    case conf::Destiny::Pass: break;
    case conf::Destiny::Discard: return {Action::Discard, why};
    case conf::Destiny::Reject: return {Action::Reject, why};
    case conf::Destiny::TempFail: return {Action::TempFail, why};
    // The session sends the DSN (filter/dsn.hpp), then answers as for a discard.
    case conf::Destiny::Bounce: return {Action::Discard, why};
  }
  return v;
}

static void overlay(Policy& p, const conf::BankConfig& b) {
  for (const auto& [c, d] : b.destiny) p.destiny[c] = d;
  if (b.stages) p.stage_names = *b.stages;
  if (b.skip_stages)
    std::erase_if(p.stage_names, [&](const std::string& s) {
      return std::find(b.skip_stages->begin(), b.skip_stages->end(), s) != b.skip_stages->end();
    });
  if (b.originating) p.originating = *b.originating;
  if (b.quarantine) p.quarantine = *b.quarantine;
  if (b.banned_rules) p.banned_rules = *b.banned_rules;
  if (b.spam.tag_level) p.spam.tag_level = *b.spam.tag_level;
  if (b.spam.tag2_level) p.spam.tag2_level = *b.spam.tag2_level;
  if (b.spam.kill_level) p.spam.kill_level = *b.spam.kill_level;
  if (b.spam.subject_tag) p.spam.subject_tag = *b.spam.subject_tag;
  if (b.spam.score_offset) p.spam.score_offset = *b.spam.score_offset;
  p.add_header.insert(p.add_header.end(), b.add_header.begin(), b.add_header.end());
  p.banks = p.banks.empty() ? b.name : p.banks + "+" + b.name;
}

Result<PolicyTable> PolicyTable::build(const conf::Config& cfg, const StageFactory& factory,
                                       Components& components) {
  for (auto& [name, bank] : cfg.banks) {
    if (!bank.stages) continue;
    for (auto& s : *bank.stages)
      if (factory.find(s) == factory.end())
        return make_error(ErrorKind::Config,
                          cfg.source + ": bank." + name + ".stages: stage '" + s +
                              "' is not available in this build yet");
  }
  PolicyTable t;
  t.networks_ = cfg.networks;
  t.banks_ = cfg.banks;
  // Every stage a bank in use names is built here, once, and shared by the
  // policies that list it (banks loaded by whitelisting included, so a
  // later switch builds nothing).  Banks nobody uses build nothing.
  std::set<std::string> used;
  for (auto& l : cfg.listeners) used.insert(l.bank);
  for (auto& n : cfg.networks) used.insert(n.bank);
  for (auto& w : cfg.whitelist) used.insert(w.banks.begin(), w.banks.end());
  try {
    for (auto& b : used) {
      auto it = cfg.banks.find(b);
      if (it == cfg.banks.end() || !it->second.stages) continue;
      for (auto& s : *it->second.stages) {
        auto& slot = t.stages_[s];
        if (!slot) slot = factory.find(s)->second(cfg, components);  // may throw
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Config, cfg.source + ": " + e.what());
  }
  auto pipeline_for = [&t](const std::vector<std::string>& names) {
    std::vector<std::shared_ptr<Stage>> stages;
    for (auto& s : names) {
      auto it = t.stages_.find(s);
      if (it != t.stages_.end()) stages.push_back(it->second);
    }
    return std::make_shared<const Pipeline>(std::move(stages));
  };
  auto make_policy = [&](const std::string& lb, const std::string& nb) {
    Policy p;
    overlay(p, cfg.banks.at(lb));
    if (!nb.empty() && nb != lb) overlay(p, cfg.banks.at(nb));
    p.pipeline = pipeline_for(p.stage_names);
    p.key = lb + '\0' + nb;
    t.policies_[p.key] = std::move(p);
  };
  for (auto& l : cfg.listeners) {
    if (t.policies_.count(l.bank + '\0')) continue;
    make_policy(l.bank, "");
    for (auto& n : cfg.networks) make_policy(l.bank, n.bank);
  }
  return t;
}

const Policy& PolicyTable::with_banks(const Policy& base, const std::vector<std::string>& banks) {
  // Each name length-prefixed, so no two lists share a key whatever the
  // names hold (["ab","c"], ["a","bc"] and ["abc"] are three policies).
  std::string key = base.key;
  for (auto& b : banks) key += '\n' + std::to_string(b.size()) + ':' + b;
  if (auto it = overlays_.find(key); it != overlays_.end()) return it->second;
  Policy p = base;
  std::vector<std::string> in_base;
  for (std::size_t pos = 0; pos <= base.banks.size();) {
    auto plus = base.banks.find('+', pos);
    if (plus == std::string::npos) plus = base.banks.size();
    in_base.push_back(base.banks.substr(pos, plus - pos));
    pos = plus + 1;
  }
  for (auto& b : banks) {
    if (std::find(in_base.begin(), in_base.end(), b) != in_base.end()) continue;
    auto it = banks_.find(b);
    if (it == banks_.end()) continue;
    overlay(p, it->second);
    in_base.push_back(b);
  }
  std::vector<std::shared_ptr<Stage>> stages;
  for (auto& s : p.stage_names)
    if (auto it = stages_.find(s); it != stages_.end()) stages.push_back(it->second);
  p.pipeline = std::make_shared<const Pipeline>(std::move(stages));
  p.key = key;
  return overlays_.emplace(key, std::move(p)).first->second;
}

const Policy& PolicyTable::select(const std::string& listener_bank,
                                  const std::optional<std::array<std::uint8_t, 16>>& ip) const {
  if (ip) {
    for (auto& n : networks_) {
      for (auto& c : n.cidrs) {
        if (c.contains(*ip)) {
          auto it = policies_.find(listener_bank + '\0' + n.bank);
          if (it != policies_.end()) return it->second;
        }
      }
    }
  }
  return policies_.at(listener_bank + '\0');
}

}  // namespace sigil::filter

