// keys/signing_table.cpp — the signing table: addr-spec extraction from From
// and Sender (RFC 5322 §3.4 with the obsolete forms of §4.4, RFC 6532), and
// the index of match patterns built from conf/'s [[key]] and [[signing]];
// see signing_table.hpp.
// Does not: sign (dkim/) or look at DNS.
#include "keys/signing_table.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "conf/ascii.hpp"
#include "keys/key_owner.hpp"

namespace sigil::keys {

namespace {

constexpr std::size_t npos = static_cast<std::size_t>(-1);

// RFC 5322 §3.2.3 atext, plus UTF-8 bytes (RFC 6532 §3.2).
bool atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr) || c >= 0x80;
}

bool dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i + 1] == '.') return false;
    } else if (!atext(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

// "local@domain" lower-cased, with the envelope's angle brackets and a
// trailing root dot removed; "" when it is not an address with a domain.
std::string normalize_address(std::string_view a) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0) return "";
  std::string out = ascii::lower(a);
  if (out.back() == '.') out.pop_back();
  if (out.size() <= at + 1) return "";
  return out;
}

// ------------------------------------------------------------ address parser

enum class Tok { Atom, Quoted, Literal, Special, Bad };

struct Token {
  Tok type;
  std::string text;  // Atom/Literal as written, Quoted unescaped, Special its char
  bool is(char c) const { return type == Tok::Special && text.size() == 1 && text[0] == c; }
};

// Splits a field value into RFC 5322 lexical tokens, dropping CFWS (folding
// included).  Something unlexable (a stray ')' or '\', a control character,
// an unterminated quote, comment or literal) becomes a Bad token; an
// unterminated construct ends the scan.
std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '(') {
      int depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\') ++i;  // quoted-pair
        else if (s[i] == '(') ++depth;
        else if (s[i] == ')' && --depth == 0) break;
      }
      if (i >= s.size()) {
        out.push_back({Tok::Bad, "("});
        return out;
      }
      ++i;
    } else if (c == '"') {
      std::string q;
      bool closed = false;
      for (++i; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) q += s[++i];
        else if (s[i] == '"') {
          closed = true;
          ++i;
          break;
        } else if (s[i] != '\r' && s[i] != '\n') q += s[i];  // unfold: CRLF goes, WSP stays
      }
      if (!closed) {
        out.push_back({Tok::Bad, "\""});
        return out;
      }
      out.push_back({Tok::Quoted, std::move(q)});
    } else if (c == '[') {
      std::string lit = "[";
      bool closed = false;
      for (++i; i < s.size(); ++i) {
        char d = s[i];
        if (d == ']') {
          closed = true;
          ++i;
          break;
        }
        if (d == '[' || d == '\\') break;
        if (d != ' ' && d != '\t' && d != '\r' && d != '\n') lit += d;
      }
      if (!closed) {
        out.push_back({Tok::Bad, "["});
        return out;
      }
      out.push_back({Tok::Literal, lit + "]"});
    } else if (atext(c)) {
      std::size_t start = i;
      while (i < s.size() && atext(static_cast<unsigned char>(s[i]))) ++i;
      out.push_back({Tok::Atom, std::string(s.substr(start, i - start))});
    } else if (std::strchr("<>@,:;.", c) != nullptr && c != 0) {
      out.push_back({Tok::Special, std::string(1, static_cast<char>(c))});
      ++i;
    } else {
      out.push_back({Tok::Bad, std::string(1, static_cast<char>(c))});
      ++i;
    }
  }
  return out;
}

using Span = std::vector<Token>::const_iterator;

// addr-spec = local-part "@" domain, the whole span; "" if it is not one.
// local-part is word *("." word) (dot-atom, quoted-string and the obsolete
// mix of §4.4); domain is a dot-atom or a domain-literal.
std::string addr_spec(Span b, Span e) {
  auto at = std::find_if(b, e, [](const Token& t) { return t.is('@'); });
  if (at == b || at == e || at + 1 == e) return "";
  std::string local;
  bool want_word = true;
  for (auto it = b; it != at; ++it) {
    if (want_word && (it->type == Tok::Atom || it->type == Tok::Quoted)) local += it->text;
    else if (!want_word && it->is('.')) local += '.';
    else return "";
    want_word = !want_word;
  }
  if (want_word) return "";  // ends with a dot
  std::string domain;
  if (at + 2 == e && (at + 1)->type == Tok::Literal) {
    domain = (at + 1)->text;
  } else {
    want_word = true;
    for (auto it = at + 1; it != e; ++it) {
      if (want_word && it->type == Tok::Atom) domain += it->text;
      else if (!want_word && it->is('.')) domain += '.';
      else return "";
      want_word = !want_word;
    }
    if (want_word) return "";
  }
  if (!dot_atom(local)) {
    std::string q = "\"";
    for (char c : local) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    local = q + "\"";
  }
  return local + "@" + ascii::lower(domain);
}

