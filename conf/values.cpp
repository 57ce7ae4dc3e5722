// conf/values.cpp — the parsers and checks of single values (see
// conf/values.hpp, and conf/config.hpp for the public parsers: addresses,
// CIDRs, forward targets, DNS servers, scanner addresses, whitelist
// patterns).
//
// Addresses are numeric only (inet_pton): no name is ever resolved here.
// Does not: read TOML or report file:line:key (conf/loader.hpp).
#include "conf/values.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "conf/ascii.hpp"

namespace sigil::conf {

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

bool cidrs_contain(const std::vector<Cidr>& cidrs,
                   const std::optional<std::array<std::uint8_t, 16>>& ip) noexcept {
  return ip && std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.contains(*ip); });
}

std::vector<Cidr> default_xforward_hosts() {
  return {parse_cidr("127.0.0.0/8").value(), parse_cidr("::1/128").value()};
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

namespace {

bool parse_port(std::string_view p, std::uint16_t& out, bool allow_zero = false) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc{} || ptr != p.data() + p.size() || (v == 0 && !allow_zero) || v > 65535)
    return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// "host:port" or "[v6]:port"; host must be numeric.
bool split_host_port(std::string_view s, std::string& host, std::uint16_t& port,
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

// "unix:/path" (absolute, shorter than `unix_limit` bytes: sun_path with its
// terminating NUL) or a numeric "host:port" / "[v6]:port".  In the error,
// `what` names the address and `want` lists its forms.
Result<ListenAddress> parse_socket_address(std::string_view s, std::size_t unix_limit,
                                           bool allow_port_zero, std::string_view what,
                                           std::string_view want) {
  ListenAddress a;
  a.text = std::string(s);
  if (s.starts_with("unix:")) {
    a.kind = ListenAddress::Kind::Unix;
    a.path = std::string(s.substr(5));
    if (!a.path.empty() && a.path.front() == '/' && a.path.size() < unix_limit) return a;
    return make_error(ErrorKind::Config, "unix socket path must be absolute and under " +
                                             std::to_string(unix_limit) + " bytes: '" +
                                             std::string(s) + "'");
  }
  a.kind = ListenAddress::Kind::Tcp;
  if (split_host_port(s, a.host, a.port, false, allow_port_zero)) return a;
  return make_error(ErrorKind::Config, "bad " + std::string(what) + " '" + std::string(s) +
                                           "' (want " + std::string(want) + ")");
}

}  // namespace

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
  // Numeric only: the scanner must not depend on DNS working.
  // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
  auto e = parse_socket_address(s, 108, false, "scanner address",
                                "unix:/path, 127.0.0.1:3310 or [::1]:3310");
  if (!e) return e.error();
  AvScanner a;
  a.kind = e->kind == ListenAddress::Kind::Unix ? AvScanner::Kind::Unix : AvScanner::Kind::Tcp;
  a.path = std::move(e->path);
  a.host = std::move(e->host);
  a.port = e->port;
  a.address = std::move(e->text);
  return a;
}

Result<ListenAddress> parse_listen_address(std::string_view s) {
  // Port 0 picks a free port (tests; the bound port is logged).
  return parse_socket_address(s, 104, true, "listen address",
                              "127.0.0.1:10024, [::1]:10024 or unix:/path");
}

// ------------------------------------------------------ names and patterns

namespace detail {

namespace {

bool letter_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// The number of dot-separated labels of `d`, each accepted by `label_ok`
// (RFC 1035 §2.3.4: 1..63 bytes, at most 253 in all); 0 when `d` is not a
// name.
std::size_t count_labels(std::string_view d, bool (*label_ok)(std::string_view)) {
  if (d.empty() || d.size() > 253) return 0;
  std::size_t labels = 0;
  for (std::size_t start = 0;;) {
    auto dot = d.find('.', start);
    auto label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                               : dot - start);
    if (label.empty() || label.size() > 63 || !label_ok(label)) return 0;
    ++labels;
    if (dot == std::string_view::npos) return labels;
    start = dot + 1;
  }
}

// A host name label: letters, digits, '-' but not at either end.
bool ldh_label(std::string_view label) {
  return label.front() != '-' && label.back() != '-' &&
         std::all_of(label.begin(), label.end(),
                     [](char c) { return letter_or_digit(c) || c == '-'; });
}

// A label to look up: letters, digits, '-', '_' anywhere.
bool lookup_label(std::string_view label) {
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return letter_or_digit(c) || c == '-' || c == '_'; });
}

