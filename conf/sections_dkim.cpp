// conf/sections_dkim.cpp — the DKIM sections: [[key]], [[signing]] with
// [[signing.signature]], [dkim_sign], [dns], [dkim_verify] and [[dkim_whitelist]] (see
// conf/sections.hpp), and resolve_options (conf/config.hpp).
//
// Checks what a DKIM signer and verifier need from the file: key names, the
// DNS record each key is published at and its successor (key rotation), signing rules and their
// signature options (c=, h=, x=, i= of RFC 6376 §3.5, with From always
// signed, §5.4), the resolver's servers, limits and static records, and the
// whitelist rules with the banks they switch to.
// Does not: read or check private key files (keys/ does), query DNS, sign
// or verify anything (dkim/).
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "conf/ascii.hpp"
#include "conf/sections.hpp"
#include "conf/values.hpp"

namespace sigil::conf {

SignatureOptions resolve_options(const SignatureOptions& s, const SignatureOptions& r) {
  SignatureOptions o;
  o.header_canon = s.header_canon ? s.header_canon : r.header_canon ? r.header_canon
                                                                    : Canon::Relaxed;
  o.body_canon = s.body_canon ? s.body_canon : r.body_canon ? r.body_canon : Canon::Relaxed;
  o.headers = s.headers ? s.headers : r.headers ? r.headers : default_signed_headers();
  if (s.oversign || r.oversign) {
    o.oversign = s.oversign ? s.oversign : r.oversign;
  } else {
    o.oversign.emplace();
    for (auto& h : default_oversigned_headers())
      if (detail::contains_name(*o.headers, h)) o.oversign->push_back(h);
  }
  o.expire = s.expire ? s.expire : r.expire ? r.expire : Seconds{0};
  o.identity = s.identity ? s.identity : r.identity ? r.identity : std::string();
  o.sign_if_signed = s.sign_if_signed ? s.sign_if_signed
                                      : r.sign_if_signed ? r.sign_if_signed : true;
  return o;
}

namespace detail {

namespace {

// ------------------------------------------------------------------ [[key]]

// A [[key]]'s name: unique (`names`: name -> index of the key that has it).
void load_key_name(Loader& l, const toml::table& t, const std::string& p, std::size_t i,
                   KeyConfig& k, std::map<std::string, std::size_t>& names) {
  if (!l.required_string(t, p, "name", k.name)) return;
  if (!object_name(k.name))
    l.error(t.get("name"), p + ".name", "'" + k.name + "': use letters, digits, '-', '_', '.'");
  else if (auto [it, fresh] = names.emplace(k.name, i); !fresh)
    l.error(t.get("name"), p + ".name",
            "duplicate key name '" + k.name + "' (also key[" + std::to_string(it->second) +
                "])");
}

// A [[key]]'s domain (d=, lower-cased) and selector (s=); true when both
// are valid, so that the record name selector._domainkey.domain is.
bool load_key_record(Loader& l, const toml::table& t, const std::string& p, KeyConfig& k) {
  bool record_ok = true;
  if (l.required_string(t, p, "domain", k.domain)) {
    k.domain = ascii::lower(k.domain);
    if (!valid_dns_name(k.domain, true)) {
      record_ok = false;
      l.error(t.get("domain"), p + ".domain",
              "'" + k.domain +
                  "' is not a valid domain name (letters, digits, '-', at least two labels; "
                  "IDNs in A-label form)");
    }
  } else {
    record_ok = false;
  }
  if (!l.required_string(t, p, "selector", k.selector)) return false;
  if (!valid_dns_name(k.selector, false)) {
    l.error(t.get("selector"), p + ".selector",
            "'" + k.selector +
                "' is not a valid selector (DNS labels of letters, digits, '-'; RFC 6376 "
                "§3.1)");
    return false;
  }
  if (record_ok && k.selector.size() + 12 + k.domain.size() > 253) {
    l.error(t.get("selector"), p + ".selector",
            k.selector + "._domainkey." + k.domain + " is longer than 253 bytes");
    return false;
  }
  return record_ok;
}

// The successors of the [[key]]s (`tables`: each key's table): each names
// another key of the same domain, no two name the same one, and following
// them never comes back to a key (a cycle).
void check_successors(Loader& l, const std::vector<const toml::table*>& tables,
                      const std::map<std::string, std::size_t>& names, const Config& c) {
  std::map<std::string, std::size_t> named_by;
  for (std::size_t i = 0; i < c.keys.size(); ++i) {
    const KeyConfig& k = c.keys[i];
    if (k.successor.empty()) continue;
    const toml::node* n = tables[i]->get("successor");
    std::string p = "key[" + std::to_string(i) + "].successor";
    auto s = names.find(k.successor);
    if (s == names.end()) {
      l.error(n, p, "no [[key]] named '" + k.successor + "'");
    } else if (s->second == i) {
      l.error(n, p, "a key cannot be its own successor");
    } else if (c.keys[s->second].domain != k.domain) {
      l.error(n, p, "'" + k.successor + "' signs for " + c.keys[s->second].domain +
                        ", not " + k.domain + " (a successor keeps d=)");
    } else if (auto [it, fresh] = named_by.emplace(k.successor, i); !fresh) {
      l.error(n, p, "'" + k.successor + "' is already the successor of key[" +
                        std::to_string(it->second) + "]");
    }
  }
  // A cycle: walking from a key comes back to it within keys.size() steps.
  for (std::size_t i = 0; i < c.keys.size(); ++i) {
    std::size_t at = i;
    for (std::size_t step = 0; step < c.keys.size(); ++step) {
      auto s = names.find(c.keys[at].successor);
      if (c.keys[at].successor.empty() || s == names.end() || s->second == at) break;
      at = s->second;
      if (at == i) {
        l.error(tables[i]->get("successor"), "key[" + std::to_string(i) + "].successor",
                "the successors of '" + c.keys[i].name + "' come back to it (a cycle)");
        break;
      }
    }
  }
}

// [[key]]: name, file, domain, selector, successor.
void load_keys(Loader& l, const toml::table& root, Config& c) {
  std::map<std::string, std::size_t> names, records;
  std::vector<const toml::table*> tables;
  l.for_each_table(root, "key", [&](const toml::table& t, std::size_t i) {
    std::string p = "key[" + std::to_string(i) + "]";
    l.check_keys(t, p, {"name", "file", "domain", "selector", "successor"});
    KeyConfig k;
    tables.push_back(&t);
    load_key_name(l, t, p, i, k, names);
    if (l.get_string(t, p, "successor", k.successor) && k.successor.empty())
      l.error(t.get("successor"), p + ".successor", "must not be empty");
    if (l.required_string(t, p, "file", k.file) && k.file.front() != '/')
      l.error(t.get("file"), p + ".file", "must be an absolute path");
    // Two files behind one DNS record: only one of them can verify.
    if (load_key_record(l, t, p, k)) {
      std::string rec = ascii::lower(k.selector) + "._domainkey." + k.domain;
      if (auto [it, fresh] = records.emplace(rec, i); !fresh)
        l.error(t.get("selector"), p + ".selector",
                "key[" + std::to_string(it->second) + "] is already published at " + rec);
    }
    c.keys.push_back(std::move(k));
  });
  check_successors(l, tables, names, c);
}

// [dkim_sign]: key_check_interval (seconds, 1 s to a week).
void load_dkim_sign(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "dkim_sign", {"key_check_interval"});
  if (!t) return;
  l.get_seconds(*t, "dkim_sign", "key_check_interval", c.dkim_sign.key_check_interval, 1,
                7 * 86400);
}

// -------------------------------------------------------- signature options

// canonicalization = "header/body" (RFC 6376 §3.5 c=).
void load_canonicalization(Loader& l, const toml::table& t, const std::string& p,
                           SignatureOptions& o) {
  std::string canon;
  if (!l.get_string(t, p, "canonicalization", canon)) return;
  auto parse = [](std::string_view s) -> std::optional<Canon> {
    if (s == "simple") return Canon::Simple;
    if (s == "relaxed") return Canon::Relaxed;
    return std::nullopt;
  };
  auto slash = canon.find('/');
  auto h = parse(std::string_view(canon).substr(0, slash));
  // RFC 6376 §3.5 c=: a header algorithm alone means body "simple".
  auto b = slash == std::string::npos ? std::optional<Canon>(Canon::Simple)
                                      : parse(std::string_view(canon).substr(slash + 1));
  if (h && b) {
    o.header_canon = h;
    o.body_canon = b;
  } else {
    l.error(t.get("canonicalization"), p + ".canonicalization",
            "'" + canon + "': want header/body, each simple or relaxed (\"relaxed/relaxed\")");
  }
}

// headers = [...] (h= candidates): field names, each once, From among them.
void load_signed_headers(Loader& l, const toml::table& t, const std::string& p,
                         SignatureOptions& o) {
  auto hs = l.get_strings(t, p, "headers");
  if (!hs) return;
  bool ok = true;
  if (hs->empty()) {
    ok = false;
    l.error(t.get("headers"), p + ".headers", "must not be empty");
  }
  for (std::size_t i = 0; i < hs->size(); ++i) {
    const auto& h = (*hs)[i];
    if (!field_name(h)) {
      ok = false;
      l.error(Loader::element(t, "headers", i), p + ".headers",
              "'" + h + "' is not a header field name (no colon, space or control)");
    } else if (std::any_of(hs->begin(), hs->begin() + static_cast<std::ptrdiff_t>(i),
                           [&](auto& x) { return ascii::iequals(x, h); })) {
      ok = false;
      l.error(Loader::element(t, "headers", i), p + ".headers",
              "'" + h + "' is listed twice (oversign signs an extra instance)");
    }
  }
  if (!hs->empty() && !contains_name(*hs, "From")) {
    ok = false;
    l.error(t.get("headers"), p + ".headers", "must include From (RFC 6376 §5.4)");
  }
  if (ok) o.headers = std::move(hs);
}

// The option keys shared by [[signing]] and [[signing.signature]].
void load_signature_options(Loader& l, const toml::table& t, const std::string& p,
                            SignatureOptions& o) {
  load_canonicalization(l, t, p, o);
  load_signed_headers(l, t, p, o);
  if (auto os = l.get_strings(t, p, "oversign")) {
    bool ok = true;
    for (std::size_t i = 0; i < os->size(); ++i)
      if (!field_name((*os)[i])) {
        ok = false;
        l.error(Loader::element(t, "oversign", i), p + ".oversign",
                "'" + (*os)[i] + "' is not a header field name (no colon, space or control)");
      }
    if (ok) o.oversign = std::move(os);
  }
  if (t.get("expire")) {
    Seconds x{0};
    std::size_t before = l.errors().size();
    // Up to ten years; 0 means no x= tag.
    l.get_seconds(t, p, "expire", x, 0, 10ull * 366 * 86400);
    if (l.errors().size() == before) o.expire = x;
  }
  std::string id;
  if (l.get_string(t, p, "identity", id)) {
    // "" is an explicit "no i=", so that a signature can drop the rule's.
    std::string why = id.empty() ? "" : check_identity(id);
    if (why.empty()) o.identity = id;
    else l.error(t.get("identity"), p + ".identity", "'" + id + "': " + why);
  }
  if (t.get("sign_if_signed")) {
    bool v = true;
    std::size_t before = l.errors().size();
    l.get_bool(t, p, "sign_if_signed", v);
    if (l.errors().size() == before) o.sign_if_signed = v;
  }
}

// --------------------------------------------------------------- [[signing]]

// Where a signature of a rule came from, for errors.
struct Origin {
  const toml::node* key_node;
  std::string key_path;
  const toml::table* table;  // [[signing.signature]], or nullptr for keys = [...]
  std::string path;
};

void load_rule_match(Loader& l, const toml::table& t, const std::string& p, SigningRule& rule) {
  auto ms = l.get_strings(t, p, "match");
  if (!ms) {
    if (!t.get("match")) l.error(&t, p + ".match", "missing");
    return;
  }
  if (ms->empty()) l.error(t.get("match"), p + ".match", "must not be empty");
  for (std::size_t i = 0; i < ms->size(); ++i) {
    std::string why = check_pattern((*ms)[i]);
    if (!why.empty())
      l.error(Loader::element(t, "match", i), p + ".match",
              why + " (want \"user@domain\", \"domain\", \".domain\" or \".\")");
  }
  rule.match = std::move(*ms);
}

// A rule's signatures: keys = [...], then [[signing.signature]].
std::vector<Origin> load_rule_signatures(Loader& l, const toml::table& t, const std::string& p,
                                         SigningRule& rule) {
  std::vector<Origin> origins;
  if (auto ks = l.get_strings(t, p, "keys")) {
    for (std::size_t i = 0; i < ks->size(); ++i) {
      rule.signatures.push_back(SignatureConfig{(*ks)[i], {}});
      origins.push_back({Loader::element(t, "keys", i), p + ".keys", nullptr, p});
    }
  }
  if (auto sigs = l.array_of_tables(t, p, "signature")) {
    std::size_t si = 0;
    for (auto&& se : *sigs) {
      const toml::table& st = *se.as_table();
      std::string sp = p + ".signature[" + std::to_string(si++) + "]";
      l.check_keys(st, sp, {"key", "canonicalization", "headers", "oversign", "expire",
                            "identity", "sign_if_signed"});
      SignatureConfig sig;
      bool named = l.required_string(st, sp, "key", sig.key);
      load_signature_options(l, st, sp, sig.options);
      if (!named) continue;
      rule.signatures.push_back(std::move(sig));
      origins.push_back({st.get("key"), sp + ".key", &st, sp});
    }
  }
  if (rule.signatures.empty() && !t.get("signature") && !t.get("keys"))
    l.error(&t, p + ".keys", "no signature: give keys = [...] or [[signing.signature]]");
  else if (rule.signatures.empty() && !t.get("signature"))
    l.error(t.get("keys"), p + ".keys", "must name at least one key");
  return origins;
}

// Checks that need the key and the resolved options of each signature;
// each problem once per rule.
void check_rule_signatures(Loader& l, const toml::table& t, const std::string& p,
                           const SigningRule& rule, const std::vector<Origin>& origins,
                           const std::map<std::string, const KeyConfig*>& keys) {
  std::set<std::string> reported;
  auto once = [&](const toml::node* n, const std::string& key, const std::string& what) {
    if (reported.insert(key + "\n" + what).second) l.error(n, key, what);
  };
  for (std::size_t i = 0; i < rule.signatures.size(); ++i) {
    const auto& sig = rule.signatures[i];
    const auto& o = origins[i];
    for (std::size_t j = 0; j < i; ++j)
      if (rule.signatures[j].key == sig.key)
        once(o.key_node, o.key_path,
             "key '" + sig.key + "' signs twice in this rule (one signature per key)");
    auto k = keys.find(sig.key);
    if (k == keys.end()) {
      once(o.key_node, o.key_path, "no [[key]] named '" + sig.key + "'");
      continue;
    }
    // The level an option came from: the signature's table, else the rule's.
    auto from = [&](std::string_view opt, bool at_signature) {
      return at_signature ? std::pair(o.table->get(opt), o.path + "." + std::string(opt))
                          : std::pair(t.get(opt), p + "." + std::string(opt));
    };
    auto eff = resolve_options(sig.options, rule.options);
    if (!eff.identity->empty()) {
      auto d = identity_domain(*eff.identity);
      if (!within_domain(d, k->second->domain)) {
        auto [n, key] = from("identity", o.table && sig.options.identity);
        once(n, key,
             "identity '" + *eff.identity + "' is outside key '" + sig.key + "''s domain " +
                 k->second->domain + " (i= must be in d= or a subdomain, RFC 6376 §3.5)");
      }
    }
    if (sig.options.oversign || rule.options.oversign) {
      auto [n, key] = from("oversign", o.table && sig.options.oversign);
      for (auto& h : *eff.oversign)
        if (!contains_name(*eff.headers, h))
          once(n, key, "'" + h + "' is not among the signed headers");
    }
  }
}

// [[signing]] with its [[signing.signature]]; needs c.keys loaded.
void load_signing(Loader& l, const toml::table& root, Config& c) {
  std::map<std::string, const KeyConfig*> keys;
  for (auto& k : c.keys)
    if (!k.name.empty()) keys.emplace(k.name, &k);
  l.for_each_table(root, "signing", [&](const toml::table& t, std::size_t i) {
    std::string p = "signing[" + std::to_string(i) + "]";
    l.check_keys(t, p, {"match", "keys", "signature", "canonicalization", "headers", "oversign",
                        "expire", "identity", "sign_if_signed"});
    SigningRule rule;
    load_rule_match(l, t, p, rule);
    load_signature_options(l, t, p, rule.options);
    auto origins = load_rule_signatures(l, t, p, rule);
    check_rule_signatures(l, t, p, rule, origins, keys);
    c.signing.push_back(std::move(rule));
  });
}

// -------------------------------------------------------------------- [dns]

// static_records = [ { name, txt }, ... ] of [dns].
void load_static_records(Loader& l, const toml::table& t, Config& c) {
  const toml::node* n = t.get("static_records");
  if (!n) return;
  auto arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    l.error(n, "dns.static_records",
            "must be an array of tables ([ { name = \"...\", txt = \"...\" }, ... ])");
    return;
  }
  std::size_t i = 0;
  for (auto&& e : *arr) {
    const toml::table& st = *e.as_table();
    std::string sp = "dns.static_records[" + std::to_string(i++) + "]";
    l.check_keys(st, sp, {"name", "txt"});
    StaticTxt r;
    bool named = l.required_string(st, sp, "name", r.name);
    if (named && !valid_lookup_name(r.name)) {
      l.error(st.get("name"), sp + ".name", "'" + r.name + "' is not a valid DNS name");
      named = false;
    }
    bool has_txt = l.get_string(st, sp, "txt", r.txt);
    if (!has_txt && !st.get("txt")) l.error(&st, sp + ".txt", "missing");
    if (!named || !has_txt) continue;
    r.name = ascii::lower(r.name);
    if (r.name.ends_with('.')) r.name.pop_back();
    c.dns.static_records.push_back(std::move(r));
  }
}

// [dns] with its [[dns.static_records]] (or static_records = [ {...}, ... ]).
void load_dns(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "dns", {"servers", "timeout_ms", "attempts", "max_concurrent",
                                   "max_concurrent_per_domain", "negative_ttl", "max_ttl", "cache_entries", "static_records"});
  if (!t) return;
  const char* p = "dns";
  if (auto ss = l.get_strings(*t, p, "servers")) {
    for (std::size_t i = 0; i < ss->size(); ++i) {
      auto r = parse_dns_server((*ss)[i]);
      if (r) c.dns.servers.push_back(r.value());
      else l.error(Loader::element(*t, "servers", i), "dns.servers", r.error().message);
    }
  }
  std::uint64_t ms = static_cast<std::uint64_t>(c.dns.timeout.count());
  l.get_uint(*t, p, "timeout_ms", ms, 1, 60000);
  c.dns.timeout = std::chrono::milliseconds(ms);
  l.get_uint(*t, p, "attempts", c.dns.attempts, 1, 10);
  l.get_uint(*t, p, "max_concurrent", c.dns.max_concurrent, 1, 65536);
  l.get_uint(*t, p, "max_concurrent_per_domain", c.dns.max_concurrent_per_domain, 1, 65536);
  l.get_seconds(*t, p, "negative_ttl", c.dns.negative_ttl, 0, 7 * 86400);
  l.get_seconds(*t, p, "max_ttl", c.dns.max_ttl, 0, 7 * 86400);
  l.get_uint(*t, p, "cache_entries", c.dns.cache_entries, 0, 10000000);
  load_static_records(l, *t, c);
}

