// filter/core/recipients.cpp — see recipients.hpp.
#include "filter/core/recipients.hpp"

#include <algorithm>

#include "conf/ascii.hpp"

namespace sigil::filter {

namespace {

// "example.com" matches that domain; ".example.com" it and its subdomains.
bool domain_matches(std::string_view pattern, std::string_view domain) {
  if (!pattern.empty() && pattern.front() == '.') {
    auto base = pattern.substr(1);
    return domain == base ||
           (domain.size() > pattern.size() && domain.substr(domain.size() - pattern.size()) == pattern);
  }
  return domain == pattern;
}

}  // namespace

bool recipient_matches(std::string_view pattern, std::string_view address) {
  if (pattern == ".") return true;
  std::string a = ascii::lower(address);
  auto at = a.rfind('@');
  std::string_view local = at == std::string::npos ? std::string_view(a) : std::string_view(a).substr(0, at);
  std::string_view domain = at == std::string::npos ? std::string_view() : std::string_view(a).substr(at + 1);
  auto pat = pattern.find('@');
  if (pat == std::string_view::npos) return domain_matches(pattern, domain);
  if (pattern.substr(0, pat) != local) return false;
  auto pd = pattern.substr(pat + 1);
  return pd.empty() || pd == domain;
}

RecipientSettings settings_for(const conf::Config& cfg, std::string_view address) {
  RecipientSettings s;
  if (cfg.recipients.local_domains) {
    std::string a = ascii::lower(address);
    auto at = a.rfind('@');
    std::string_view domain = at == std::string::npos ? std::string_view() : std::string_view(a).substr(at + 1);
    s.local = std::any_of(cfg.recipients.local_domains->begin(), cfg.recipients.local_domains->end(),
                          [&](const std::string& p) { return domain_matches(p, domain); });
  }
  for (const auto& r : cfg.recipient_rules) {
    if (std::any_of(r.match.begin(), r.match.end(),
                    [&](const std::string& p) { return recipient_matches(p, address); })) {
      s.rule = &r;
      break;
    }
  }
  return s;
}

std::vector<std::string> bypassed_by_all(const conf::Config& cfg, const Envelope& env,
                                         const std::vector<std::string>& stages) {
  std::vector<std::string> out;
  if (cfg.recipient_rules.empty() || env.recipients.empty()) return out;
  std::vector<RecipientSettings> rs;
  for (const auto& r : env.recipients) rs.push_back(settings_for(cfg, r.address));
  for (const auto& st : stages) {
    bool all = std::all_of(rs.begin(), rs.end(), [&](const RecipientSettings& s) {
      return s.rule && std::find(s.rule->bypass.begin(), s.rule->bypass.end(), st) != s.rule->bypass.end();
    });
    if (all) out.push_back(st);
  }
  return out;
}

bool Disposition::same_treatment(const Disposition& o) const {
  auto cat = [](const Disposition& d) { return d.finding ? d.finding->category : conf::Category::Clean; };
  if (destiny != o.destiny || local != o.local || cat(*this) != cat(o)) return false;
  if (!local || spam_levels.has_value() != o.spam_levels.has_value()) return !local;
  if (!spam_levels) return true;
  const auto &a = *spam_levels, &b = *o.spam_levels;
  return a.tag_level == b.tag_level && a.tag2_level == b.tag2_level && a.kill_level == b.kill_level;
}

std::vector<Disposition> dispose(const MessageContext& ctx, const Policy& pol,
                                 const conf::Config& cfg) {
  std::vector<Disposition> out;
  for (const auto& r : ctx.envelope.recipients) {
    RecipientSettings s = settings_for(cfg, r.address);
    Disposition d;
    d.local = s.local;
    std::optional<Finding> own_spam;
    if (s.rule && ctx.spam && (s.rule->spam.tag_level || s.rule->spam.tag2_level || s.rule->spam.kill_level)) {
      conf::SpamLevels lv = pol.spam;
      if (s.rule->spam.tag_level) lv.tag_level = *s.rule->spam.tag_level;
      if (s.rule->spam.tag2_level) lv.tag2_level = *s.rule->spam.tag2_level;
      if (s.rule->spam.kill_level) lv.kill_level = *s.rule->spam.kill_level;
      d.spam_levels = lv;
      own_spam = ctx.spam->finding(lv);
    }
    auto counts = [&](const Finding& f) {
      if (!s.rule) return true;
      const auto& by = s.rule->bypass;
      const auto& lv = s.rule->lovers;
      return std::find(by.begin(), by.end(), f.stage) == by.end() &&
             std::find(lv.begin(), lv.end(), f.category) == lv.end();
    };
    const Finding* worst = nullptr;
    for (const auto& f : ctx.findings) {
      // The spam stage's finding used the policy's levels: replaced by the
      // recipient's own when it has levels.
      if (d.spam_levels && f.stage == ctx.spam->stage() &&
          (f.category == conf::Category::Spam || f.category == conf::Category::Spammy))
        continue;
      if (counts(f) && (!worst || f.category > worst->category)) worst = &f;
    }
    if (own_spam && counts(*own_spam) && (!worst || own_spam->category > worst->category))
      worst = &*own_spam;
    if (worst) d.finding = *worst;
    d.destiny = d.finding ? pol.destiny_for(d.finding->category) : conf::Destiny::Pass;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace sigil::filter
