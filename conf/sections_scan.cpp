// conf/sections_scan.cpp — the scanning sections: [av], [spam], [decode],
// [banned.NAME], [quarantine], [recipients], [[recipient]] and [dsn] (see
// conf/sections.hpp), and the spam_* keys of [bank.NAME].
//
// Checks the settings of the checking stages (decode, av, spam) and of what
// happens to a message afterwards: scanner addresses and limits, banned
// content rules (every regex compiled with RE2 here, so a bad one stops the
// load), the quarantine directory, per-recipient rules and the bounces'
// sender and cutoff.  Addresses in patterns and dsn.from are RFC 5322
// §3.4.1 addr-specs (dot-atom local parts).
// Does not: connect to a scanner, walk MIME, match the banned rules against
// anything (filter/ compiles them again for that), or send a DSN.
#include <algorithm>
#include <iterator>
#include <map>
#include <span>

#include <re2/re2.h>

#include "conf/sections.hpp"
#include "conf/values.hpp"

namespace sigil::conf::detail {

namespace {

// ---------------------------------------------------------------- scanners

using ScannerNames = std::map<std::string, std::size_t>;  // name -> index of its entry

// The rest of one [av] or [spam] scanners entry `st` (at `section`[index],
// keys prefixed `sp`), after its address: the optional name (it replaces
// the default `name` holds; letters, digits, '-', '_', '.'), unique within
// the section (`names`), and the timeout.
void scanner_name_and_timeout(Loader& l, const toml::table& st, const std::string& sp,
                              std::string_view section, std::size_t index, std::string& name,
                              Seconds& timeout, ScannerNames& names) {
  if (st.get("name") && l.required_string(st, sp, "name", name) && !object_name(name))
    l.error(st.get("name"), sp + ".name", "'" + name + "': use letters, digits, '-', '_', '.'");
  if (auto [it, fresh] = names.emplace(name, index); !fresh)
    l.error(st.get("name") ? st.get("name") : st.get("address"), sp + ".name",
            "duplicate scanner name '" + name + "' (also " + std::string(section) + "[" +
                std::to_string(it->second) + "])");
  l.get_seconds(st, sp, "timeout", timeout, 1, 3600);
}

// One entry `st` of a scanners list, at `sp`, the i-th: added to `c`.
using ScannerLoader = void (*)(Loader& l, const toml::table& st, const std::string& sp,
                               std::size_t i, ScannerNames& names, Config& c);

// [`section`] scanners (an array of tables, not empty): `one` for each entry.
void load_scanners(Loader& l, const toml::table& t, const std::string& section, Config& c,
                   ScannerLoader one) {
  const toml::node* sn = t.get("scanners");
  if (sn && sn->as_array() && sn->as_array()->empty()) {
    l.error(sn, section + ".scanners", "must not be empty");
    return;
  }
  auto arr = l.array_of_tables(t, section, "scanners");
  if (!arr) return;
  ScannerNames names;
  std::size_t i = 0;
  for (auto&& e : *arr) {
    std::string sp = section + ".scanners[" + std::to_string(i) + "]";
    one(l, *e.as_table(), sp, i++, names, c);
  }
}

// --------------------------------------------------------------------- [av]

void load_av_scanner(Loader& l, const toml::table& st, const std::string& sp, std::size_t i,
                     ScannerNames& names, Config& c) {
  l.check_keys(st, sp, {"name", "address", "timeout"});
  std::string addr;
  if (!l.required_string(st, sp, "address", addr)) return;
  auto a = parse_av_address(addr);
  if (!a) {
    l.error(st.get("address"), sp + ".address", a.error().message);
    return;
  }
  AvScanner s = std::move(a.value());
  s.name = s.address;
  scanner_name_and_timeout(l, st, sp, "av.scanners", i, s.name, s.timeout, names);
  c.av.scanners.push_back(std::move(s));
}

// A bank that runs the av stage without a scanner could only ever tempfail.
void check_av_banks(Loader& l, const toml::table& root, const Config& c) {
  for (auto& [name, bank] : c.banks) {
    if (!bank.stages ||
        std::find(bank.stages->begin(), bank.stages->end(), "av") == bank.stages->end())
      continue;
    l.error(bank_key_node(root, name, "stages"), "bank." + name + ".stages",
            "the av stage needs [av] scanners = [ { address = \"unix:/path\" }, ... ]");
  }
}

// [av]: the `av` stage's clamd scanners (banks must be loaded already: a
// bank listing "av" needs at least one scanner).
void load_av(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "av", {"scanners", "max_size", "on_error"});
  if (t) {
    const char* p = "av";
    load_scanners(l, *t, p, c, load_av_scanner);
    // At most smtp.max_message_size is ever stored; 1 KiB..4 GiB.
    l.get_uint(*t, p, "max_size", c.av.max_size, 1024, 4ull << 30);
    using E = AvConfig::OnError;
    l.get_keyword(*t, p, "on_error", c.av.on_error,
                  {{"tempfail", E::TempFail}, {"continue", E::Continue}, {"reject", E::Reject}},
                  "must be one of tempfail, continue, reject");
  }
  if (c.av.scanners.empty() && !(t && t->get("scanners"))) check_av_banks(l, root, c);
}

// ------------------------------------------------------------------- [spam]

void load_spam_scanner(Loader& l, const toml::table& st, const std::string& sp, std::size_t i,
                       ScannerNames& names, Config& c) {
  l.check_keys(st, sp, {"kind", "name", "address", "timeout"});
  SpamScanner s;
  std::string kind;
  if (l.get_string(st, sp, "kind", kind)) {
    if (kind == "spamd") s.kind = SpamScanner::Kind::Spamd;
    else if (kind == "rspamd") s.kind = SpamScanner::Kind::Rspamd;
    else {
      l.error(st.get("kind"), sp + ".kind", "'" + kind + "': must be spamd or rspamd");
      return;
    }
  }
  std::string addr;
  if (!l.required_string(st, sp, "address", addr)) return;
  auto a = parse_listen_address(addr);
  if (!a || (a.value().kind == ListenAddress::Kind::Tcp && a.value().port == 0)) {
    l.error(st.get("address"), sp + ".address",
            s.kind == SpamScanner::Kind::Rspamd
                ? "bad rspamd address '" + addr +
                      "' (want 127.0.0.1:11333, [::1]:11333 or unix:/path)"
                : "bad spamd address '" + addr + "' (want 127.0.0.1:783, [::1]:783 or unix:/path)");
    return;
  }
  s.address = std::move(a.value());
  s.name = addr;
  scanner_name_and_timeout(l, st, sp, "spam.scanners", i, s.name, s.timeout, names);
  c.spam.scanners.push_back(std::move(s));
}

// [spam]: the `spam` stage's spamd and rspamd scanners.
void load_spam(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "spam", {"scanners", "max_size", "on_error", "command", "user"});
  if (!t) return;
  const char* p = "spam";
  load_scanners(l, *t, p, c, load_spam_scanner);
  l.get_uint(*t, p, "max_size", c.spam.max_size, 1024, 1ull << 30);
  l.get_keyword(*t, p, "on_error", c.spam.on_error,
                {{"continue", SpamConfig::OnError::Continue},
                 {"tempfail", SpamConfig::OnError::TempFail}},
                "must be continue or tempfail");
  l.get_keyword(*t, p, "command", c.spam.command,
                {{"report", SpamConfig::Command::Report},
                 {"symbols", SpamConfig::Command::Symbols}},
                "must be report or symbols");
  if (l.get_string(*t, p, "user", c.spam.user)) {
    // spamd refuses control characters; a space would split nothing but is odd.
    const auto& u = c.spam.user;
    bool ok = !u.empty() && u.size() <= 64 &&
              std::all_of(u.begin(), u.end(), [](char ch) { return ch > 32 && ch < 127; });
    if (!ok)
      l.error(t->get("user"), "spam.user",
              "must be 1..64 printable ASCII characters without spaces");
  }
  // A bank that lists "spam" without scanners is refused when the stage is
  // built (filter/: PolicyTable::build), for the banks in use only.
}

