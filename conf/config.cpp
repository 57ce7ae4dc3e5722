// conf/config.cpp — TOML loading and validation (see config.hpp).
#include "conf/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include <re2/re2.h>

#include "conf/embedded_config.hpp"

namespace sigil {

const char* to_string(ErrorKind k) noexcept {
  switch (k) {
    case ErrorKind::Config: return "config";
    case ErrorKind::Io: return "io";
    case ErrorKind::Protocol: return "protocol";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Temporary: return "temporary";
    case ErrorKind::Permanent: return "permanent";
    case ErrorKind::Internal: return "internal";
  }
  return "?";
}

namespace conf {

std::string_view embedded_default() { return kEmbeddedConfig; }

const char* to_string(Category c) noexcept {
  auto i = static_cast<std::size_t>(c);
  return i < kCategoryNames.size() ? kCategoryNames[i].data() : "?";
}

const char* to_string(ListenerMode m) noexcept {
  switch (m) {
    case ListenerMode::AfterQueue: return "after-queue";
    case ListenerMode::Proxy: return "proxy";
    case ListenerMode::Milter: return "milter";
  }
  return "?";
}

const char* to_string(Destiny d) noexcept {
  switch (d) {
    case Destiny::Pass: return "pass";
    case Destiny::Discard: return "discard";
    case Destiny::Reject: return "reject";
    case Destiny::TempFail: return "tempfail";
    case Destiny::Bounce: return "bounce";
  }
  return "?";
}

Destiny default_destiny(Category c) noexcept {
  return c == Category::Virus || c == Category::Banned ? Destiny::Discard : Destiny::Pass;
}

// After Amavis's default $banned_filename_re, extended (README "Banned
// content"): Windows executables by content anywhere, anything else allowed
// inside Unix archives, then declared types, double extensions and
// executable extensions.
const BannedRuleSet& default_banned_rules() {
  static const BannedRuleSet s = [] {
    using A = BannedRule::Action;
    BannedRuleSet d;
    d.name = "default";
    BannedRule r;
    // 1: Windows executables and installers by content (libmagic).
    r = {};
    r.detected = R"(^application/(x-dosexec|vnd\.microsoft\.portable-executable|x-msdownload|x-ms-ne-executable|x-msi|x-ms-shortcut)$)";
    d.rules.push_back(r);
    // 2: names inside Unix archives (Amavis: rpm, cpio, tar) are allowed.
    r = {};
    r.action = A::Allow;
    r.inside = "^(rpm|cpio|tar)$";
    d.rules.push_back(r);
    // 3: declared executable types.
    r = {};
    r.type = R"(^application/(x-msdownload|x-msdos-program|x-ms-dos-executable|x-dosexec|vnd\.microsoft\.portable-executable|hta|x-ms-shortcut|x-msi)$)";
    d.rules.push_back(r);
    // 4: double extensions ("invoice.pdf.exe", "a.doc  .scr").
    r = {};
    r.name = R"(\.[^./]*[a-z][^./]*\.\s*(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)[.\s]*$)";
    d.rules.push_back(r);
    // 5: executable and script extensions Windows runs on a click.
    r = {};
    r.name = R"(.\.(exe|com|scr|pif|bat|cmd|vbs|vbe|js|jse|wsf|wsh|wsc|hta|cpl|msi|msp|mst|lnk|reg|jar|ps1|psm1|scf|inf|dll|chm|hlp|application|gadget|msc|sct|shb|shs)[.\s]*$)";
    d.rules.push_back(r);
    return d;
  }();
  return s;
}

// ---------------------------------------------------------------- addresses

std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view s) {
  std::array<std::uint8_t, 16> out{};
  std::string z(s);
  in_addr v4{};
  if (inet_pton(AF_INET, z.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, z.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

bool Cidr::contains(const std::array<std::uint8_t, 16>& ip) const noexcept {
  unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(ip.data(), addr.data(), full) != 0) return false;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (ip[full] & mask) == (addr[full] & mask);
}

Result<Cidr> parse_cidr(std::string_view s) {
  auto slash = s.find('/');
  std::string_view a = s.substr(0, slash);
  bool v4 = a.find(':') == std::string_view::npos;
  auto ip = parse_ip(a);
  if (!ip) return make_error(ErrorKind::Config, "not an IP address: '" + std::string(a) + "'");
  unsigned prefix = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || ptr != p.data() + p.size() || prefix > (v4 ? 32u : 128u))
      return make_error(ErrorKind::Config, "bad prefix length in '" + std::string(s) + "'");
  }
  Cidr c;
  c.addr = *ip;
  c.prefix = v4 ? prefix + 96 : prefix;
  // Clear host bits so that "10.1.2.3/8" means 10.0.0.0/8.
  for (unsigned i = 0; i < 128; ++i)
    if (i >= c.prefix) c.addr[i / 8] &= static_cast<std::uint8_t>(~(0x80 >> (i % 8)));
  return c;
}

static bool parse_port(std::string_view p, std::uint16_t& out, bool allow_zero = false) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc{} || ptr != p.data() + p.size() || (v == 0 && !allow_zero) || v > 65535)
    return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// "host:port" or "[v6]:port"; host must be numeric.
static bool split_host_port(std::string_view s, std::string& host, std::uint16_t& port,
                            bool brackets_required, bool allow_zero = false) {
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return false;
    host = std::string(s.substr(1, close - 1));
    return parse_port(s.substr(close + 2), port, allow_zero) && parse_ip(host).has_value();
  }
  if (brackets_required) return false;
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = std::string(s.substr(0, colon));
  if (host.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  return parse_port(s.substr(colon + 1), port, allow_zero) && parse_ip(host).has_value();
}

Result<ForwardTarget> parse_forward_target(std::string_view s) {
  ForwardTarget t;
  t.text = std::string(s);
  auto bad = [&](const char* why) {
    return make_error(ErrorKind::Config,
                      std::string(why) + ": '" + std::string(s) +
                          "' (want smtp:[host]:port, lmtp:[host]:port, lmtp:unix:/path or "
                          "maildir:/dir)");
  };
  if (s.starts_with("smtp:") || s.starts_with("lmtp:")) {
    bool lmtp = s.starts_with("lmtp:");
    auto rest = s.substr(5);
    if (lmtp && rest.starts_with("unix:")) {
      t.kind = ForwardTarget::Kind::LmtpUnix;
      t.path = std::string(rest.substr(5));
      if (t.path.empty() || t.path.front() != '/') return bad("socket path must be absolute");
      return t;
    }
    t.kind = lmtp ? ForwardTarget::Kind::Lmtp : ForwardTarget::Kind::Smtp;
    // Numeric hosts only: the back-end is local or named by address; Sigil does
    // no MX or A lookups for forwarding (that is the MTA's job).
    if (!split_host_port(rest, t.host, t.port, true)) return bad("bad [host]:port");
    return t;
  }
  if (s.starts_with("maildir:")) {
    t.kind = ForwardTarget::Kind::Maildir;
    t.path = std::string(s.substr(8));
    if (t.path.empty() || t.path.front() != '/') return bad("maildir path must be absolute");
    while (t.path.size() > 1 && t.path.back() == '/') t.path.pop_back();
    return t;
  }
  return bad("unknown target type");
}

Result<DnsServer> parse_dns_server(std::string_view s) {
  DnsServer d;
  d.text = std::string(s);
  // Bare addresses take port 53; IPv6 needs brackets ("::1:53" is an address).
  if (s.find(':') == std::string_view::npos && parse_ip(s)) {
    d.host = std::string(s);
    return d;
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']' && parse_ip(s.substr(1, s.size() - 2))) {
    d.host = std::string(s.substr(1, s.size() - 2));
    return d;
  }
  if (!split_host_port(s, d.host, d.port, false))
    return make_error(ErrorKind::Config, "bad DNS server '" + std::string(s) +
                                             "' (want 127.0.0.1, 127.0.0.1:53, [::1] or [::1]:53)");
  return d;
}

Result<AvScanner> parse_av_address(std::string_view s) {
  AvScanner a;
  a.address = std::string(s);
  if (s.starts_with("unix:")) {
    a.kind = AvScanner::Kind::Unix;
    a.path = std::string(s.substr(5));
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    if (a.path.empty() || a.path.front() != '/' || a.path.size() >= 108)
      return make_error(ErrorKind::Config,
                        "unix socket path must be absolute and under 108 bytes: '" +
                            std::string(s) + "'");
    return a;
  }
  a.kind = AvScanner::Kind::Tcp;
  // Numeric only: the scanner must not depend on DNS working.
  if (!split_host_port(s, a.host, a.port, false))
    return make_error(ErrorKind::Config, "bad scanner address '" + std::string(s) +
                                             "' (want unix:/path, 127.0.0.1:3310 or [::1]:3310)");
  return a;
}

