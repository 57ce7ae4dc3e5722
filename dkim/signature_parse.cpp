// dkim/signature_parse.cpp — DKIM-Signature tag lists and the checks Sigil
// makes on them before a key is looked up (RFC 6376 §3.2, §3.5, §5.4,
// §6.1.1; RFC 8301, RFC 8463 for a=; RFC 6008 for header.b).  Sigil parses
// every field itself because libopendkim is lenient where RFC 6376 is not
// (see verifier.cpp).  Interface in signature_parse.hpp.
// Does not: verify, canonicalize, read key records' tags, or do any I/O.
#include "dkim/signature_parse.hpp"

#include <algorithm>
#include <set>

#include "conf/ascii.hpp"

namespace sigil::dkim::detail {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string strip_fws(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s)
    if (!ascii::is_space(c)) o += c;
  return o;
}

// ------------------------------------------------------------- tag lists

bool parse_tag_list(std::string_view s, TagList& out, std::string& error) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  std::set<std::string> seen;
  for (;;) {
    while (i < n && ascii::is_space(s[i])) ++i;
    if (i == n) return true;
    if (!is_alpha(s[i])) {
      error = s[i] == ';' ? "empty tag" : "bad tag name";
      return false;
    }
    std::size_t start = i;
    while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_')) ++i;
    std::string name(s.substr(start, i - start));
    while (i < n && ascii::is_space(s[i])) ++i;
    if (i == n || s[i] != '=') {
      error = "tag " + name + " without '='";
      return false;
    }
    ++i;
    start = i;
    while (i < n && s[i] != ';') {
      auto c = static_cast<unsigned char>(s[i]);
      if (!ascii::is_space(s[i]) && (c < 0x21 || c > 0x7e)) {
        error = "invalid character in tag " + name;
        return false;
      }
      ++i;
    }
    std::string value(ascii::trim(s.substr(start, i - start)));
    if (!seen.insert(name).second) {
      error = "duplicate tag " + name;
      return false;
    }
    out.tags.emplace_back(std::move(name), std::move(value));
    if (i < n) ++i;  // the ';'
  }
}

// ---------------------------------------------------------- small checks

// A DNS name as d= and s= may carry it: labels of letters, digits, '-' and
// '_' (seen in real selectors), 1..63 octets each, no empty label (so no
// leading, trailing or doubled dot).  Anything else — `legitimate.com(.x`,
// spaces, 8-bit — is refused before a lookup is even considered.
bool valid_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

namespace {

bool is_base64(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '=')) return false;
  return true;
}

bool all_digits(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(), is_digit);
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) {
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return UINT64_MAX;
    v = v * 10 + d;
  }
  return v;
}

int hexval(char c) {
  if (is_digit(c)) return c - '0';
  c = ascii::lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// dkim-quoted-printable (RFC 6376 §2.11), FWS removed.  False when an '='
// is not followed by two hex digits.
bool dkim_qp_decode(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (ascii::is_space(c)) continue;
    if (c == '=') {
      if (i + 2 >= s.size() || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return false;
      out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
      continue;
    }
    out += c;
  }
  return true;
}

}  // namespace

std::string_view field_name(std::string_view field) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return {};
  auto n = field.substr(0, colon);
  while (!n.empty() && is_wsp(n.back())) n.remove_suffix(1);
  return n;
}

// ---------------------------------------------------- parsed signatures

std::string key_qname(std::string_view selector, std::string_view domain) {
  return ascii::lower(selector) + "._domainkey." + ascii::lower(domain);
}

namespace {

// The items of a colon-separated list (h=, q=), empty ones included.
std::vector<std::string_view> colon_list(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto next = s.find(':');
    out.push_back(s.substr(0, next));
    if (next == std::string_view::npos) return out;
    s.remove_prefix(next + 1);
  }
}

// The checks of one tag (or a few) below return the A-R reason of the
// problem they find, "" when there is none.

// v=1 (RFC 6376 §3.5) and every required tag present.
std::string check_version_and_required(const TagList& t) {
  auto v = t.find("v");
  if (!v) return "v= missing (pre-RFC 6376 signature)";
  if (*v != "1") return "unsupported version v=" + *v;
  for (const char* req : {"a", "b", "bh", "d", "h", "s"})
    if (!t.find(req)) return std::string(req) + "= missing";
  return {};
}

// a=: rsa-sha256, rsa-sha1 (RFC 6376 §3.3) or ed25519-sha256 (RFC 8463).
std::string read_algorithm(ParsedSig& p) {
  std::string a = ascii::lower(p.algorithm);
  if (a == "rsa-sha256") return {};
  if (a == "rsa-sha1") {
    p.sha1 = true;
    return {};
  }
  if (a == "ed25519-sha256") {
    p.rsa = false;
    return {};
  }
  return "unsupported algorithm a=" + p.algorithm;
}

// c=: header/body, each simple or relaxed; the body's defaults to simple.
std::string read_canonicalization(const std::string* c, ParsedSig& p) {
  if (!c) return {};
  std::string cv = ascii::lower(strip_fws(*c));
  auto slash = cv.find('/');
  std::string hc = cv.substr(0, slash);
  std::string bc = slash == std::string::npos ? "simple" : cv.substr(slash + 1);
  auto known = [](const std::string& x) { return x == "simple" || x == "relaxed"; };
  if (!known(hc) || !known(bc)) return "unsupported canonicalization c=" + *c;
  p.body_canon = bc == "relaxed" ? Canon::Relaxed : Canon::Simple;
  return {};
}