// spam_tag_level, spam_tag2_level, spam_kill_level of a bank or a
// [[recipient]].  -999 is Amavis's "always"; GTUBE alone scores 1000.
void load_spam_levels(Loader& l, const toml::table& t, const std::string& p, SpamBankConfig& s) {
  s.tag_level = l.get_double(t, p, "spam_tag_level", -999, 1e6);
  s.tag2_level = l.get_double(t, p, "spam_tag2_level", -999, 1e6);
  s.kill_level = l.get_double(t, p, "spam_kill_level", -999, 1e6);
}

// ----------------------------------------------------------------- [decode]

// [decode]: the MIME walk limits of the `decode` stage.
void load_decode(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "decode", {"max_depth", "max_parts", "min_expansion_quota",
                                      "min_expansion_factor", "max_expansion_quota",
                                      "max_expansion_factor", "temp_dir", "threads", "timeout"});
  if (!t) return;
  const char* p = "decode";
  auto& d = c.decode;
  l.get_uint(*t, p, "max_depth", d.max_depth, 1, 100);
  l.get_uint(*t, p, "max_parts", d.max_parts, 1, 100000);
  l.get_uint(*t, p, "min_expansion_quota", d.min_expansion_quota, 1024, 1ull << 40);
  l.get_uint(*t, p, "min_expansion_factor", d.min_expansion_factor, 1, 100000);
  l.get_uint(*t, p, "max_expansion_quota", d.max_expansion_quota, 1024, 1ull << 40);
  l.get_uint(*t, p, "max_expansion_factor", d.max_expansion_factor, 1, 100000);
  if (d.min_expansion_quota > d.max_expansion_quota)
    l.error(t->get("min_expansion_quota") ? t->get("min_expansion_quota")
                                          : t->get("max_expansion_quota"),
            "decode.min_expansion_quota", "must not exceed max_expansion_quota");
  if (d.min_expansion_factor > d.max_expansion_factor)
    l.error(t->get("min_expansion_factor") ? t->get("min_expansion_factor")
                                           : t->get("max_expansion_factor"),
            "decode.min_expansion_factor", "must not exceed max_expansion_factor");
  if (l.get_string(*t, p, "temp_dir", d.temp_dir) && (d.temp_dir.empty() || d.temp_dir[0] != '/'))
    l.error(t->get("temp_dir"), "decode.temp_dir", "must be an absolute path");
  if (t->get("threads")) {
    std::size_t n = 0;
    l.get_uint(*t, p, "threads", n, 0, 64);
    d.threads = n;
  }
  l.get_seconds(*t, p, "timeout", d.timeout, 1, 3600);
}