Result<ListenAddress> parse_listen_address(std::string_view s) {
  ListenAddress a;
  a.text = std::string(s);
  if (s.starts_with("unix:")) {
    a.kind = ListenAddress::Kind::Unix;
    a.path = std::string(s.substr(5));
    if (a.path.empty() || a.path.front() != '/' || a.path.size() >= 104)
      return make_error(ErrorKind::Config,
                        "unix socket path must be absolute and under 104 bytes: '" +
                            std::string(s) + "'");
    return a;
  }
  a.kind = ListenAddress::Kind::Tcp;
  // Port 0 picks a free port (tests; the bound port is logged).
  if (!split_host_port(s, a.host, a.port, false, true))
    return make_error(ErrorKind::Config, "bad listen address '" + std::string(s) +
                                             "' (want 127.0.0.1:10024, [::1]:10024 or "
                                             "unix:/path)");
  return a;
}

// ---------------------------------------------------------------- signing

namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ascii_lower(a) == ascii_lower(b);
}

// LDH labels separated by dots (RFC 5321 §4.1.2 sub-domain, RFC 1035 §2.3.4
// lengths).  A DKIM d= needs at least two labels (RFC 6376 §3.5
// domain-name); a selector (§3.1) and a match pattern do not.
bool valid_dns_name(std::string_view d, bool need_dot) {
  if (d.empty() || d.size() > 253) return false;
  std::size_t labels = 0;
  for (std::size_t start = 0;;) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                               : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-'))
        return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !need_dot || labels >= 2;
}

// RFC 5322 §3.2.3 atext; bytes >= 0x80 for UTF-8 local parts (RFC 6532 §3.2).
bool atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr || c >= 0x80;
}

bool dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i + 1] == '.') return false;
    } else if (c == 0 || !atext(c)) {
      return false;
    }
  }
  return true;
}

// RFC 5322 §3.6.8 field-name: printable US-ASCII except colon.
bool field_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 33 || c > 126 || c == ':') return false;
  return true;
}

// Returns "" when valid, else why not.  Lower-cases `p` in place.
std::string check_pattern(std::string& p) {
  p = ascii_lower(p);
  if (p == ".") return "";
  if (p.starts_with('.')) {
    if (!valid_dns_name(std::string_view(p).substr(1), false))
      return "'" + p + "' is not '.' followed by a valid domain name";
    return "";
  }
  auto at = p.rfind('@');
  if (at == std::string::npos) {
    if (!valid_dns_name(p, false)) return "'" + p + "' is not a valid domain name";
    return "";
  }
  auto local = std::string_view(p).substr(0, at);
  auto domain = std::string_view(p).substr(at + 1);
  if (!dot_atom(local))
    return "'" + p + "': the local part must be a dot-atom (RFC 5322 §3.4.1)";
  if (!valid_dns_name(domain, false)) return "'" + p + "': not a valid domain name after '@'";
  return "";
}

// i= (RFC 6376 §3.5): [ Local-part ] "@" domain-name.  Returns "" when
// valid, else why not.  Lower-cases the domain in place.
std::string check_identity(std::string& id) {
  auto at = id.rfind('@');
  if (at == std::string::npos) return "must be \"@domain\" or \"user@domain\"";
  auto local = std::string_view(id).substr(0, at);
  if (!local.empty() && !dot_atom(local)) return "the local part must be a dot-atom";
  std::string domain = ascii_lower(std::string_view(id).substr(at + 1));
  if (!valid_dns_name(domain, true)) return "'" + domain + "' is not a valid domain name";
  id = std::string(local) + "@" + domain;
  return "";
}

// A DNS name to look up: labels of letters, digits, '-' and '_' (DKIM's
// "_domainkey"), RFC 1035 §2.3.4 lengths, one trailing dot allowed.
bool valid_lookup_name(std::string_view d) {
  if (d.ends_with('.')) d.remove_suffix(1);
  if (d.empty() || d.size() > 253) return false;
  for (std::size_t start = 0;;) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                               : dot - start);
    if (label.empty() || label.size() > 63) return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_'))
        return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string_view identity_domain(std::string_view id) {
  auto at = id.rfind('@');
  return at == std::string_view::npos ? id : id.substr(at + 1);
}

bool within_domain(std::string_view sub, std::string_view domain) {
  return sub == domain ||
         (sub.size() > domain.size() && sub.ends_with(domain) &&
          sub[sub.size() - domain.size() - 1] == '.');
}

bool contains_name(const std::vector<std::string>& names, std::string_view n) {
  return std::any_of(names.begin(), names.end(), [&](auto& x) { return iequals(x, n); });
}

}  // namespace

Result<WhitelistPattern> parse_whitelist_pattern(std::string_view s) {
  WhitelistPattern w;
  w.text = std::string(s);
  std::string author(s), signer;
  if (auto slash = s.find("/@"); slash != std::string_view::npos) {
    author = std::string(s.substr(0, slash));
    signer = ascii_lower(s.substr(slash + 2));
    if (signer.starts_with('.')) {
      w.signer_tree = true;
      signer.erase(0, 1);
    }
    if (!valid_dns_name(signer, true))
      return make_error(ErrorKind::Config,
                        "'" + w.text + "': the signer after '/@' must be a domain name");
    w.signer = signer;
  }
  if (author.empty())
    return make_error(ErrorKind::Config,
                      "'" + w.text + "': no author (use '.' for any author, e.g. './@signer.net')");
  if (auto why = check_pattern(author); !why.empty()) return make_error(ErrorKind::Config, why);
  if (author == ".") {
    w.author = WhitelistPattern::Author::Any;
  } else if (author.starts_with('.')) {
    w.author = WhitelistPattern::Author::DomainTree;
    w.author_value = author.substr(1);
  } else if (author.find('@') != std::string::npos) {
    w.author = WhitelistPattern::Author::Address;
    w.author_value = author;
  } else {
    w.author = WhitelistPattern::Author::Domain;
    w.author_value = author;
  }
  return w;
}

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
      if (contains_name(*o.headers, h)) o.oversign->push_back(h);
  }
  o.expire = s.expire ? s.expire : r.expire ? r.expire : Seconds{0};
  o.identity = s.identity ? s.identity : r.identity ? r.identity : std::string();
  o.sign_if_signed = s.sign_if_signed ? s.sign_if_signed
                                      : r.sign_if_signed ? r.sign_if_signed : true;
  return o;
}

// ---------------------------------------------------------------- loader

namespace {

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  void error(const toml::node* n, std::string_view key, std::string_view what) {
    std::ostringstream o;
    o << source_ << ':' << (n ? n->source().begin.line : 0) << ':' << key << ": " << what;
    errors_.push_back(o.str());
  }
  void error_at(std::uint32_t line, std::string_view key, std::string_view what) {
    std::ostringstream o;
    o << source_ << ':' << line << ':' << key << ": " << what;
    errors_.push_back(o.str());
  }

  // Rejects keys that are not in `known`.
  void check_keys(const toml::table& t, std::string_view prefix,
                  std::initializer_list<std::string_view> known) {
    for (auto&& [k, v] : t) {
      if (std::find(known.begin(), known.end(), k.str()) == known.end())
        error(&v, join(prefix, k.str()), "unknown key");
    }
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    if (prefix.empty()) return std::string(key);
    return std::string(prefix) + "." + std::string(key);
  }