// ------------------------------------------------------------- verification

// [dkim_verify]; authserv_id defaults to smtp.hostname.
void load_dkim_verify(Loader& l, const toml::table& root, Config& c) {
  c.verify.authserv_id = c.smtp.hostname;
  auto t = l.section(root, "dkim_verify", {"authserv_id", "max_signatures", "min_key_bits",
                                           "accept_partial_body", "clock_drift",
                                           "whitelist_min_key_bits"});
  if (!t) return;
  const char* p = "dkim_verify";
  if (l.get_string(*t, p, "authserv_id", c.verify.authserv_id)) {
    // RFC 8601 §2.2: authserv-id is a value (token or quoted-string); we
    // write it as a token, so only token characters are allowed.
    const auto& id = c.verify.authserv_id;
    bool ok = !id.empty() && id.size() <= 255 && std::all_of(id.begin(), id.end(), [](char ch) {
      return ch > 32 && ch < 127 && !std::strchr("()<>@,;:\\\"/[]?=", ch);
    });
    if (!ok)
      l.error(t->get("authserv_id"), "dkim_verify.authserv_id",
              "must be a host name or other RFC 2045 token (no spaces, no ()<>@,;:\\\"/[]?=)");
  }
  l.get_uint(*t, p, "max_signatures", c.verify.max_signatures, 1, 64);
  l.get_uint(*t, p, "min_key_bits", c.verify.min_key_bits, 512, 16384);
  l.get_bool(*t, p, "accept_partial_body", c.verify.accept_partial_body);
  l.get_seconds(*t, p, "clock_drift", c.verify.clock_drift, 0, 86400);
  l.get_uint(*t, p, "whitelist_min_key_bits", c.verify.whitelist_min_key_bits, 512, 16384);
}

