// conf/sections_core.cpp — the core sections: [daemon], [smtp], [forward],
// [[listener]], [bank.NAME], [[network]] and [metrics] (see conf/sections.hpp).
//
// Reads how Sigil runs, listens, forwards, and which policy banks apply to
// which listener and client network.  Banks are overlays: only the settings
// a bank names are stored (BankConfig), and "default" always exists.
// Does not: check that the stages a bank names are built (filter/ does),
// or read the sections of other groups (the spam_* keys of a bank are read
// by conf/sections_scan.cpp).  Header fields of add_header follow RFC 5322
// §2.1.1 and §3.6.8.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "conf/sections.hpp"
#include "conf/values.hpp"

namespace sigil::conf::detail {

namespace {

constexpr std::string_view kKnownCategories =
    "(known: virus, banned, unchecked, spam, spammy, bad-header, clean)";

// log_target, log_facility (RFC 5424 §6.2.1 numbers) and syslog_socket.
void load_log_target(Loader& l, const toml::table& t, DaemonConfig& d) {
  const char* p = "daemon";
  l.get_keyword<LogTarget>(t, p, "log_target", d.log_target,
                           {{"stderr", LogTarget::Stderr},
                            {"syslog", LogTarget::Syslog},
                            {"journal", LogTarget::Journal}},
                           "must be one of stderr, syslog, journal");
  l.get_keyword<int>(t, p, "log_facility", d.log_facility,
                     {{"mail", 2}, {"daemon", 3}, {"user", 1}, {"local0", 16}, {"local1", 17},
                      {"local2", 18}, {"local3", 19}, {"local4", 20}, {"local5", 21},
                      {"local6", 22}, {"local7", 23}},
                     "must be one of mail, daemon, user, local0 .. local7");
  if (l.get_string(t, p, "syslog_socket", d.syslog_socket) &&
      (d.syslog_socket.empty() || d.syslog_socket.front() != '/' ||
       d.syslog_socket.size() >= 108))
    l.error(t.get("syslog_socket"), "daemon.syslog_socket",
            "must be an absolute path shorter than 108 bytes");
}

void load_daemon(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "daemon", {"log_level", "log_json", "log_target", "log_facility",
                                      "syslog_socket", "user", "group", "allow_root",
                                      "drain_timeout", "spool_dir", "memory_threshold",
                                      "crypto_threads"});
  if (!t) return;
  const char* p = "daemon";
  if (l.get_string(*t, p, "log_level", c.daemon.log_level)) {
    static const std::initializer_list<std::string_view> levels = {
        "trace", "debug", "info", "warn", "error"};
    if (std::find(levels.begin(), levels.end(), c.daemon.log_level) == levels.end())
      l.error(t->get("log_level"), "daemon.log_level",
              "must be one of trace, debug, info, warn, error");
  }
  l.get_bool(*t, p, "log_json", c.daemon.log_json);
  load_log_target(l, *t, c.daemon);
  if (l.get_string(*t, p, "user", c.daemon.user) && c.daemon.user.empty())
    l.error(t->get("user"), "daemon.user", "must not be empty (leave it out to run as started)");
  if (l.get_string(*t, p, "group", c.daemon.group)) {
    if (c.daemon.group.empty())
      l.error(t->get("group"), "daemon.group",
              "must not be empty (leave it out: the user's group)");
    else if (c.daemon.user.empty())
      l.error(t->get("group"), "daemon.group", "needs daemon.user");
  }
  l.get_bool(*t, p, "allow_root", c.daemon.allow_root);
  l.get_seconds(*t, p, "drain_timeout", c.daemon.drain_timeout, 0, 3600);
  if (l.get_string(*t, p, "spool_dir", c.daemon.spool_dir) &&
      (c.daemon.spool_dir.empty() || c.daemon.spool_dir.front() != '/'))
    l.error(t->get("spool_dir"), "daemon.spool_dir", "must be an absolute path");
  l.get_uint(*t, p, "memory_threshold", c.daemon.memory_threshold, 4096, 1ull << 30);
  if (t->get("crypto_threads")) {
    std::size_t n = 0;
    l.get_uint(*t, p, "crypto_threads", n, 0, 64);
    c.daemon.crypto_threads = n;
  }
}

void load_smtp(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "smtp", {"hostname", "max_message_size", "max_recipients",
                                    "max_line_length", "max_header_size", "max_errors", "max_junk_commands",
                                    "max_sessions", "max_sessions_per_client",
                                    "command_timeout", "idle_timeout", "data_timeout"});
  if (!t) return;
  const char* p = "smtp";
  if (l.get_string(*t, p, "hostname", c.smtp.hostname)) {
    const auto& h = c.smtp.hostname;
    bool okname = !h.empty() && h.size() < 256 && std::all_of(h.begin(), h.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ||
             ch == '[' || ch == ']' || ch == ':';
    });
    if (!okname) l.error(t->get("hostname"), "smtp.hostname", "not a valid host name");
  }
  l.get_uint(*t, p, "max_message_size", c.smtp.max_message_size, 1024, 1ull << 40);
  l.get_uint(*t, p, "max_recipients", c.smtp.max_recipients, 1, 1000000);
  l.get_uint(*t, p, "max_line_length", c.smtp.max_line_length, 512, 1 << 20);
  l.get_uint(*t, p, "max_header_size", c.smtp.max_header_size, 1024, 64ull << 20);
  l.get_uint(*t, p, "max_errors", c.smtp.max_errors, 1, 1000);
  l.get_uint(*t, p, "max_junk_commands", c.smtp.max_junk_commands, 1, 1000000);
  l.get_uint(*t, p, "max_sessions", c.smtp.max_sessions, 1, 1000000);
  // Unset: a quarter of max_sessions, so one address never holds them all.
  c.smtp.max_sessions_per_client = std::max<std::size_t>(1, c.smtp.max_sessions / 4);
  l.get_uint(*t, p, "max_sessions_per_client", c.smtp.max_sessions_per_client, 0, 1000000);
  l.get_seconds(*t, p, "command_timeout", c.smtp.command_timeout, 1, 86400);
  l.get_seconds(*t, p, "idle_timeout", c.smtp.idle_timeout, 1, 86400);
  l.get_seconds(*t, p, "data_timeout", c.smtp.data_timeout, 1, 86400);
}