// ----------------------------------------------------------- [banned.NAME]

constexpr const char* kMatchers[] = {"name", "type", "detected", "path", "inside"};

// One rule of a [banned.NAME] set, at `rp`.
BannedRule load_banned_rule(Loader& l, const toml::table& rt, const std::string& rp) {
  l.check_keys(rt, rp, {"action", "name", "type", "detected", "path", "inside"});
  BannedRule r;
  std::string action;
  if (l.required_string(rt, rp, "action", action)) {
    if (action == "ban") r.action = BannedRule::Action::Ban;
    else if (action == "allow") r.action = BannedRule::Action::Allow;
    else l.error(rt.get("action"), rp + ".action", "'" + action + "': must be ban or allow");
  }
  auto matcher = [&](std::string_view key, std::optional<std::string>& out) {
    std::string re;
    if (!l.get_string(rt, rp, key, re)) return;
    RE2::Options o;
    o.set_case_sensitive(false);
    o.set_log_errors(false);
    RE2 compiled(re, o);
    if (!compiled.ok())
      l.error(rt.get(key), Loader::join(rp, key), "bad regex '" + re + "': " + compiled.error());
    else out = std::move(re);
  };
  matcher("name", r.name);
  matcher("type", r.type);
  matcher("detected", r.detected);
  matcher("path", r.path);
  matcher("inside", r.inside);
  if (std::none_of(std::begin(kMatchers), std::end(kMatchers),
                   [&](const char* m) { return rt.get(m) != nullptr; }))
    l.error(&rt, rp, "no matcher: give at least one of name, type, detected, path, inside");
  return r;
}