// One [[dkim_whitelist]] rule, the i-th (banks loaded).
WhitelistRule load_whitelist_rule(Loader& l, const toml::table& t, std::size_t i,
                                  const Config& c) {
  std::string p = "dkim_whitelist[" + std::to_string(i) + "]";
  l.check_keys(t, p, {"match", "banks"});
  WhitelistRule r;
  r.index = i;
  if (auto ms = l.get_strings(t, p, "match")) {
    if (ms->empty()) l.error(t.get("match"), p + ".match", "must not be empty");
    for (std::size_t k = 0; k < ms->size(); ++k) {
      auto w = parse_whitelist_pattern((*ms)[k]);
      if (w) r.match.push_back(std::move(w.value()));
      else l.error(Loader::element(t, "match", k), p + ".match", w.error().message);
    }
  } else if (!t.get("match")) {
    l.error(&t, p + ".match", "missing");
  }
  if (auto bs = l.get_strings(t, p, "banks")) {
    if (bs->empty()) l.error(t.get("banks"), p + ".banks", "must not be empty");
    for (std::size_t k = 0; k < bs->size(); ++k) {
      if (!c.banks.count((*bs)[k]))
        l.error(Loader::element(t, "banks", k), p + ".banks", "no such bank '" + (*bs)[k] + "'");
    }
    r.banks = std::move(*bs);
  } else if (!t.get("banks")) {
    l.error(&t, p + ".banks", "missing");
  }
  return r;
}

void load_dkim_whitelist(Loader& l, const toml::table& root, Config& c) {
  l.for_each_table(root, "dkim_whitelist", [&](const toml::table& t, std::size_t i) {
    c.whitelist.push_back(load_whitelist_rule(l, t, i, c));
  });
}

}  // namespace

void load_dkim_sections(Loader& l, const toml::table& root, Config& c) {
  for (auto load : {load_keys, load_signing, load_dkim_sign, load_dns, load_dkim_verify, load_dkim_whitelist})
    load(l, root, c);
}

}  // namespace detail

}  // namespace sigil::conf