  template <typename Int>
  void get_uint(const toml::table& t, std::string_view prefix, std::string_view key, Int& out,
                std::uint64_t min, std::uint64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto v = n->as_integer();
    if (!v) return error(n, join(prefix, key), "must be an integer");
    std::int64_t x = v->get();
    if (x < 0 || static_cast<std::uint64_t>(x) < min || static_cast<std::uint64_t>(x) > max)
      return error(n, join(prefix, key),
                   "out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
    out = static_cast<Int>(x);
  }

  void get_seconds(const toml::table& t, std::string_view prefix, std::string_view key,
                   Seconds& out, std::uint64_t min, std::uint64_t max) {
    std::uint64_t s = static_cast<std::uint64_t>(out.count());
    get_uint(t, prefix, key, s, min, max);
    out = Seconds(s);
  }

  void get_bool(const toml::table& t, std::string_view prefix, std::string_view key,
                bool& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (auto v = n->as_boolean()) out = v->get();
    else error(n, join(prefix, key), "must be true or false");
  }

  bool get_string(const toml::table& t, std::string_view prefix, std::string_view key,
                  std::string& out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (auto v = n->as_string()) {
      out = v->get();
      return true;
    }
    error(n, join(prefix, key), "must be a string");
    return false;
  }

  std::optional<std::vector<std::string>> get_strings(const toml::table& t,
                                                      std::string_view prefix,
                                                      std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto arr = n->as_array();
    if (!arr) {
      error(n, join(prefix, key), "must be an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (auto&& e : *arr) {
      if (auto s = e.as_string()) out.push_back(s->get());
      else {
        error(&e, join(prefix, key), "must be an array of strings");
        return std::nullopt;
      }
    }
    return out;
  }

  const toml::table* table(const toml::table& root, std::string_view key) {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (auto t = n->as_table()) return t;
    error(n, key, "must be a table ([" + std::string(key) + "])");
    return nullptr;
  }

  // An array of tables ([[name]]) or nullptr (absent, or wrong: reported).
  const toml::array* array_of_tables(const toml::table& t, std::string_view prefix,
                                     std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    auto arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      std::string header = join(prefix, key);  // "signing[0].signature" -> "signing.signature"
      for (auto open = header.find('['); open != std::string::npos; open = header.find('['))
        header.erase(open, header.find(']', open) - open + 1);
      error(n, join(prefix, key), "must be an array of tables ([[" + header + "]])");
      return nullptr;
    }
    return arr;
  }

  // The node of element i of array t[key], for errors on one element.
  static const toml::node* element(const toml::table& t, std::string_view key, std::size_t i) {
    const toml::node* n = t.get(key);
    const toml::array* a = n ? n->as_array() : nullptr;
    return a && i < a->size() ? a->get(i) : n;
  }

  // Parses a required string; reports it missing.
  bool required_string(const toml::table& t, const std::string& p, std::string_view key,
                       std::string& out) {
    if (get_string(t, p, key, out)) {
      if (!out.empty()) return true;
      error(t.get(key), join(p, key), "must not be empty");
      return false;
    }
    if (!t.get(key)) error(&t, join(p, key), "missing");
    return false;
  }

  // [[key]]: name, file, domain, selector.
  void load_keys(const toml::table& root, Config& c) {
    auto arr = array_of_tables(root, "", "key");
    if (!arr) return;
    std::map<std::string, std::size_t> names, records;
    std::size_t i = 0;
    for (auto&& e : *arr) {
      const toml::table& t = *e.as_table();
      std::string p = "key[" + std::to_string(i++) + "]";
      check_keys(t, p, {"name", "file", "domain", "selector"});
      KeyConfig k;
      if (required_string(t, p, "name", k.name)) {
        bool okname = std::all_of(k.name.begin(), k.name.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                 ch == '.';
        });
        if (!okname)
          error(t.get("name"), p + ".name", "'" + k.name + "': use letters, digits, '-', '_', '.'");
        else if (auto [it, fresh] = names.emplace(k.name, i - 1); !fresh)
          error(t.get("name"), p + ".name",
                "duplicate key name '" + k.name + "' (also key[" + std::to_string(it->second) +
                    "])");
      }
      if (required_string(t, p, "file", k.file) && k.file.front() != '/')
        error(t.get("file"), p + ".file", "must be an absolute path");
      bool record_ok = true;
      if (required_string(t, p, "domain", k.domain)) {
        k.domain = ascii_lower(k.domain);
        if (!valid_dns_name(k.domain, true)) {
          record_ok = false;
          error(t.get("domain"), p + ".domain",
                "'" + k.domain +
                    "' is not a valid domain name (letters, digits, '-', at least two labels; "
                    "IDNs in A-label form)");
        }
      } else {
        record_ok = false;
      }
      if (required_string(t, p, "selector", k.selector)) {
        if (!valid_dns_name(k.selector, false)) {
          record_ok = false;
          error(t.get("selector"), p + ".selector",
                "'" + k.selector +
                    "' is not a valid selector (DNS labels of letters, digits, '-'; RFC 6376 "
                    "§3.1)");
        } else if (record_ok && k.selector.size() + 12 + k.domain.size() > 253) {
          record_ok = false;
          error(t.get("selector"), p + ".selector",
                k.selector + "._domainkey." + k.domain + " is longer than 253 bytes");
        }
      } else {
        record_ok = false;
      }
      // Two files behind one DNS record: only one of them can verify.
      if (record_ok) {
        std::string rec = ascii_lower(k.selector) + "._domainkey." + k.domain;
        if (auto [it, fresh] = records.emplace(rec, i - 1); !fresh)
          error(t.get("selector"), p + ".selector",
                "key[" + std::to_string(it->second) + "] is already published at " + rec);
      }
      c.keys.push_back(std::move(k));
    }
  }