void load_forward(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "forward", {"target", "connect_timeout", "reply_timeout", "xforward",
                                       "max_idle_connections", "idle_connection_time"});
  if (!t) return;
  const char* p = "forward";
  std::string target;
  if (l.get_string(*t, p, "target", target)) {
    auto r = parse_forward_target(target);
    if (r) c.forward.target = r.value();
    else l.error(t->get("target"), "forward.target", r.error().message);
  }
  l.get_seconds(*t, p, "connect_timeout", c.forward.connect_timeout, 1, 3600);
  l.get_seconds(*t, p, "reply_timeout", c.forward.reply_timeout, 1, 3600);
  l.get_bool(*t, p, "xforward", c.forward.xforward);
  l.get_uint(*t, p, "max_idle_connections", c.forward.max_idle_connections, 0, 10000);
  l.get_seconds(*t, p, "idle_connection_time", c.forward.idle_connection_time, 0, 3600);
}

// A [[listener]]'s mode with the timeouts that depend on it: peer_timeout
// (proxy and milter only) and the budget, which must end before it.
void load_listener_mode(Loader& l, const toml::table& t, const std::string& p,
                        ListenerConfig& out) {
  std::string mode;
  if (l.get_string(t, p, "mode", mode)) {
    if (mode == "after-queue") out.mode = ListenerMode::AfterQueue;
    else if (mode == "proxy") out.mode = ListenerMode::Proxy;
    else if (mode == "milter") out.mode = ListenerMode::Milter;
    else l.error(t.get("mode"), p + ".mode", "must be \"after-queue\", \"proxy\" or \"milter\"");
  }
  if (out.mode == ListenerMode::Milter) out.peer_timeout = Seconds{300};
  if (t.get("peer_timeout") && out.mode == ListenerMode::AfterQueue)
    l.error(t.get("peer_timeout"), p + ".peer_timeout",
            "only for mode = \"proxy\" or \"milter\" (an after-queue filter's MTA waits "
            "forward.reply_timeout)");
  l.get_seconds(t, p, "peer_timeout", out.peer_timeout, 2, 3600);
  if (t.get("budget")) {
    Seconds budget{0};
    l.get_seconds(t, p, "budget", budget, 1, 86400);
    out.budget = budget;
  }
  if (out.mode != ListenerMode::AfterQueue) {
    if (!out.budget) out.budget = out.peer_timeout - Seconds{10};
    if (*out.budget >= out.peer_timeout || out.budget->count() < 1)
      l.error(t.get("budget") ? t.get("budget") : &t, p + ".budget",
              "must be below peer_timeout (" + std::to_string(out.peer_timeout.count()) +
                  " s): the MTA must get our verdict before it gives up");
  }
}

