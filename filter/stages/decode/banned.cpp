// filter/stages/decode/banned.cpp — see banned.hpp.
#include "filter/stages/decode/banned.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <re2/re2.h>

#include "filter/stages/decode/display.hpp"

namespace sigil::filter {

using decode::join;
using decode::shown;

struct BannedRules::Impl {
  struct Rule {
    bool ban = true;
    std::unique_ptr<RE2> name, type, detected, path, inside;
  };
  std::string set_name;
  std::vector<Rule> rules;
};

BannedRules::BannedRules(const conf::BannedRuleSet& set) : impl_(std::make_unique<Impl>()) {
  impl_->set_name = set.name;
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  std::size_t i = 0;
  for (const auto& r : set.rules) {
    ++i;
    Impl::Rule c;
    c.ban = r.action == conf::BannedRule::Action::Ban;
    auto compile = [&](const std::optional<std::string>& re, std::unique_ptr<RE2>& outp) {
      if (!re) return;
      outp = std::make_unique<RE2>(*re, o);
      if (!outp->ok())
        throw std::runtime_error("banned." + set.name + " rule " + std::to_string(i) +
                                 ": bad regex '" + *re + "': " + outp->error());
    };
    compile(r.name, c.name);
    compile(r.type, c.type);
    compile(r.detected, c.detected);
    compile(r.path, c.path);
    compile(r.inside, c.inside);
    impl_->rules.push_back(std::move(c));
  }
}

BannedRules::~BannedRules() = default;

const std::string& BannedRules::name() const { return impl_->set_name; }

std::optional<BannedRules::Decision> BannedRules::decide(const PartInfo& p) const {
  std::string full = join(p.path, p.path.size(), "/");
  std::size_t i = 0;
  for (const auto& r : impl_->rules) {
    ++i;
    std::string what;
    auto note = [&what](const char* kind, std::string_view v) {
      if (what.empty()) what = std::string(kind) + " '" + shown(v) + "'";
    };
    if (r.name) {
      if (!RE2::PartialMatch(p.name, *r.name)) continue;
      note("name", p.name);
    }
    if (r.type) {
      if (!RE2::PartialMatch(p.declared_type, *r.type)) continue;
      note("type", p.declared_type);
    }
    if (r.detected) {
      if (!RE2::PartialMatch(p.detected_type, *r.detected)) continue;
      note("detected type", p.detected_type);
    }
    if (r.path) {
      if (!RE2::PartialMatch(full, *r.path)) continue;
      note("path", full);
    }
    if (r.inside) {
      auto it = std::find_if(p.inside.begin(), p.inside.end(),
                             [&](const std::string& f) { return RE2::PartialMatch(f, *r.inside); });
      if (it == p.inside.end()) continue;
      note("content inside", *it);
    }
    return Decision{r.ban, i, std::move(what)};
  }
  return std::nullopt;
}

BannedSets compile_banned(const std::map<std::string, conf::BannedRuleSet>& sets) {
  BannedSets out;
  for (const auto& [name, set] : sets) out.emplace(name, std::make_shared<const BannedRules>(set));
  if (!out.count("default"))
    out.emplace("default", std::make_shared<const BannedRules>(conf::default_banned_rules()));
  return out;
}

namespace decode {

namespace {
constexpr std::size_t kBannedShown = 10;
}  // namespace

void check_banned(DecodeResult& out, const BannedRules& rules) {
  std::size_t banned = 0;
  for (const auto& p : out.parts) {
    auto d = rules.decide(p);
    if (!d || !d->ban) continue;
    if (++banned > kBannedShown) continue;
    std::string r = "banned " + d->what;
    if (d->what.rfind("name ", 0) != 0 && !p.name.empty()) r += " of '" + shown(p.name) + "'";
    if (p.path.size() > 1) r += " in " + display(p.path, p.path.size() - 1);
    r += " (rule " + std::to_string(d->rule) + " of " + rules.name() + ")";
    out.findings.push_back({conf::Category::Banned, std::move(r), "decode"});
  }
  if (banned > kBannedShown)
    out.findings.push_back({conf::Category::Banned,
                            std::to_string(banned - kBannedShown) + " more banned parts", "decode"});
}

}  // namespace decode

}  // namespace sigil::filter
