// conf/config.cpp — TOML loading and validation (see config.hpp).
#include "conf/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

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

  Config load(const toml::table& root) {
    Config c;
    c.source = source_;
    check_keys(root, "", {"daemon", "smtp", "forward", "listener", "bank", "network"});

    if (auto t = table(root, "daemon")) {
      const char* p = "daemon";
      check_keys(*t, p, {"log_level", "log_json", "drain_timeout", "spool_dir",
                         "memory_threshold"});
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
          check_keys(t, p, {"name", "address", "bank", "accept_xforward", "unix_mode"});
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
        check_keys(*bt, p, {"stages", "originating"});
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
        if (bt->get("originating")) {
          bool o = false;
          get_bool(*bt, p, "originating", o);
          b.originating = o;
        }
        c.banks.emplace(b.name, std::move(b));
      }
    }
    // The default bank always exists, even if not written.
    if (!c.banks.count("default")) c.banks.emplace("default", BankConfig{"default", {}, {}});

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

    if (c.listeners.empty()) error_at(1, "listener", "at least one [[listener]] is required");
    for (std::size_t i = 0; i < c.listeners.size(); ++i) {
      const auto& l = c.listeners[i];
      if (!c.banks.count(l.bank)) {
        auto lt = root.get("listener")->as_array()->get(i)->as_table();
        error(lt->get("bank") ? lt->get("bank") : lt, "listener[" + std::to_string(i) + "].bank",
              "no such bank '" + l.bank + "'");
      }
    }
    return c;
  }

  std::vector<std::string> errors_;

 private:
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