// One mailbox (or a group's display name, or junk): the angle-addr if there
// is one, else the whole span as an addr-spec.
std::string mailbox(Span b, Span e) {
  auto open = std::find_if(b, e, [](const Token& t) { return t.is('<'); });
  if (open == e) return addr_spec(b, e);
  auto close = std::find_if(open + 1, e, [](const Token& t) { return t.is('>'); });
  if (close == e) return "";
  Span ib = open + 1;
  // obs-route: "<@relay.example,@other.example:user@example.com>".
  if (ib != close && ib->is('@')) {
    auto colon = std::find_if(ib, close, [](const Token& t) { return t.is(':'); });
    if (colon == close) return "";
    ib = colon + 1;
  }
  return addr_spec(ib, close);
}

}  // namespace

std::string parse_address(std::string_view value) {
  auto toks = tokenize(value);
  // Mailboxes are separated by ',' and, for groups, by the ':' after the
  // group's name and the closing ';'; none of these count inside <...>.
  bool in_angle = false;
  Span start = toks.begin();
  for (auto it = toks.begin();; ++it) {
    if (it != toks.end()) {
      if (it->is('<')) in_angle = true;
      else if (it->is('>')) in_angle = false;
      if (in_angle || !(it->is(',') || it->is(':') || it->is(';'))) continue;
    }
    if (std::string a = mailbox(start, it); !a.empty()) return a;
    if (it == toks.end()) return "";
    start = it + 1;
  }
}

// ------------------------------------------------------------ the table

void SigningTable::index(std::size_t v) {
  const std::string& p = views_[v].pattern;
  if (p == ".") {
    if (!any_) any_ = v;
  } else if (p.front() == '.') {
    subtree_.emplace(p.substr(1), v);  // emplace keeps the first (earliest) view
  } else if (p.find('@') != std::string::npos) {
    exact_.emplace(p, v);
  } else {
    domain_.emplace(p, v);
  }
}

std::size_t SigningTable::lookup(std::string_view address) const {
  std::string a = normalize_address(address);
  if (a.empty()) return npos;
  std::string_view domain = std::string_view(a).substr(a.rfind('@') + 1);
  std::size_t best = any_.value_or(npos);
  auto probe = [&best](const Index& idx, std::string_view key) {
    if (auto it = idx.find(key); it != idx.end()) best = std::min(best, it->second);
  };
  probe(exact_, a);
  probe(domain_, domain);
  // ".example.com" matches example.com and every name below it: probe each
  // suffix that starts at a label boundary.
  for (std::string_view d = domain;;) {
    probe(subtree_, d);
    auto dot = d.find('.');
    if (dot == std::string_view::npos) break;
    d.remove_prefix(dot + 1);
  }
  return best;
}

std::size_t SigningTable::covering(std::string_view p) const {
  if (p == ".") return any_.value_or(npos);
  if (p.front() == '.') {
    // ".x" is covered by "." or ".x" or ".parent-of-x", never by "x" alone.
    std::size_t best = any_.value_or(npos);
    for (std::string_view d = p.substr(1);;) {
      if (auto it = subtree_.find(d); it != subtree_.end()) best = std::min(best, it->second);
      auto dot = d.find('.');
      if (dot == std::string_view::npos) break;
      d.remove_prefix(dot + 1);
    }
    return best;
  }
  // A domain pattern stands for its addresses: probe with a local part no
  // exact-address pattern can have.
  if (p.find('@') == std::string_view::npos)
    return lookup("\"\"@" + std::string(p));
  return lookup(p);
}

const SigningRuleView* SigningTable::match(std::string_view author, std::string_view sender,
                                           std::string_view envelope_from,
                                           std::string* which) const {
  const std::pair<std::string_view, const char*> tries[] = {
      {author, "author"}, {sender, "sender"}, {envelope_from, "envelope"}};
  for (auto& [address, name] : tries) {
    std::size_t v = lookup(address);
    if (v == npos) continue;
    if (which) *which = name;
    return &views_[v];
  }
  return nullptr;
}