// The milter-only keys of a [[listener]]: auth_bank and quarantine.
void load_listener_milter(Loader& l, const toml::table& t, const std::string& p,
                          ListenerConfig& out) {
  if (l.get_string(t, p, "auth_bank", out.auth_bank) && out.mode != ListenerMode::Milter)
    l.error(t.get("auth_bank"), p + ".auth_bank", "only for mode = \"milter\"");
  std::string q;
  if (!l.get_string(t, p, "quarantine", q)) return;
  if (out.mode != ListenerMode::Milter)
    l.error(t.get("quarantine"), p + ".quarantine", "only for mode = \"milter\"");
  else if (q == "hold") out.milter_hold = true;
  else if (q == "store") out.milter_hold = false;
  else l.error(t.get("quarantine"), p + ".quarantine", "must be \"hold\" or \"store\"");
}

// Who a [[listener]] believes XFORWARD from: xforward_hosts (CIDRs), or
// accept_xforward = false, the older spelling of xforward_hosts = [].
void load_listener_xforward(Loader& l, const toml::table& t, const std::string& p,
                            ListenerConfig& out) {
  bool accept = true;
  l.get_bool(t, p, "accept_xforward", accept);
  if (!accept) out.xforward_hosts.clear();
  const toml::node* n = t.get("xforward_hosts");
  if (!n) return;
  if (out.mode == ListenerMode::Milter)
    return l.error(n, p + ".xforward_hosts", "only for mode = \"after-queue\" or \"proxy\"");
  if (!accept)
    return l.error(n, p + ".xforward_hosts",
                   "not with accept_xforward = false (which means xforward_hosts = [])");
  auto cs = l.get_strings(t, p, "xforward_hosts");
  if (!cs) return;
  out.xforward_hosts.clear();
  for (auto& s : *cs) {
    auto cr = parse_cidr(s);
    if (cr) out.xforward_hosts.push_back(cr.value());
    else l.error(n, p + ".xforward_hosts", cr.error().message);
  }
}

// Which MTAs a milter listener serves: milter_hosts (CIDRs).
void load_listener_milter_hosts(Loader& l, const toml::table& t, const std::string& p,
                                ListenerConfig& out) {
  const toml::node* n = t.get("milter_hosts");
  if (!n) return;
  if (out.mode != ListenerMode::Milter)
    return l.error(n, p + ".milter_hosts", "only for mode = \"milter\"");
  auto cs = l.get_strings(t, p, "milter_hosts");
  if (!cs) return;
  out.milter_hosts.clear();
  for (auto& s : *cs) {
    auto cr = parse_cidr(s);
    if (cr) out.milter_hosts.push_back(cr.value());
    else l.error(n, p + ".milter_hosts", cr.error().message);
  }
}