// One [banned.NAME] set, at `p`.
BannedRuleSet load_banned_set(Loader& l, const toml::table& st, const toml::node& v,
                              const std::string& name, const std::string& p) {
  if (!object_name(name)) l.error(&v, p, "'" + name + "': use letters, digits, '-', '_', '.'");
  if (name == "none") l.error(&v, p, "\"none\" is reserved (banned_rules = \"none\": no checks)");
  l.check_keys(st, p, {"rules"});
  BannedRuleSet set;
  set.name = name;
  if (!st.get("rules")) l.error(&st, p + ".rules", "missing");
  const toml::array* rules = nullptr;
  if (auto rn = st.get("rules"); rn && rn->as_array() && rn->as_array()->empty())
    rules = nullptr;  // an empty set bans nothing
  else
    rules = l.array_of_tables(st, p, "rules");
  if (!rules) return set;
  std::size_t i = 0;
  for (auto&& e : *rules)
    set.rules.push_back(
        load_banned_rule(l, *e.as_table(), p + ".rules[" + std::to_string(i++) + "]"));
  return set;
}

// [bank.NAME] banned_rules must name a [banned.NAME] set, "default" or
// "none" (checked once every set is loaded).
void check_banned_rules(Loader& l, const toml::table& root, const Config& c) {
  for (auto& [name, b] : c.banks) {
    if (!b.banned_rules || *b.banned_rules == "default" || *b.banned_rules == "none" ||
        c.banned.count(*b.banned_rules))
      continue;
    l.error(bank_key_node(root, name, "banned_rules"), "bank." + name + ".banned_rules",
            "no such rule set '" + *b.banned_rules +
                "' (want a [banned.NAME], \"default\" or \"none\")");
  }
}

// [banned.NAME]: banned-content rule sets, then the banks' choice of one.
void load_banned(Loader& l, const toml::table& root, Config& c) {
  if (auto t = l.table(root, "banned")) {
    for (auto&& [k, v] : *t) {
      std::string name(k.str());
      std::string p = "banned." + name;
      if (auto st = v.as_table()) c.banned[name] = load_banned_set(l, *st, v, name, p);
      else l.error(&v, p, "must be a table ([banned.NAME] with rules = [...])");
    }
  }
  check_banned_rules(l, root, c);
}

// ------------------------------------------------------------- [quarantine]

// [quarantine]: the directory of quarantined messages.
void load_quarantine(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "quarantine", {"dir", "compress"});
  if (!t) return;
  const char* p = "quarantine";
  if (l.get_string(*t, p, "dir", c.quarantine.dir) &&
      (c.quarantine.dir.empty() || c.quarantine.dir[0] != '/'))
    l.error(t->get("dir"), "quarantine.dir", "must be an absolute path");
  l.get_bool(*t, p, "compress", c.quarantine.compress);
}

// ------------------------------------------------------------- recipients

// The stages a recipient may bypass: the checking stages, between the DKIM
// stages that open and close kStageNames (whose findings are categories).
static_assert(kStageNames.front() == "dkim-verify" && kStageNames.back() == "dkim-sign");
constexpr std::span<const std::string_view> kBypassable{kStageNames.data() + 1,
                                                        kStageNames.size() - 2};

// [recipients] local_domains.
void load_local_domains(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "recipients", {"local_domains"});
  if (!t) return;
  auto ds = l.get_strings(*t, "recipients", "local_domains");
  if (!ds) return;
  std::vector<std::string> out;
  for (std::size_t k = 0; k < ds->size(); ++k) {
    auto v = recipient_pattern((*ds)[k], true);
    if (v.empty())
      l.error(Loader::element(*t, "local_domains", k), "recipients.local_domains",
              "'" + (*ds)[k] + "' is not a domain (\"example.com\" or \".example.com\")");
    else
      out.push_back(std::move(v));
  }
  c.recipients.local_domains = std::move(out);
}