std::map<std::string, std::size_t> SigningTable::load_keys(
    const std::vector<conf::KeyConfig>& keys, uid_t daemon_uid, std::vector<std::string>& errors) {
  // Each file is read once, whatever number of [[key]] names it.
  std::map<std::string, Result<KeyPtr>> files;
  std::map<std::string, std::size_t> by_name;
  for (auto& k : keys) {
    std::string where = "key " + k.name + " (" + k.file + ")";
    if (!by_name.emplace(k.name, keys_.size()).second) {
      errors.push_back(where + ": duplicate key name");
      continue;
    }
    auto it = files.find(k.file);
    if (it == files.end()) it = files.emplace(k.file, load_private_key(k.file, daemon_uid)).first;
    const auto& r = it->second;
    if (!r) {
      // load_private_key's messages start with the file name: say it once.
      std::string why = r.error().message;
      if (why.starts_with(k.file + ": ")) why.erase(0, k.file.size() + 2);
      errors.push_back(where + ": " + why);
    } else if (r.value()->weak()) {
      warnings_.push_back(where + ": RSA " + std::to_string(r.value()->bits()) +
                          " bits is below 2048 (RFC 8301 allows 1024, recommends 2048)");
    }
    keys_.push_back(
        KeyEntry{k.name, k.file, ascii::lower(k.domain), k.selector, r ? r.value() : nullptr});
  }
  for (std::size_t i = 0, j = 0; i < keys.size() && j < keys_.size(); ++i) {
    if (keys[i].name != keys_[j].name) continue;  // a duplicate left out above
    if (auto s = by_name.find(keys[i].successor); s != by_name.end()) keys_[j].successor = s->second;
    ++j;
  }
  return by_name;
}

void SigningTable::add_rule(std::size_t ri, const conf::SigningRule& rule,
                            const std::map<std::string, std::size_t>& key_index,
                            std::vector<std::string>& errors) {
  std::string where = "signing[" + std::to_string(ri) + "]";
  std::vector<ResolvedSignature> sigs;
  bool ok = true;
  for (auto& s : rule.signatures) {
    auto it = key_index.find(s.key);
    if (it == key_index.end()) {
      errors.push_back(where + ": no [[key]] named '" + s.key + "'");
      ok = false;
      continue;
    }
    const KeyEntry& k = keys_[it->second];
    auto o = conf::resolve_options(s.options, rule.options);
    sigs.push_back(ResolvedSignature{k.name, k.key, k.domain, k.selector, *o.header_canon,
                                     *o.body_canon, *o.headers, *o.oversign, *o.expire,
                                     *o.identity, *o.sign_if_signed, it->second});
  }
  if (rule.signatures.empty()) {
    errors.push_back(where + ": no signature");
    ok = false;
  }
  for (auto& m : rule.match) {
    std::string p = ascii::lower(m);
    if (p.empty() || (p != "." && (p.back() == '.' || p.back() == '@' || p.front() == '@' ||
                                   p.starts_with("..")))) {
      errors.push_back(where + ": bad match pattern '" + m + "'");
      ok = false;
    }
  }
  if (!ok) return;
  if (std::all_of(sigs.begin(), sigs.end(),
                  [](auto& s) { return s.key && s.key->type() == KeyType::Ed25519; }))
    warnings_.push_back(where +
                        ": signs with Ed25519 only; verifiers without RFC 8463 support "
                        "see an unsigned message: add an RSA key");
  // Check this rule's patterns against the earlier rules only, then index them.
  std::size_t first = views_.size();
  for (auto& m : rule.match) {
    std::string p = ascii::lower(m);
    if (std::size_t v = covering(p); v != npos)
      warnings_.push_back(where + ": pattern '" + p + "' never decides: signing[" +
                          std::to_string(views_[v].index) + "] ('" + views_[v].pattern +
                          "') matches first");
    views_.push_back(SigningRuleView{ri, std::move(p), sigs});
  }
  for (std::size_t v = first; v < views_.size(); ++v) index(v);
}

std::vector<std::size_t> SigningTable::successors() const {
  std::vector<std::size_t> out;
  out.reserve(keys_.size());
  for (const auto& k : keys_) out.push_back(k.successor);
  return out;
}

const SigningTable::KeyEntry& SigningTable::signer_for(std::size_t index,
                                                       const InEffect* snapshot) const {
  if (snapshot && index < snapshot->size() && (*snapshot)[index] < keys_.size())
    return keys_[(*snapshot)[index]];
  return keys_[index];
}

Result<std::shared_ptr<const SigningTable>> SigningTable::load(const conf::Config& cfg) {
  std::shared_ptr<SigningTable> t(new SigningTable());
  std::vector<std::string> errors;
  // A key file may be owned by root or the daemon user (key_owner.hpp).
  auto uid = daemon_uid(cfg.daemon.user);
  if (!uid && !cfg.keys.empty()) return uid.error();
  const auto key_index = t->load_keys(cfg.keys, uid ? uid.value() : 0, errors);
  // Rules: one view per (rule, pattern), all sharing the rule's signatures.
  for (std::size_t ri = 0; ri < cfg.signing.size(); ++ri)
    t->add_rule(ri, cfg.signing[ri], key_index, errors);

  if (!errors.empty()) {
    std::string msg;
    for (auto& e : errors) {
      if (!msg.empty()) msg += '\n';
      msg += e;
    }
    return make_error(ErrorKind::Config, msg);
  }
  return std::shared_ptr<const SigningTable>(std::move(t));
}

}  // namespace sigil::keys