// One [[listener]], the i-th.
ListenerConfig load_listener(Loader& l, const toml::table& t, std::size_t i) {
  std::string p = "listener[" + std::to_string(i) + "]";
  l.check_keys(t, p, {"name", "address", "bank", "accept_xforward", "xforward_hosts", "milter_hosts",
                      "unix_mode", "mode", "peer_timeout", "budget", "auth_bank", "quarantine"});
  ListenerConfig out;
  out.name = "listener" + std::to_string(i);
  l.get_string(t, p, "name", out.name);
  std::string addr;
  if (l.get_string(t, p, "address", addr)) {
    auto r = parse_listen_address(addr);
    if (r) out.address = r.value();
    else l.error(t.get("address"), p + ".address", r.error().message);
  } else if (!t.get("address")) {
    l.error(&t, p + ".address", "missing (every listener needs an address)");
  }
  l.get_string(t, p, "bank", out.bank);
  std::string mode;
  if (l.get_string(t, p, "unix_mode", mode)) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), v, 8);
    if (ec != std::errc{} || ptr != mode.data() + mode.size() || v > 0777)
      l.error(t.get("unix_mode"), p + ".unix_mode", "must be an octal mode string like \"0660\"");
    else out.unix_mode = v;
  }
  load_listener_mode(l, t, p, out);
  load_listener_milter(l, t, p, out);
  load_listener_xforward(l, t, p, out);
  load_listener_milter_hosts(l, t, p, out);
  return out;
}

void load_listeners(Loader& l, const toml::table& root, Config& c) {
  l.for_each_table(root, "listener", [&](const toml::table& t, std::size_t i) {
    c.listeners.push_back(load_listener(l, t, i));
  });
}

// stages or skip_stages of a bank: names of kStageNames.
std::optional<std::vector<std::string>> load_stage_list(Loader& l, const toml::table& bt,
                                                        const std::string& p,
                                                        std::string_view key) {
  auto st = l.get_strings(bt, p, key);
  if (st)
    for (auto& s : *st)
      if (!is_stage_name(s))
        l.error(bt.get(key), Loader::join(p, key),
                "unknown stage '" + s + "' (known: " + name_list(kStageNames) + ")");
  return st;
}

void load_bank_headers(Loader& l, const toml::table& bt, const std::string& p, BankConfig& b) {
  auto hs = l.get_strings(bt, p, "add_header");
  if (!hs) return;
  for (auto& h : *hs) {
    if (!header_field_line(h))
      l.error(bt.get("add_header"), p + ".add_header",
              "'" + h +
                  "' is not a header field \"Name: value\" on one line (at most 998 characters)");
    else
      b.add_header.push_back(h);
  }
}

// destiny = { virus = "discard", ... }
void load_bank_destiny(Loader& l, const toml::table& bt, const std::string& p, BankConfig& b) {
  const toml::node* dn = bt.get("destiny");
  if (!dn) return;
  auto dt = dn->as_table();
  if (!dt) {
    l.error(dn, p + ".destiny", "must be a table: destiny = { virus = \"discard\", ... }");
    return;
  }
  for (auto&& [ck, cv] : *dt) {
    std::string key = p + ".destiny." + std::string(ck.str());
    auto cat = category_named(ck.str());
    if (!cat) {
      l.error(&cv, key, "unknown category " + std::string(kKnownCategories));
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
      l.error(&cv, key, "must be one of pass, discard, bounce, reject, tempfail");
      continue;
    }
    b.destiny[*cat] = out;
  }
}

void load_bank_quarantine(Loader& l, const toml::table& bt, const std::string& p,
                          BankConfig& b) {
  auto qs = l.get_strings(bt, p, "quarantine");
  if (!qs) return;
  std::vector<Category> cats;
  for (auto& q : *qs) {
    if (auto cat = category_named(q)) cats.push_back(*cat);
    else
      l.error(bt.get("quarantine"), p + ".quarantine",
              "unknown category '" + q + "' " + std::string(kKnownCategories));
  }
  b.quarantine = std::move(cats);
}

// One [bank.NAME] table.
BankConfig load_bank(Loader& l, const toml::table& bt, const std::string& name) {
  std::string p = "bank." + name;
  l.check_keys(bt, p, {"stages", "originating", "skip_stages", "add_header", "destiny",
                       "spam_tag_level", "spam_tag2_level", "spam_kill_level",
                       "spam_subject_tag", "spam_score_offset", "quarantine", "banned_rules"});
  BankConfig b;
  b.name = name;
  b.stages = load_stage_list(l, bt, p, "stages");
  b.skip_stages = load_stage_list(l, bt, p, "skip_stages");
  load_bank_headers(l, bt, p, b);
  load_bank_destiny(l, bt, p, b);
  load_bank_spam(l, bt, p, b.spam);
  if (std::string br; l.get_string(bt, p, "banned_rules", br)) b.banned_rules = br;
  load_bank_quarantine(l, bt, p, b);
  if (bt.get("originating")) {
    bool o = false;
    l.get_bool(bt, p, "originating", o);
    b.originating = o;
  }
  return b;
}