// lovers and bypass of a [[recipient]].
void load_lovers_and_bypass(Loader& l, const toml::table& t, const std::string& p,
                            RecipientRule& r) {
  if (auto ls = l.get_strings(t, p, "lovers")) {
    for (std::size_t k = 0; k < ls->size(); ++k) {
      auto cat = category_named((*ls)[k]);
      if (!cat || *cat == Category::Clean)
        l.error(Loader::element(t, "lovers", k), p + ".lovers",
                "unknown category '" + (*ls)[k] +
                    "' (known: virus, banned, unchecked, spam, spammy, bad-header)");
      else
        r.lovers.push_back(*cat);
    }
  }
  if (auto bs = l.get_strings(t, p, "bypass")) {
    for (std::size_t k = 0; k < bs->size(); ++k) {
      const auto& b = (*bs)[k];
      if (std::find(kBypassable.begin(), kBypassable.end(), b) == kBypassable.end())
        l.error(Loader::element(t, "bypass", k), p + ".bypass",
                "'" + b + "' cannot be bypassed per recipient (" +
                    name_list(kBypassable, " or ") + ")");
      else
        r.bypass.push_back(b);
    }
  }
}

// One [[recipient]] rule, the i-th.
RecipientRule load_recipient_rule(Loader& l, const toml::table& t, std::size_t i) {
  std::string p = "recipient[" + std::to_string(i) + "]";
  l.check_keys(t, p, {"match", "lovers", "bypass", "spam_tag_level", "spam_tag2_level",
                      "spam_kill_level"});
  RecipientRule r;
  r.index = i;
  if (auto ms = l.get_strings(t, p, "match")) {
    if (ms->empty()) l.error(t.get("match"), p + ".match", "must not be empty");
    for (std::size_t k = 0; k < ms->size(); ++k) {
      auto v = recipient_pattern((*ms)[k], false);
      if (v.empty())
        l.error(Loader::element(t, "match", k), p + ".match",
                "'" + (*ms)[k] +
                    "' is not a recipient pattern (user@example.com, user@, "
                    "example.com, .example.com or .)");
      else
        r.match.push_back(std::move(v));
    }
  } else if (!t.get("match")) {
    l.error(&t, p + ".match", "missing");
  }
  load_lovers_and_bypass(l, t, p, r);
  load_spam_levels(l, t, p, r.spam);
  return r;
}

void load_recipient_rules(Loader& l, const toml::table& root, Config& c) {
  l.for_each_table(root, "recipient", [&](const toml::table& t, std::size_t i) {
    c.recipient_rules.push_back(load_recipient_rule(l, t, i));
  });
}

// [dsn]: the bounces' cutoff and sender.
void load_dsn(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "dsn", {"spam_cutoff_level", "from"});
  if (!t) return;
  if (auto v = l.get_double(*t, "dsn", "spam_cutoff_level", -999, 1e6))
    c.dsn.spam_cutoff_level = *v;
  if (!l.get_string(*t, "dsn", "from", c.dsn.from)) return;
  std::string_view from = c.dsn.from;
  auto at = from.rfind('@');
  if (at == std::string_view::npos || !dot_atom(from.substr(0, at)) ||
      !valid_dns_name(from.substr(at + 1), false))
    l.error(t->get("from"), "dsn.from", "'" + c.dsn.from + "' is not an address user@domain");
}

}  // namespace

void load_bank_spam(Loader& l, const toml::table& bt, const std::string& p, SpamBankConfig& s) {
  load_spam_levels(l, bt, p, s);
  s.score_offset = l.get_double(bt, p, "spam_score_offset", -1e6, 1e6);
  std::string tag;
  if (!l.get_string(bt, p, "spam_subject_tag", tag)) return;
  bool ok = tag.size() <= 200 && std::none_of(tag.begin(), tag.end(), [](char ch) {
              return (ch >= 0 && ch < 32 && ch != '\t') || ch == 127;
            });
  if (ok) s.subject_tag = tag;
  else
    l.error(bt.get("spam_subject_tag"), p + ".spam_subject_tag",
            "must be at most 200 characters without control characters (\"\" for no tag)");
}

void load_scan_sections(Loader& l, const toml::table& root, Config& c) {
  for (auto load : {load_av, load_spam, load_decode, load_banned, load_quarantine,
                    load_local_domains, load_recipient_rules, load_dsn})
    load(l, root, c);
}

}  // namespace sigil::conf::detail