// RFC 5322 §3.2.3 atext; bytes >= 0x80 for UTF-8 local parts (RFC 6532 §3.2).
bool atext(unsigned char c) {
  return letter_or_digit(static_cast<char>(c)) ||
         std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr || c >= 0x80;
}

}  // namespace

bool valid_dns_name(std::string_view d, bool need_dot) {
  std::size_t labels = count_labels(d, ldh_label);
  return labels >= (need_dot ? 2 : 1);
}

bool valid_lookup_name(std::string_view d) {
  if (d.ends_with('.')) d.remove_suffix(1);
  return count_labels(d, lookup_label) > 0;
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

bool field_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < 33 || c > 126 || c == ':') return false;
  return true;
}

bool header_field_line(std::string_view h) {
  auto colon = h.find(':');
  return colon != std::string_view::npos && field_name(h.substr(0, colon)) &&
         h.find_first_of("\r\n") == std::string_view::npos && h.size() <= 998;
}

bool object_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
  });
}

std::string check_pattern(std::string& p) {
  p = ascii::lower(p);
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

std::string check_identity(std::string& id) {
  auto at = id.rfind('@');
  if (at == std::string::npos) return "must be \"@domain\" or \"user@domain\"";
  auto local = std::string_view(id).substr(0, at);
  if (!local.empty() && !dot_atom(local)) return "the local part must be a dot-atom";
  std::string domain = ascii::lower(std::string_view(id).substr(at + 1));
  if (!valid_dns_name(domain, true)) return "'" + domain + "' is not a valid domain name";
  id = std::string(local) + "@" + domain;
  return "";
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
  return std::any_of(names.begin(), names.end(), [&](auto& x) { return ascii::iequals(x, n); });
}

std::string recipient_pattern(std::string_view s, bool domains_only) {
  std::string v = ascii::lower(s);
  if (!domains_only && v == ".") return v;
  auto at = v.find('@');
  if (at != std::string::npos) {
    if (domains_only) return "";
    std::string_view local = std::string_view(v).substr(0, at);
    std::string_view dom = std::string_view(v).substr(at + 1);
    if (!dot_atom(local)) return "";
    if (!dom.empty() && !valid_dns_name(dom, false)) return "";
    return v;
  }
  std::string_view d = v;
  if (!d.empty() && d.front() == '.') d.remove_prefix(1);
  return valid_dns_name(d, false) ? v : "";
}

bool is_stage_name(std::string_view s) {
  return std::find(kStageNames.begin(), kStageNames.end(), s) != kStageNames.end();
}

std::optional<Category> category_named(std::string_view s) {
  auto it = std::find(kCategoryNames.begin(), kCategoryNames.end(), s);
  if (it == kCategoryNames.end()) return std::nullopt;
  return static_cast<Category>(it - kCategoryNames.begin());
}

std::string name_list(std::span<const std::string_view> names, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? last_sep : std::string_view(", ");
    out += names[i];
  }
  return out;
}

}  // namespace detail

// --------------------------------------------------- DKIM whitelist patterns

Result<WhitelistPattern> parse_whitelist_pattern(std::string_view s) {
  WhitelistPattern w;
  w.text = std::string(s);
  std::string author(s), signer;
  if (auto slash = s.find("/@"); slash != std::string_view::npos) {
    author = std::string(s.substr(0, slash));
    signer = ascii::lower(s.substr(slash + 2));
    if (signer.starts_with('.')) {
      w.signer_tree = true;
      signer.erase(0, 1);
    }
    if (!detail::valid_dns_name(signer, true))
      return make_error(ErrorKind::Config,
                        "'" + w.text + "': the signer after '/@' must be a domain name");
    w.signer = signer;
  }
  if (author.empty())
    return make_error(ErrorKind::Config,
                      "'" + w.text + "': no author (use '.' for any author, e.g. './@signer.net')");
  if (auto why = detail::check_pattern(author); !why.empty())
    return make_error(ErrorKind::Config, why);
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

}  // namespace sigil::conf