void load_banks(Loader& l, const toml::table& root, Config& c) {
  if (auto t = l.table(root, "bank")) {
    for (auto&& [k, v] : *t) {
      std::string name(k.str());
      if (auto bt = v.as_table()) c.banks.emplace(name, load_bank(l, *bt, name));
      else l.error(&v, "bank." + name, "must be a table ([bank.NAME])");
    }
  }
  // The default bank always exists, even if not written.
  if (!c.banks.count("default")) {
    BankConfig d;
    d.name = "default";
    c.banks.emplace("default", std::move(d));
  }
}

// [[network]]: client networks and the bank overlaid for them (banks loaded).
void load_networks(Loader& l, const toml::table& root, Config& c) {
  l.for_each_table(root, "network", [&](const toml::table& t, std::size_t i) {
    std::string p = "network[" + std::to_string(i) + "]";
    l.check_keys(t, p, {"cidrs", "bank"});
    NetworkRule r;
    if (auto cs = l.get_strings(t, p, "cidrs")) {
      for (auto& s : *cs) {
        auto cr = parse_cidr(s);
        if (cr) r.cidrs.push_back(cr.value());
        else l.error(t.get("cidrs"), p + ".cidrs", cr.error().message);
      }
    } else if (!t.get("cidrs")) {
      l.error(&t, p + ".cidrs", "missing");
    }
    if (!l.get_string(t, p, "bank", r.bank) && !t.get("bank"))
      l.error(&t, p + ".bank", "missing");
    else if (!r.bank.empty() && !c.banks.count(r.bank))
      l.error(t.get("bank"), p + ".bank", "no such bank '" + r.bank + "'");
    c.networks.push_back(std::move(r));
  });
}

// [metrics] address: a numeric TCP host:port (no Unix socket: Prometheus
// scrapes over HTTP/TCP).
void load_metrics(Loader& l, const toml::table& root, Config& c) {
  auto t = l.section(root, "metrics", {"address"});
  if (!t) return;
  std::string a;
  if (!l.get_string(*t, "metrics", "address", a)) return;
  auto r = parse_listen_address(a);
  if (!r) return l.error(t->get("address"), "metrics.address", r.error().message);
  if (r.value().kind != ListenAddress::Kind::Tcp)
    return l.error(t->get("address"), "metrics.address", "must be a TCP host:port");
  c.metrics.address = r.value();
}

}  // namespace

void load_core_sections(Loader& l, const toml::table& root, Config& c) {
  for (auto load : {load_daemon, load_smtp, load_forward, load_listeners, load_banks,
                    load_networks, load_metrics})
    load(l, root, c);
}

void check_listener_banks(Loader& l, const toml::table& root, const Config& c) {
  if (c.listeners.empty()) l.error_at(1, "listener", "at least one [[listener]] is required");
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const auto& lc = c.listeners[i];
    const toml::table* lt = root.get("listener")->as_array()->get(i)->as_table();
    std::string p = "listener[" + std::to_string(i) + "]";
    if (!c.banks.count(lc.bank))
      l.error(lt->get("bank") ? lt->get("bank") : lt, p + ".bank",
              "no such bank '" + lc.bank + "'");
    if (!lc.auth_bank.empty() && !c.banks.count(lc.auth_bank))
      l.error(lt->get("auth_bank"), p + ".auth_bank", "no such bank '" + lc.auth_bank + "'");
  }
}

const toml::node* bank_key_node(const toml::table& root, const std::string& bank,
                                std::string_view key) {
  const toml::node* bn = root.get("bank");
  const toml::table* banks = bn ? bn->as_table() : nullptr;
  const toml::node* bt = banks ? banks->get(bank) : nullptr;
  return bt && bt->as_table() ? bt->as_table()->get(key) : nullptr;
}

}  // namespace sigil::conf::detail