  // The option keys shared by [[signing]] and [[signing.signature]].
  void load_signature_options(const toml::table& t, const std::string& p, SignatureOptions& o) {
    std::string canon;
    if (get_string(t, p, "canonicalization", canon)) {
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
        error(t.get("canonicalization"), p + ".canonicalization",
              "'" + canon + "': want header/body, each simple or relaxed (\"relaxed/relaxed\")");
      }
    }
    if (auto hs = get_strings(t, p, "headers")) {
      bool ok = true;
      if (hs->empty()) {
        ok = false;
        error(t.get("headers"), p + ".headers", "must not be empty");
      }
      for (std::size_t i = 0; i < hs->size(); ++i) {
        const auto& h = (*hs)[i];
        if (!field_name(h)) {
          ok = false;
          error(element(t, "headers", i), p + ".headers",
                "'" + h + "' is not a header field name (no colon, space or control)");
        } else if (std::any_of(hs->begin(), hs->begin() + static_cast<std::ptrdiff_t>(i),
                               [&](auto& x) { return iequals(x, h); })) {
          ok = false;
          error(element(t, "headers", i), p + ".headers",
                "'" + h + "' is listed twice (oversign signs an extra instance)");
        }
      }
      if (!hs->empty() && !contains_name(*hs, "From")) {
        ok = false;
        error(t.get("headers"), p + ".headers", "must include From (RFC 6376 §5.4)");
      }
      if (ok) o.headers = std::move(hs);
    }
    if (auto os = get_strings(t, p, "oversign")) {
      bool ok = true;
      for (std::size_t i = 0; i < os->size(); ++i)
        if (!field_name((*os)[i])) {
          ok = false;
          error(element(t, "oversign", i), p + ".oversign",
                "'" + (*os)[i] + "' is not a header field name (no colon, space or control)");
        }
      if (ok) o.oversign = std::move(os);
    }
    if (t.get("expire")) {
      Seconds x{0};
      std::size_t before = errors_.size();
      // Up to ten years; 0 means no x= tag.
      get_seconds(t, p, "expire", x, 0, 10ull * 366 * 86400);
      if (errors_.size() == before) o.expire = x;
    }
    std::string id;
    if (get_string(t, p, "identity", id)) {
      // "" is an explicit "no i=", so that a signature can drop the rule's.
      std::string why = id.empty() ? "" : check_identity(id);
      if (why.empty()) o.identity = id;
      else error(t.get("identity"), p + ".identity", "'" + id + "': " + why);
    }
    if (t.get("sign_if_signed")) {
      bool v = true;
      std::size_t before = errors_.size();
      get_bool(t, p, "sign_if_signed", v);
      if (errors_.size() == before) o.sign_if_signed = v;
    }
  }

  // [[signing]] with its [[signing.signature]]; needs c.keys loaded.
  void load_signing(const toml::table& root, Config& c) {
    auto arr = array_of_tables(root, "", "signing");
    if (!arr) return;
    std::map<std::string, const KeyConfig*> keys;
    for (auto& k : c.keys)
      if (!k.name.empty()) keys.emplace(k.name, &k);
    std::size_t ri = 0;
    for (auto&& e : *arr) {
      const toml::table& t = *e.as_table();
      std::string p = "signing[" + std::to_string(ri++) + "]";
      check_keys(t, p, {"match", "keys", "signature", "canonicalization", "headers", "oversign",
                        "expire", "identity", "sign_if_signed"});
      SigningRule rule;
      if (auto ms = get_strings(t, p, "match")) {
        if (ms->empty()) error(t.get("match"), p + ".match", "must not be empty");
        for (std::size_t i = 0; i < ms->size(); ++i) {
          std::string why = check_pattern((*ms)[i]);
          if (!why.empty())
            error(element(t, "match", i), p + ".match",
                  why + " (want \"user@domain\", \"domain\", \".domain\" or \".\")");
        }
        rule.match = std::move(*ms);
      } else if (!t.get("match")) {
        error(&t, p + ".match", "missing");
      }
      load_signature_options(t, p, rule.options);

      // Where each signature came from, for errors.
      struct Origin {
        const toml::node* key_node;
        std::string key_path;
        const toml::table* table;  // [[signing.signature]], or nullptr for keys = [...]
        std::string path;
      };
      std::vector<Origin> origins;
      if (auto ks = get_strings(t, p, "keys")) {
        for (std::size_t i = 0; i < ks->size(); ++i) {
          rule.signatures.push_back(SignatureConfig{(*ks)[i], {}});
          origins.push_back({element(t, "keys", i), p + ".keys", nullptr, p});
        }
      }
      if (auto sigs = array_of_tables(t, p, "signature")) {
        std::size_t si = 0;
        for (auto&& se : *sigs) {
          const toml::table& st = *se.as_table();
          std::string sp = p + ".signature[" + std::to_string(si++) + "]";
          check_keys(st, sp, {"key", "canonicalization", "headers", "oversign", "expire",
                              "identity", "sign_if_signed"});
          SignatureConfig sig;
          bool named = required_string(st, sp, "key", sig.key);
          load_signature_options(st, sp, sig.options);
          if (!named) continue;
          rule.signatures.push_back(std::move(sig));
          origins.push_back({st.get("key"), sp + ".key", &st, sp});
        }
      }
      if (rule.signatures.empty() && !t.get("signature") && !t.get("keys"))
        error(&t, p + ".keys", "no signature: give keys = [...] or [[signing.signature]]");
      else if (rule.signatures.empty() && !t.get("signature"))
        error(t.get("keys"), p + ".keys", "must name at least one key");

      // Checks that need the key and the resolved options of each signature.
      std::set<std::string> reported;
      auto once = [&](const toml::node* n, const std::string& key, const std::string& what) {
        if (reported.insert(key + "\n" + what).second) error(n, key, what);
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
      c.signing.push_back(std::move(rule));
    }
  }

  // [dns] with its [[dns.static_records]] (or static_records = [ {...}, ... ]).
  void load_dns(const toml::table& root, Config& c) {
    auto t = table(root, "dns");
    if (!t) return;
    const char* p = "dns";
    check_keys(*t, p, {"servers", "timeout_ms", "attempts", "max_concurrent", "negative_ttl",
                       "max_ttl", "cache_entries", "static_records"});
    if (auto ss = get_strings(*t, p, "servers")) {
      for (std::size_t i = 0; i < ss->size(); ++i) {
        auto r = parse_dns_server((*ss)[i]);
        if (r) c.dns.servers.push_back(r.value());
        else error(element(*t, "servers", i), "dns.servers", r.error().message);
      }
    }
    std::uint64_t ms = static_cast<std::uint64_t>(c.dns.timeout.count());
    get_uint(*t, p, "timeout_ms", ms, 1, 60000);
    c.dns.timeout = std::chrono::milliseconds(ms);
    get_uint(*t, p, "attempts", c.dns.attempts, 1, 10);
    get_uint(*t, p, "max_concurrent", c.dns.max_concurrent, 1, 65536);
    get_seconds(*t, p, "negative_ttl", c.dns.negative_ttl, 0, 7 * 86400);
    get_seconds(*t, p, "max_ttl", c.dns.max_ttl, 0, 7 * 86400);
    get_uint(*t, p, "cache_entries", c.dns.cache_entries, 0, 10000000);
    if (const toml::node* n = t->get("static_records")) {
      auto arr = n->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        error(n, "dns.static_records",
              "must be an array of tables ([ { name = \"...\", txt = \"...\" }, ... ])");
        return;
      }
      std::size_t i = 0;
      for (auto&& e : *arr) {
        const toml::table& st = *e.as_table();
        std::string sp = "dns.static_records[" + std::to_string(i++) + "]";
        check_keys(st, sp, {"name", "txt"});
        StaticTxt r;
        bool named = required_string(st, sp, "name", r.name);
        if (named && !valid_lookup_name(r.name)) {
          error(st.get("name"), sp + ".name", "'" + r.name + "' is not a valid DNS name");
          named = false;
        }
        bool has_txt = get_string(st, sp, "txt", r.txt);
        if (!has_txt && !st.get("txt")) error(&st, sp + ".txt", "missing");
        if (!named || !has_txt) continue;
        r.name = ascii_lower(r.name);
        if (r.name.ends_with('.')) r.name.pop_back();
        c.dns.static_records.push_back(std::move(r));
      }
    }
  }

  // [dkim_verify] and [[dkim_whitelist]] (banks must be loaded already).
  void load_verify(const toml::table& root, Config& c) {
    c.verify.authserv_id = c.smtp.hostname;
    if (auto t = table(root, "dkim_verify")) {
      const char* p = "dkim_verify";
      check_keys(*t, p, {"authserv_id", "max_signatures", "min_key_bits", "accept_partial_body",
                         "clock_drift", "whitelist_min_key_bits"});
      if (get_string(*t, p, "authserv_id", c.verify.authserv_id)) {
        // RFC 8601 §2.2: authserv-id is a value (token or quoted-string); we
        // write it as a token, so only token characters are allowed.
        const auto& id = c.verify.authserv_id;
        bool ok = !id.empty() && id.size() <= 255 &&
                  std::all_of(id.begin(), id.end(), [](char ch) {
                    return ch > 32 && ch < 127 && !std::strchr("()<>@,;:\\\"/[]?=", ch);
                  });
        if (!ok)
          error(t->get("authserv_id"), "dkim_verify.authserv_id",
                "must be a host name or other RFC 2045 token (no spaces, no ()<>@,;:\\\"/[]?=)");
      }
      get_uint(*t, p, "max_signatures", c.verify.max_signatures, 1, 64);
      get_uint(*t, p, "min_key_bits", c.verify.min_key_bits, 512, 16384);
      get_bool(*t, p, "accept_partial_body", c.verify.accept_partial_body);
      get_seconds(*t, p, "clock_drift", c.verify.clock_drift, 0, 86400);
      get_uint(*t, p, "whitelist_min_key_bits", c.verify.whitelist_min_key_bits, 512, 16384);
    }
    auto arr = array_of_tables(root, "", "dkim_whitelist");
    if (!arr) return;
    std::size_t i = 0;
    for (auto&& e : *arr) {
      const toml::table& t = *e.as_table();
      std::string p = "dkim_whitelist[" + std::to_string(i) + "]";
      check_keys(t, p, {"match", "banks"});
      WhitelistRule r;
      r.index = i++;
      if (auto ms = get_strings(t, p, "match")) {
        if (ms->empty()) error(t.get("match"), p + ".match", "must not be empty");
        for (std::size_t k = 0; k < ms->size(); ++k) {
          auto w = parse_whitelist_pattern((*ms)[k]);
          if (w) r.match.push_back(std::move(w.value()));
          else error(element(t, "match", k), p + ".match", w.error().message);
        }
      } else if (!t.get("match")) {
        error(&t, p + ".match", "missing");
      }
      if (auto bs = get_strings(t, p, "banks")) {
        if (bs->empty()) error(t.get("banks"), p + ".banks", "must not be empty");
        for (std::size_t k = 0; k < bs->size(); ++k) {
          if (!c.banks.count((*bs)[k]))
            error(element(t, "banks", k), p + ".banks", "no such bank '" + (*bs)[k] + "'");
        }
        r.banks = std::move(*bs);
      } else if (!t.get("banks")) {
        error(&t, p + ".banks", "missing");
      }
      c.whitelist.push_back(std::move(r));
    }
  }

  // [av]: the `av` stage's clamd scanners (banks must be loaded already: a
  // bank listing "av" needs at least one scanner).
  void load_av(const toml::table& root, Config& c) {
    auto t = table(root, "av");
    if (t) {
      const char* p = "av";
      check_keys(*t, p, {"scanners", "max_size", "on_error"});
      const toml::node* sn = t->get("scanners");
      if (sn && sn->as_array() && sn->as_array()->empty()) {
        error(sn, "av.scanners", "must not be empty");
      } else if (auto arr = array_of_tables(*t, p, "scanners")) {
        std::map<std::string, std::size_t> names;
        std::size_t i = 0;
        for (auto&& e : *arr) {
          const toml::table& st = *e.as_table();
          std::string sp = "av.scanners[" + std::to_string(i++) + "]";
          check_keys(st, sp, {"name", "address", "timeout"});
          std::string addr;
          if (!required_string(st, sp, "address", addr)) continue;
          auto a = parse_av_address(addr);
          if (!a) {
            error(st.get("address"), sp + ".address", a.error().message);
            continue;
          }
          AvScanner s = std::move(a.value());
          s.name = s.address;
          scanner_name_and_timeout(st, sp, "av.scanners", i - 1, s.name, s.timeout, names);
          c.av.scanners.push_back(std::move(s));
        }
      }
      // At most smtp.max_message_size is ever stored; 1 KiB..4 GiB.
      get_uint(*t, p, "max_size", c.av.max_size, 1024, 4ull << 30);
      std::string oe;
      if (get_string(*t, p, "on_error", oe)) {
        if (oe == "tempfail") c.av.on_error = AvConfig::OnError::TempFail;
        else if (oe == "continue") c.av.on_error = AvConfig::OnError::Continue;
        else if (oe == "reject") c.av.on_error = AvConfig::OnError::Reject;
        else
          error(t->get("on_error"), "av.on_error",
                "'" + oe + "': must be one of tempfail, continue, reject");
      }
    }
    if (!c.av.scanners.empty() || (t && t->get("scanners"))) return;
    // A bank that runs the stage without a scanner could only ever tempfail.
    const toml::table* banks = root.get("bank") ? root.get("bank")->as_table() : nullptr;
    for (auto& [name, bank] : c.banks) {
      if (!bank.stages ||
          std::find(bank.stages->begin(), bank.stages->end(), "av") == bank.stages->end())
        continue;
      const toml::node* n = nullptr;
      if (banks)
        if (auto bt = banks->get(name); bt && bt->as_table()) n = bt->as_table()->get("stages");
      error(n, "bank." + name + ".stages",
            "the av stage needs [av] scanners = [ { address = \"unix:/path\" }, ... ]");
    }
  }

  // [decode]: the MIME walk limits of the `decode` stage.
  void load_decode(const toml::table& root, Config& c) {
    auto t = table(root, "decode");
    if (!t) return;
    const char* p = "decode";
    check_keys(*t, p, {"max_depth", "max_parts", "min_expansion_quota", "min_expansion_factor",
                       "max_expansion_quota", "max_expansion_factor", "temp_dir", "threads",
                       "timeout"});
    get_uint(*t, p, "max_depth", c.decode.max_depth, 1, 100);
    get_uint(*t, p, "max_parts", c.decode.max_parts, 1, 100000);
    auto& d = c.decode;
    get_uint(*t, p, "min_expansion_quota", d.min_expansion_quota, 1024, 1ull << 40);
    get_uint(*t, p, "min_expansion_factor", d.min_expansion_factor, 1, 100000);
    get_uint(*t, p, "max_expansion_quota", d.max_expansion_quota, 1024, 1ull << 40);
    get_uint(*t, p, "max_expansion_factor", d.max_expansion_factor, 1, 100000);
    if (d.min_expansion_quota > d.max_expansion_quota)
      error(t->get("min_expansion_quota") ? t->get("min_expansion_quota")
                                          : t->get("max_expansion_quota"),
            "decode.min_expansion_quota", "must not exceed max_expansion_quota");
    if (d.min_expansion_factor > d.max_expansion_factor)
      error(t->get("min_expansion_factor") ? t->get("min_expansion_factor")
                                           : t->get("max_expansion_factor"),
            "decode.min_expansion_factor", "must not exceed max_expansion_factor");
    if (get_string(*t, p, "temp_dir", d.temp_dir) && (d.temp_dir.empty() || d.temp_dir[0] != '/'))
      error(t->get("temp_dir"), "decode.temp_dir", "must be an absolute path");
    if (t->get("threads")) {
      std::size_t n = 0;
      get_uint(*t, p, "threads", n, 0, 64);
      d.threads = n;
    }
    get_seconds(*t, p, "timeout", d.timeout, 1, 3600);
  }

  // [banned.NAME]: banned-content rule sets; every regex compiled here
  // (RE2, case-insensitive), so a bad one stops the load.
  void load_banned(const toml::table& root, Config& c) {
    auto t = table(root, "banned");
    if (!t) return;
    for (auto&& [k, v] : *t) {
      std::string name(k.str());
      std::string p = "banned." + name;
      auto st = v.as_table();
      if (!st) {
        error(&v, p, "must be a table ([banned.NAME] with rules = [...])");
        continue;
      }
      bool okname = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      });
      if (!okname) error(&v, p, "'" + name + "': use letters, digits, '-', '_', '.'");
      if (name == "none") error(&v, p, "\"none\" is reserved (banned_rules = \"none\": no checks)");
      check_keys(*st, p, {"rules"});
      BannedRuleSet set;
      set.name = name;
      if (!st->get("rules")) error(st, p + ".rules", "missing");
      const toml::array* rules = nullptr;
      if (auto rn = st->get("rules"); rn && rn->as_array() && rn->as_array()->empty())
        rules = nullptr;  // an empty set bans nothing
      else
        rules = array_of_tables(*st, p, "rules");
      std::size_t i = 0;
      if (rules)
        for (auto&& e : *rules) {
          const toml::table& rt = *e.as_table();
          std::string rp = p + ".rules[" + std::to_string(i++) + "]";
          check_keys(rt, rp, {"action", "name", "type", "detected", "path", "inside"});
          BannedRule r;
          std::string action;
          if (required_string(rt, rp, "action", action)) {
            if (action == "ban") r.action = BannedRule::Action::Ban;
            else if (action == "allow") r.action = BannedRule::Action::Allow;
            else error(rt.get("action"), rp + ".action", "'" + action + "': must be ban or allow");
          }
          auto matcher = [&](std::string_view key, std::optional<std::string>& out) {
            std::string re;
            if (!get_string(rt, rp, key, re)) return;
            RE2::Options o;
            o.set_case_sensitive(false);
            o.set_log_errors(false);
            RE2 compiled(re, o);
            if (!compiled.ok())
              error(rt.get(key), join(rp, key), "bad regex '" + re + "': " + compiled.error());
            else out = std::move(re);
          };
          matcher("name", r.name);
          matcher("type", r.type);
          matcher("detected", r.detected);
          matcher("path", r.path);
          matcher("inside", r.inside);
          if (std::none_of(std::begin(kMatchers), std::end(kMatchers),
                                   [&](const char* m) { return rt.get(m) != nullptr; }))
            error(&rt, rp, "no matcher: give at least one of name, type, detected, path, inside");
          set.rules.push_back(std::move(r));
        }
      c.banned[name] = std::move(set);
    }
  }
  static constexpr const char* kMatchers[] = {"name", "type", "detected", "path", "inside"};

  // [bank.NAME] banned_rules must name a [banned.NAME] set, "default" or
  // "none" (checked once every set is loaded).
  void check_banned_rules(const toml::table& root, const Config& c) {
    const toml::node* bn = root.get("bank");
    const toml::table* banks = bn ? bn->as_table() : nullptr;
    for (auto& [name, b] : c.banks) {
      if (!b.banned_rules || *b.banned_rules == "default" || *b.banned_rules == "none" ||
          c.banned.count(*b.banned_rules))
        continue;
      const toml::node* n = nullptr;
      if (banks)
        if (auto bt = banks->get(name); bt && bt->as_table()) n = bt->as_table()->get("banned_rules");
      error(n, "bank." + name + ".banned_rules",
            "no such rule set '" + *b.banned_rules + "' (want a [banned.NAME], \"default\" or \"none\")");
    }
  }

  // One [[recipient]] match pattern, or a [recipients] local_domains entry
  // (domains only).  Returns the lower-cased pattern, or "" when invalid.
  static std::string recipient_pattern(std::string_view s, bool domains_only) {
    std::string v = ascii_lower(s);
    if (!domains_only && v == ".") return v;
    auto at = v.find('@');
    if (at != std::string::npos) {
      if (domains_only) return "";
      std::string_view local = std::string_view(v).substr(0, at), dom = std::string_view(v).substr(at + 1);
      if (!dot_atom(local)) return "";
      if (!dom.empty() && !valid_dns_name(dom, false)) return "";
      return v;
    }
    std::string_view d = v;
    if (!d.empty() && d.front() == '.') d.remove_prefix(1);
    return valid_dns_name(d, false) ? v : "";
  }

  // [recipients], [[recipient]] and [dsn] (banks must be loaded already).
  void load_recipients(const toml::table& root, Config& c) {
    if (auto t = table(root, "recipients")) {
      check_keys(*t, "recipients", {"local_domains"});
      if (auto ds = get_strings(*t, "recipients", "local_domains")) {
        std::vector<std::string> out;
        for (std::size_t k = 0; k < ds->size(); ++k) {
          auto v = recipient_pattern((*ds)[k], true);
          if (v.empty())
            error(element(*t, "local_domains", k), "recipients.local_domains",
                  "'" + (*ds)[k] + "' is not a domain (\"example.com\" or \".example.com\")");
          else
            out.push_back(std::move(v));
        }
        c.recipients.local_domains = std::move(out);
      }
    }
    if (auto arr = array_of_tables(root, "", "recipient")) {
      std::size_t i = 0;
      for (auto&& e : *arr) {
        const toml::table& t = *e.as_table();
        std::string p = "recipient[" + std::to_string(i) + "]";
        check_keys(t, p, {"match", "lovers", "bypass", "spam_tag_level", "spam_tag2_level",
                          "spam_kill_level"});
        RecipientRule r;
        r.index = i++;
        if (auto ms = get_strings(t, p, "match")) {
          if (ms->empty()) error(t.get("match"), p + ".match", "must not be empty");
          for (std::size_t k = 0; k < ms->size(); ++k) {
            auto v = recipient_pattern((*ms)[k], false);
            if (v.empty())
              error(element(t, "match", k), p + ".match",
                    "'" + (*ms)[k] + "' is not a recipient pattern (user@example.com, user@, "
                    "example.com, .example.com or .)");
            else
              r.match.push_back(std::move(v));
          }
        } else if (!t.get("match")) {
          error(&t, p + ".match", "missing");
        }
        if (auto ls = get_strings(t, p, "lovers")) {
          for (std::size_t k = 0; k < ls->size(); ++k) {
            auto it = std::find(kCategoryNames.begin(), kCategoryNames.end(), (*ls)[k]);
            if (it == kCategoryNames.end() || it == kCategoryNames.begin())
              error(element(t, "lovers", k), p + ".lovers",
                    "unknown category '" + (*ls)[k] +
                        "' (known: virus, banned, unchecked, spam, spammy, bad-header)");
            else
              r.lovers.push_back(static_cast<Category>(it - kCategoryNames.begin()));
          }
        }
        if (auto bs = get_strings(t, p, "bypass")) {
          for (std::size_t k = 0; k < bs->size(); ++k) {
            const auto& b = (*bs)[k];
            if (b != "decode" && b != "av" && b != "spam")
              error(element(t, "bypass", k), p + ".bypass",
                    "'" + b + "' cannot be bypassed per recipient (decode, av or spam)");
            else
              r.bypass.push_back(b);
          }
        }
        r.spam.tag_level = get_double(t, p, "spam_tag_level", -999, 1e6);
        r.spam.tag2_level = get_double(t, p, "spam_tag2_level", -999, 1e6);
        r.spam.kill_level = get_double(t, p, "spam_kill_level", -999, 1e6);
        c.recipient_rules.push_back(std::move(r));
      }
    }
    if (auto t = table(root, "dsn")) {
      check_keys(*t, "dsn", {"spam_cutoff_level", "from"});
      if (auto v = get_double(*t, "dsn", "spam_cutoff_level", -999, 1e6)) c.dsn.spam_cutoff_level = *v;
      if (get_string(*t, "dsn", "from", c.dsn.from)) {
        auto at = c.dsn.from.rfind('@');
        if (at == std::string::npos || !dot_atom(std::string_view(c.dsn.from).substr(0, at)) ||
            !valid_dns_name(std::string_view(c.dsn.from).substr(at + 1), false))
          error(t->get("from"), "dsn.from", "'" + c.dsn.from + "' is not an address user@domain");
      }
    }
  }

  // [quarantine]: the directory of quarantined messages.
  void load_quarantine(const toml::table& root, Config& c) {
    auto t = table(root, "quarantine");
    if (!t) return;
    const char* p = "quarantine";
    check_keys(*t, p, {"dir", "compress"});
    if (get_string(*t, p, "dir", c.quarantine.dir) &&
        (c.quarantine.dir.empty() || c.quarantine.dir[0] != '/'))
      error(t->get("dir"), "quarantine.dir", "must be an absolute path");
    get_bool(*t, p, "compress", c.quarantine.compress);
  }

  // A number (integer or float) within [min, max]; unset when absent or bad.
  std::optional<double> get_double(const toml::table& t, std::string_view prefix,
                                   std::string_view key, double min, double max) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    double x = 0;
    if (auto i = n->as_integer()) x = static_cast<double>(i->get());
    else if (auto f = n->as_floating_point()) x = f->get();
    else {
      error(n, join(prefix, key), "must be a number");
      return std::nullopt;
    }
    if (!(x >= min && x <= max)) {  // NaN too
      std::ostringstream o;
      o << "out of range (" << min << ".." << max << ")";
      error(n, join(prefix, key), o.str());
      return std::nullopt;
    }
    return x;
  }

  // The spam_* keys of [bank.NAME] (the spam stage's levels).
  void load_bank_spam(const toml::table& bt, const std::string& p, SpamBankConfig& s) {
    // -999 is Amavis's "always"; GTUBE alone scores 1000.
    s.tag_level = get_double(bt, p, "spam_tag_level", -999, 1e6);
    s.tag2_level = get_double(bt, p, "spam_tag2_level", -999, 1e6);
    s.kill_level = get_double(bt, p, "spam_kill_level", -999, 1e6);
    s.score_offset = get_double(bt, p, "spam_score_offset", -1e6, 1e6);
    std::string tag;
    if (get_string(bt, p, "spam_subject_tag", tag)) {
      bool ok = tag.size() <= 200 && std::none_of(tag.begin(), tag.end(), [](char ch) {
                  return (ch >= 0 && ch < 32 && ch != '\t') || ch == 127;
                });
      if (ok) s.subject_tag = tag;
      else
        error(bt.get("spam_subject_tag"), p + ".spam_subject_tag",
              "must be at most 200 characters without control characters (\"\" for no tag)");
    }
  }

  // [spam]: the `spam` stage's spamd scanners.
  void load_spam(const toml::table& root, Config& c) {
    auto t = table(root, "spam");
    if (t) {
      const char* p = "spam";
      check_keys(*t, p, {"scanners", "max_size", "on_error", "command", "user"});
      auto sn = t->get("scanners");
      if (sn && sn->as_array() && sn->as_array()->empty())
        error(sn, "spam.scanners", "must not be empty");
      else if (auto arr = array_of_tables(*t, p, "scanners")) {
        std::map<std::string, std::size_t> names;
        std::size_t i = 0;
        for (auto&& e : *arr) {
          const toml::table& st = *e.as_table();
          std::string sp = "spam.scanners[" + std::to_string(i++) + "]";
          check_keys(st, sp, {"kind", "name", "address", "timeout"});
          SpamScanner s;
          std::string kind;
          if (get_string(st, sp, "kind", kind)) {
            if (kind == "spamd") s.kind = SpamScanner::Kind::Spamd;
            else if (kind == "rspamd") s.kind = SpamScanner::Kind::Rspamd;
            else {
              error(st.get("kind"), sp + ".kind", "'" + kind + "': must be spamd or rspamd");
              continue;
            }
          }
          std::string addr;
          if (!required_string(st, sp, "address", addr)) continue;
          auto a = parse_listen_address(addr);
          if (!a || (a.value().kind == ListenAddress::Kind::Tcp && a.value().port == 0)) {
            error(st.get("address"), sp + ".address",
                  s.kind == SpamScanner::Kind::Rspamd
                      ? "bad rspamd address '" + addr +
                            "' (want 127.0.0.1:11333, [::1]:11333 or unix:/path)"
                      : "bad spamd address '" + addr +
                            "' (want 127.0.0.1:783, [::1]:783 or unix:/path)");
            continue;
          }
          s.address = std::move(a.value());
          s.name = addr;
          scanner_name_and_timeout(st, sp, "spam.scanners", i - 1, s.name, s.timeout, names);
          c.spam.scanners.push_back(std::move(s));
        }
      }
      get_uint(*t, p, "max_size", c.spam.max_size, 1024, 1ull << 30);
      std::string v;
      if (get_string(*t, p, "on_error", v)) {
        if (v == "continue") c.spam.on_error = SpamConfig::OnError::Continue;
        else if (v == "tempfail") c.spam.on_error = SpamConfig::OnError::TempFail;
        else error(t->get("on_error"), "spam.on_error", "'" + v + "': must be continue or tempfail");
      }
      if (get_string(*t, p, "command", v)) {
        if (v == "report") c.spam.command = SpamConfig::Command::Report;
        else if (v == "symbols") c.spam.command = SpamConfig::Command::Symbols;
        else error(t->get("command"), "spam.command", "'" + v + "': must be report or symbols");
      }
      if (get_string(*t, p, "user", c.spam.user)) {
        // spamd refuses control characters; a space would split nothing but is odd.
        bool ok = !c.spam.user.empty() && c.spam.user.size() <= 64 &&
                  std::all_of(c.spam.user.begin(), c.spam.user.end(),
                              [](char ch) { return ch > 32 && ch < 127; });
        if (!ok)
          error(t->get("user"), "spam.user",
                "must be 1..64 printable ASCII characters without spaces");
      }
    }
    // A bank that lists "spam" without scanners is refused when the stage is
    // built (filter/: PolicyTable::build), for the banks in use only.
  }

  Config load(const toml::table& root) {
    Config c;
    c.source = source_;
    check_keys(root, "", {"daemon", "smtp", "forward", "listener", "bank", "network", "key",
                          "signing", "dns", "dkim_verify", "dkim_whitelist", "av", "spam", "decode", "quarantine",
                          "banned", "recipients", "recipient", "dsn"});

    if (auto t = table(root, "daemon")) {
      const char* p = "daemon";
      check_keys(*t, p, {"log_level", "log_json", "drain_timeout", "spool_dir",
                         "memory_threshold", "crypto_threads"});
      if (get_string(*t, p, "log_level", c.daemon.log_level)) {
        static const std::initializer_list<std::string_view> levels = {
            "trace", "debug", "info", "warn", "error"};
        if (std::find(levels.begin(), levels.end(), c.daemon.log_level) == levels.end())
          error(t->get("log_level"), "daemon.log_level",
                "must be one of trace, debug, info, warn, error");
      }
      get_bool(*t, p, "log_json", c.daemon.log_json);
      get_seconds(*t, p, "drain_timeout", c.daemon.drain_timeout, 0, 3600);
      if (get_string(*t, p, "spool_dir", c.daemon.spool_dir) &&
          (c.daemon.spool_dir.empty() || c.daemon.spool_dir.front() != '/'))
        error(t->get("spool_dir"), "daemon.spool_dir", "must be an absolute path");
      get_uint(*t, p, "memory_threshold", c.daemon.memory_threshold, 4096, 1ull << 30);
      if (t->get("crypto_threads")) {
        std::size_t n = 0;
        get_uint(*t, p, "crypto_threads", n, 0, 64);
        c.daemon.crypto_threads = n;
      }
    }

    if (auto t = table(root, "smtp")) {
      const char* p = "smtp";
      check_keys(*t, p, {"hostname", "max_message_size", "max_recipients", "max_line_length",
                         "max_header_size", "max_errors", "max_sessions", "command_timeout",
                         "idle_timeout"});
      if (get_string(*t, p, "hostname", c.smtp.hostname)) {
        bool okname = !c.smtp.hostname.empty() && c.smtp.hostname.size() < 256 &&
                      std::all_of(c.smtp.hostname.begin(), c.smtp.hostname.end(), [](char ch) {
                        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                               ch == '-' || ch == '[' || ch == ']' || ch == ':';
                      });
        if (!okname) error(t->get("hostname"), "smtp.hostname", "not a valid host name");
      }
      get_uint(*t, p, "max_message_size", c.smtp.max_message_size, 1024, 1ull << 40);
      get_uint(*t, p, "max_recipients", c.smtp.max_recipients, 1, 1000000);
      get_uint(*t, p, "max_line_length", c.smtp.max_line_length, 512, 1 << 20);
      get_uint(*t, p, "max_header_size", c.smtp.max_header_size, 1024, 64ull << 20);
      get_uint(*t, p, "max_errors", c.smtp.max_errors, 1, 1000);
      get_uint(*t, p, "max_sessions", c.smtp.max_sessions, 1, 1000000);
      get_seconds(*t, p, "command_timeout", c.smtp.command_timeout, 1, 86400);
      get_seconds(*t, p, "idle_timeout", c.smtp.idle_timeout, 1, 86400);
    }

    if (auto t = table(root, "forward")) {
      const char* p = "forward";
      check_keys(*t, p, {"target", "connect_timeout", "reply_timeout", "xforward",
                         "max_idle_connections", "idle_connection_time"});
      std::string target;
      if (get_string(*t, p, "target", target)) {
        auto r = parse_forward_target(target);
        if (r) c.forward.target = r.value();
        else error(t->get("target"), "forward.target", r.error().message);
      }
      get_seconds(*t, p, "connect_timeout", c.forward.connect_timeout, 1, 3600);
      get_seconds(*t, p, "reply_timeout", c.forward.reply_timeout, 1, 3600);
      get_bool(*t, p, "xforward", c.forward.xforward);
      get_uint(*t, p, "max_idle_connections", c.forward.max_idle_connections, 0, 10000);
      get_seconds(*t, p, "idle_connection_time", c.forward.idle_connection_time, 0, 3600);
    }

    if (const toml::node* n = root.get("listener")) {
      auto arr = n->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        error(n, "listener", "must be an array of tables ([[listener]])");
      } else {
        std::size_t i = 0;
        for (auto&& e : *arr) {
          const toml::table& t = *e.as_table();
          std::string p = "listener[" + std::to_string(i++) + "]";
          check_keys(t, p, {"name", "address", "bank", "accept_xforward", "unix_mode", "mode",
                            "peer_timeout", "budget", "auth_bank", "quarantine"});
          ListenerConfig l;
          l.name = "listener" + std::to_string(i - 1);
          get_string(t, p, "name", l.name);
          std::string addr;
          if (get_string(t, p, "address", addr)) {
            auto r = parse_listen_address(addr);
            if (r) l.address = r.value();
            else error(t.get("address"), p + ".address", r.error().message);
          } else if (!t.get("address")) {
            error(&t, p + ".address", "missing (every listener needs an address)");
          }
          get_string(t, p, "bank", l.bank);
          get_bool(t, p, "accept_xforward", l.accept_xforward);
          if (const toml::node* m = t.get("unix_mode")) {
            std::string mode;
            if (get_string(t, p, "unix_mode", mode)) {
              unsigned v = 0;
              auto [ptr, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), v, 8);
              if (ec != std::errc{} || ptr != mode.data() + mode.size() || v > 0777)
                error(m, p + ".unix_mode", "must be an octal mode string like \"0660\"");
              else l.unix_mode = v;
            }
          }
          std::string mode;
          if (get_string(t, p, "mode", mode)) {
            if (mode == "after-queue") l.mode = ListenerMode::AfterQueue;
            else if (mode == "proxy") l.mode = ListenerMode::Proxy;
            else if (mode == "milter") l.mode = ListenerMode::Milter;
            else error(t.get("mode"), p + ".mode", "must be \"after-queue\", \"proxy\" or \"milter\"");
          }
          if (l.mode == ListenerMode::Milter) l.peer_timeout = Seconds{300};
          if (t.get("peer_timeout") && l.mode == ListenerMode::AfterQueue)
            error(t.get("peer_timeout"), p + ".peer_timeout",
                  "only for mode = \"proxy\" or \"milter\" (an after-queue filter's MTA waits "
                  "forward.reply_timeout)");
          get_seconds(t, p, "peer_timeout", l.peer_timeout, 2, 3600);
          if (t.get("budget")) {
            Seconds budget{0};
            get_seconds(t, p, "budget", budget, 1, 86400);
            l.budget = budget;
          }
          if (l.mode != ListenerMode::AfterQueue) {
            if (!l.budget) l.budget = l.peer_timeout - Seconds{10};
            if (*l.budget >= l.peer_timeout || l.budget->count() < 1)
              error(t.get("budget") ? t.get("budget") : &t, p + ".budget",
                    "must be below peer_timeout (" + std::to_string(l.peer_timeout.count()) +
                        " s): the MTA must get our verdict before it gives up");
          }
          if (get_string(t, p, "auth_bank", l.auth_bank) && l.mode != ListenerMode::Milter)
            error(t.get("auth_bank"), p + ".auth_bank", "only for mode = \"milter\"");
          std::string q;
          if (get_string(t, p, "quarantine", q)) {
            if (l.mode != ListenerMode::Milter)
              error(t.get("quarantine"), p + ".quarantine", "only for mode = \"milter\"");
            else if (q == "hold") l.milter_hold = true;
            else if (q == "store") l.milter_hold = false;
            else error(t.get("quarantine"), p + ".quarantine", "must be \"hold\" or \"store\"");
          }
          c.listeners.push_back(std::move(l));
        }
      }
    }

    if (auto t = table(root, "bank")) {
      for (auto&& [k, v] : *t) {
        std::string p = "bank." + std::string(k.str());
        auto bt = v.as_table();
        if (!bt) {
          error(&v, p, "must be a table ([bank.NAME])");
          continue;
        }
        check_keys(*bt, p, {"stages", "originating", "skip_stages", "add_header", "destiny",
                            "spam_tag_level", "spam_tag2_level", "spam_kill_level",
                            "spam_subject_tag", "spam_score_offset", "quarantine",
                            "banned_rules"});
        BankConfig b;
        b.name = std::string(k.str());
        if (auto st = get_strings(*bt, p, "stages")) {
          for (auto& s : *st) {
            if (std::find(kStageNames.begin(), kStageNames.end(), s) == kStageNames.end())
              error(bt->get("stages"), p + ".stages",
                    "unknown stage '" + s +
                        "' (known: dkim-verify, decode, av, spam, dkim-sign)");
          }
          b.stages = std::move(st);
        }
        if (auto st = get_strings(*bt, p, "skip_stages")) {
          for (auto& s : *st)
            if (std::find(kStageNames.begin(), kStageNames.end(), s) == kStageNames.end())
              error(bt->get("skip_stages"), p + ".skip_stages",
                    "unknown stage '" + s +
                        "' (known: dkim-verify, decode, av, spam, dkim-sign)");
          b.skip_stages = std::move(st);
        }
        if (auto hs = get_strings(*bt, p, "add_header")) {
          for (auto& h : *hs) {
            auto colon = h.find(':');
            bool ok = colon != std::string::npos && field_name(std::string_view(h).substr(0, colon)) &&
                      h.find_first_of("\r\n") == std::string::npos && h.size() <= 998;
            if (!ok)
              error(bt->get("add_header"), p + ".add_header",
                    "'" + h + "' is not a header field \"Name: value\" on one line (at most 998 characters)");
            else
              b.add_header.push_back(h);
          }
        }
        if (const toml::node* dn = bt->get("destiny")) {
          if (auto dt = dn->as_table()) {
            for (auto&& [ck, cv] : *dt) {
              std::string key = p + ".destiny." + std::string(ck.str());
              auto it = std::find(kCategoryNames.begin(), kCategoryNames.end(), ck.str());
              if (it == kCategoryNames.end()) {
                error(&cv, key, "unknown category (known: virus, banned, unchecked, spam, spammy, bad-header, clean)");
                continue;
              }
              auto v = cv.as_string();
              std::string d = v ? v->get() : "";
              Destiny out = Destiny::Pass;
              if (d == "pass") out = Destiny::Pass;
              else if (d == "discard") out = Destiny::Discard;
              else if (d == "reject") out = Destiny::Reject;
              else if (d == "tempfail") out = Destiny::TempFail;
              else if (d == "bounce") out = Destiny::Bounce;
              else {
                error(&cv, key, "must be one of pass, discard, bounce, reject, tempfail");
                continue;
              }
              b.destiny[static_cast<Category>(it - kCategoryNames.begin())] = out;
            }
          } else {
            error(dn, p + ".destiny", "must be a table: destiny = { virus = \"discard\", ... }");
          }
        }
        load_bank_spam(*bt, p, b.spam);
        if (std::string br; get_string(*bt, p, "banned_rules", br)) b.banned_rules = br;
        if (auto qs = get_strings(*bt, p, "quarantine")) {
          std::vector<Category> cats;
          for (auto& q : *qs) {
            auto it = std::find(kCategoryNames.begin(), kCategoryNames.end(), q);
            if (it == kCategoryNames.end())
              error(bt->get("quarantine"), p + ".quarantine",
                    "unknown category '" + q + "' (known: virus, banned, unchecked, spam, spammy, bad-header, clean)");
            else
              cats.push_back(static_cast<Category>(it - kCategoryNames.begin()));
          }
          b.quarantine = std::move(cats);
        }
        if (bt->get("originating")) {
          bool o = false;
          get_bool(*bt, p, "originating", o);
          b.originating = o;
        }
        c.banks.emplace(b.name, std::move(b));
      }
    }
    // The default bank always exists, even if not written.
    if (!c.banks.count("default")) {
      BankConfig d;
      d.name = "default";
      c.banks.emplace("default", std::move(d));
    }

    if (const toml::node* n = root.get("network")) {
      auto arr = n->as_array();
      if (!arr || !arr->is_array_of_tables()) {
        error(n, "network", "must be an array of tables ([[network]])");
      } else {
        std::size_t i = 0;
        for (auto&& e : *arr) {
          const toml::table& t = *e.as_table();
          std::string p = "network[" + std::to_string(i++) + "]";
          check_keys(t, p, {"cidrs", "bank"});
          NetworkRule r;
          if (auto cs = get_strings(t, p, "cidrs")) {
            for (auto& s : *cs) {
              auto cr = parse_cidr(s);
              if (cr) r.cidrs.push_back(cr.value());
              else error(t.get("cidrs"), p + ".cidrs", cr.error().message);
            }
          } else if (!t.get("cidrs")) {
            error(&t, p + ".cidrs", "missing");
          }
          if (!get_string(t, p, "bank", r.bank) && !t.get("bank"))
            error(&t, p + ".bank", "missing");
          else if (!r.bank.empty() && !c.banks.count(r.bank))
            error(t.get("bank"), p + ".bank", "no such bank '" + r.bank + "'");
          c.networks.push_back(std::move(r));
        }
      }
    }

    load_keys(root, c);
    load_signing(root, c);
    load_dns(root, c);
    load_verify(root, c);
    load_av(root, c);
    load_spam(root, c);
    load_decode(root, c);
    load_banned(root, c);
    check_banned_rules(root, c);
    load_quarantine(root, c);
    load_recipients(root, c);

    if (c.listeners.empty()) error_at(1, "listener", "at least one [[listener]] is required");
    for (std::size_t i = 0; i < c.listeners.size(); ++i) {
      const auto& l = c.listeners[i];
      if (!c.banks.count(l.bank)) {
        auto lt = root.get("listener")->as_array()->get(i)->as_table();
        error(lt->get("bank") ? lt->get("bank") : lt, "listener[" + std::to_string(i) + "].bank",
              "no such bank '" + l.bank + "'");
      }
      if (!l.auth_bank.empty() && !c.banks.count(l.auth_bank)) {
        auto lt = root.get("listener")->as_array()->get(i)->as_table();
        error(lt->get("auth_bank"), "listener[" + std::to_string(i) + "].auth_bank",
              "no such bank '" + l.auth_bank + "'");
      }
    }
    return c;
  }

  std::vector<std::string> errors_;

 private:
  // The rest of one [av] or [spam] scanners entry `st` (at `section`[index],
  // keys prefixed `sp`), after its address: the optional name (it replaces
  // the default `name` holds; letters, digits, '-', '_', '.'), unique within
  // the section (`names`: name -> index of the entry that has it), and the
  // timeout.
  void scanner_name_and_timeout(const toml::table& st, const std::string& sp,
                                std::string_view section, std::size_t index, std::string& name,
                                Seconds& timeout, std::map<std::string, std::size_t>& names) {
    if (st.get("name") && required_string(st, sp, "name", name)) {
      bool ok = std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
               ch == '.';
      });
      if (!ok)
        error(st.get("name"), sp + ".name", "'" + name + "': use letters, digits, '-', '_', '.'");
    }
    if (auto [it, fresh] = names.emplace(name, index); !fresh)
      error(st.get("name") ? st.get("name") : st.get("address"), sp + ".name",
            "duplicate scanner name '" + name + "' (also " + std::string(section) + "[" +
                std::to_string(it->second) + "])");
    get_seconds(st, sp, "timeout", timeout, 1, 3600);
  }

  std::string source_;
};

}  // namespace

Result<Config> load_string(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << source_name << ':' << e.source().begin.line << ": TOML syntax error: "
      << e.description();
    return make_error(ErrorKind::Config, o.str());
  }
  Loader l(source_name);
  Config c = l.load(root);
  if (!l.errors_.empty()) {
    std::string msg;
    for (auto& e : l.errors_) {
      if (!msg.empty()) msg += '\n';
      msg += e;
    }
    return make_error(ErrorKind::Config, msg);
  }
  return c;
}

Result<Config> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::Config, path + ": cannot read: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

}  // namespace conf
}  // namespace sigil