// d= and s= are DNS names, and so is the key's name made of them.
std::string check_key_name(const ParsedSig& p, std::string& qname) {
  if (!valid_dns_name(p.domain)) return "invalid domain d=" + p.domain;
  if (!valid_dns_name(p.selector)) return "invalid selector s=" + p.selector;
  qname = key_qname(p.selector, p.domain);
  if (qname.size() > 253) return "key name too long";
  return {};
}

// h= must list From (RFC 6376 §5.4, §6.1.1); every name must be non-empty.
std::string check_signed_headers(const std::string& h_tag) {
  const std::string h = strip_fws(h_tag);
  const auto names = colon_list(h);
  if (std::any_of(names.begin(), names.end(), [](auto n) { return n.empty(); }))
    return "malformed h= list";
  if (std::none_of(names.begin(), names.end(),
                   [](auto n) { return ascii::iequals(n, "from"); }))
    return "From field not signed";
  return {};
}

// i=: dkim-quoted-printable; its domain is d= or a subdomain of d= (§3.5).
std::string read_identity(const std::string* i, ParsedSig& p) {
  if (!i) return {};
  std::string id;
  if (!dkim_qp_decode(*i, id)) return "malformed i=";
  auto at = id.rfind('@');
  if (at == std::string::npos) return "malformed i=";
  std::string_view idom = std::string_view(id).substr(at + 1);
  if (!ascii::iequals(idom, p.domain) && !ascii::iends_with(idom, "." + p.domain))
    return "i= not within d=";
  p.identity = std::move(id);
  return {};
}

// l=: at most 76 digits (§3.5).
std::string read_body_length(const std::string* l, ParsedSig& p) {
  if (!l) return {};
  if (!all_digits(*l, 76)) return "malformed l=";
  p.l = to_u64(*l);
  return {};
}

// q=: "dns/txt" is the only method (RFC 6376 §3.5); bare "dns" is the
// pre-RFC spelling of the same thing.
std::string check_query_methods(const std::string* q) {
  if (!q) return {};
  const std::string qs = ascii::lower(strip_fws(*q));
  for (auto m : colon_list(qs))
    if (m == "dns/txt" || m == "dns") return {};
  return "unsupported query method q=" + *q;
}

// t= and x=: at most 20 digits each, x= after t= (§3.5).  Whether x= has
// passed is the library's check, at verification time.
std::string check_timestamps(const std::string* t, const std::string* x) {
  std::optional<std::uint64_t> ts, xs;
  if (t) {
    if (!all_digits(*t, 20)) return "malformed t=";
    ts = to_u64(*t);
  }
  if (x) {
    if (!all_digits(*x, 20)) return "malformed x=";
    xs = to_u64(*x);
  }
  if (ts && xs && *xs <= *ts) return "x= not after t=";
  return {};
}

// Every check Sigil makes on a parsed tag list before its key is looked up
// (RFC 6376 §3.5, §6.1.1), in order, filling `p` as it goes; on success also
// p.qname.  The A-R reason of the first problem, "" when there is none.
std::string check_tags(const TagList& t, ParsedSig& p) {
  if (auto why = check_version_and_required(t); !why.empty()) return why;
  if (auto why = read_algorithm(p); !why.empty()) return why;
  if (!is_base64(p.b)) return "b= empty or not base64";
  if (!is_base64(strip_fws(*t.find("bh")))) return "bh= empty or not base64";
  if (auto why = read_canonicalization(t.find("c"), p); !why.empty()) return why;
  std::string qname;
  if (auto why = check_key_name(p, qname); !why.empty()) return why;
  if (auto why = check_signed_headers(*t.find("h")); !why.empty()) return why;
  if (auto why = read_identity(t.find("i"), p); !why.empty()) return why;
  if (auto why = read_body_length(t.find("l"), p); !why.empty()) return why;
  if (auto why = check_query_methods(t.find("q")); !why.empty()) return why;
  if (auto why = check_timestamps(t.find("t"), t.find("x")); !why.empty()) return why;
  p.qname = std::move(qname);
  return {};
}

}  // namespace

ParsedSig parse_signature(std::string_view field) {
  ParsedSig p;
  auto colon = field.find(':');
  std::string_view value = colon == std::string_view::npos ? std::string_view{}
                                                           : field.substr(colon + 1);
  TagList t;
  std::string err;
  const bool parsed = parse_tag_list(value, t, err);
  // After a syntax error only what was read before it is kept, for the A-R
  // (header.d, header.s), nothing more.
  if (auto v = t.find("d")) p.domain = *v;
  if (auto v = t.find("s")) p.selector = *v;
  if (auto v = t.find("a")) p.algorithm = *v;
  if (!parsed) {
    p.error = "malformed signature: " + err;
    return p;
  }
  if (auto v = t.find("b")) p.b = strip_fws(*v);
  if (!p.domain.empty()) p.identity = "@" + p.domain;
  p.error = check_tags(t, p);
  p.ok = p.error.empty();
  return p;
}

std::string b_prefix(const std::vector<ParsedSig>& sigs, std::size_t i) {
  const std::string& b = sigs[i].b;
  if (b.empty()) return {};
  std::size_t len = 8;
  for (std::size_t j = 0; j < sigs.size(); ++j) {
    const std::string& o = sigs[j].b;
    if (j == i || o == b) continue;
    std::size_t c = 0;
    while (c < b.size() && c < o.size() && b[c] == o[c]) ++c;
    len = std::max(len, c + 1);
  }
  return b.substr(0, std::min(len, b.size()));
}
}  // namespace sigil::dkim::detail
