// filter/app/import_opendkim.cpp — see import_opendkim.hpp.  The converter:
// opendkim.conf settings and table contents in, sigil.toml text out.
#include "filter/app/import_opendkim.hpp"

#include <algorithm>
#include <optional>
#include <sstream>

#include "conf/ascii.hpp"
#include "conf/values.hpp"

namespace sigil::filter {

namespace {

using Strings = std::vector<std::string>;

// OpenDKIM's default signed fields (libopendkim's dkim_should_signhdrs:
// RFC 6376 §5.4.1's list; no Message-ID, MIME-Version or Content-*).
const Strings kDefaultSign = {
    "From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
    "Resent-Sender", "Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id",
    "List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive"};

// Settings that only concern OpenDKIM's own process or logging, and why
// Sigil needs nothing for them.
const std::map<std::string, std::string> kNoEquivalent = {
    {"syslog", "Sigil always logs; [daemon] log_target chooses where"},
    {"syslogsuccess", "Sigil logs one summary line per message anyway"},
    {"syslogfacility", "see [daemon] log_facility"},
    {"logwhy", "Sigil's summary line always says why"},
    {"logresults", "Sigil's summary line carries the results"},
    {"umask", "see [[listener]] unix_mode"},
    {"pidfile", "sigild runs under systemd without a PID file"},
    {"userid", "set [daemon] user (and group) for sigild's own user"},
    {"autorestart", "systemd restarts sigild"},
    {"background", "systemd runs sigild in the foreground"},
    {"trustanchorfile", "Sigil's resolver does not validate DNSSEC"},
    {"reportaddress", "Sigil sends no failure reports"},
    {"sendreports", "Sigil sends no failure reports"},
    {"subdomains", "applied to the Domain rules above"},
    {"multiplesignatures", "applied to the SigningTable rules above"},
    {"externalignorelist",
     "it only silences OpenDKIM's \"external host tried to send mail as\" log line, which Sigil "
     "does not write"},
};

std::string lc(std::string_view s) { return ascii::lower(s); }

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string array(const Strings& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quote(v[i]);
  return out + "]";
}

Strings split(std::string_view s, char sep) {
  Strings out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    auto item = ascii::trim(s.substr(start, end - start));
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

// The non-empty, comment-less lines of a table file.
Strings table_lines(std::string_view text) {
  Strings out;
  for (auto& raw : split(text, '\n')) {
    auto line = ascii::trim(std::string_view(raw).substr(0, raw.find('#')));
    if (!line.empty()) out.emplace_back(line);
  }
  return out;
}

// A dataset (opendkim.conf(5) "DATA SETS"): where it comes from and its
// entries (the lines of a file, or the items of a list).
struct Dataset {
  enum Kind { List, File, Refile, Unsupported } kind = List;
  std::string path;
  Strings entries;
  bool missing = false;  // a file we were not given
};

std::string dataset_path(std::string_view v) {
  if (ascii::istarts_with(v, "file:")) return std::string(v.substr(5));
  if (ascii::istarts_with(v, "refile:")) return std::string(v.substr(7));
  if (!v.empty() && v[0] == '/') return std::string(v);
  return "";
}

Dataset read_dataset(std::string_view v, const OpendkimFiles& files) {
  Dataset d;
  if (ascii::istarts_with(v, "csl:")) {
    d.entries = split(v.substr(4), ',');
    return d;
  }
  d.path = dataset_path(v);
  if (d.path.empty()) {
    auto colon = v.find(':');
    if (colon != std::string_view::npos && v.find('/') > colon) {
      d.kind = Dataset::Unsupported;  // db:, ldap:, lua:, dsn: ...
      return d;
    }
    d.entries = split(v, ',');
    return d;
  }
  d.kind = ascii::istarts_with(v, "refile:") ? Dataset::Refile : Dataset::File;
  auto it = files.find(d.path);
  if (it == files.end()) d.missing = true;
  else d.entries = table_lines(it->second);
  return d;
}

struct Key {
  std::string name, domain, selector, file;
};

struct Rule {
  std::string pattern;
  Strings keys;
};

// What the conversion gathers before writing.
struct State {
  std::map<std::string, std::string> last;  // lower-cased key -> value (the last one wins)
  Strings notes;                            // "# not imported: ..." and other comments
  std::vector<Key> keys;
  std::vector<Rule> rules;
  void skip(const OpendkimSetting& s, std::string_view why) {
    notes.push_back("# not imported: " + s.key + " " + s.value + " (" + std::string(why) + ")");
  }
};

std::optional<std::string> get(const State& st, std::string_view key) {
  auto it = st.last.find(std::string(key));
  if (it == st.last.end()) return std::nullopt;
  return it->second;
}

bool yes(const State& st, std::string_view key) {
  auto v = get(st, key);
  if (!v || v->empty()) return false;
  char c = ascii::lower((*v)[0]);
  return c == 'y' || c == 't' || c == '1';
}

}  // namespace

std::vector<OpendkimSetting> parse_opendkim_conf(std::string_view text) {
  std::vector<OpendkimSetting> out;
  int n = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    ++n;
    line = ascii::trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::size_t sp = 0;
    while (sp < line.size() && !ascii::is_space(line[sp])) ++sp;
    out.push_back({std::string(line.substr(0, sp)),
                   std::string(ascii::trim(line.substr(sp))), n});
  }
  return out;
}

std::vector<std::string> opendkim_referenced_files(const std::vector<OpendkimSetting>& settings) {
  static const Strings kDatasets = {"keytable",     "signingtable",   "internalhosts",
                                    "signheaders",  "oversignheaders", "domain",
                                    "externalignorelist", "peerlist"};
  std::vector<std::string> out;
  for (const auto& s : settings) {
    if (std::find(kDatasets.begin(), kDatasets.end(), lc(s.key)) == kDatasets.end()) continue;
    auto p = dataset_path(s.value);
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

namespace {

// A SigningTable pattern as a Sigil match form ("" when there is none).
// file: tables hold literal lookups; refile: ones may use `*`.
std::string match_form(std::string_view p, bool refile, std::string& note) {
  std::string s = lc(p);
  if (!refile || s.find('*') == std::string::npos) return s;
  if (s == "*" || s == "*@*") return ".";
  if (s.rfind("*@", 0) == 0) s = s.substr(2);
  if (s.rfind("*.", 0) == 0 && s.find('*', 1) == std::string::npos) {
    note = "OpenDKIM's " + std::string(p) + " leaves out " + s.substr(2) +
           " itself; Sigil's " + s.substr(1) + " includes it";
    return s.substr(1);
  }
  if (s.find('*') == std::string::npos) return s;
  return "";
}

// Exact addresses first, then domains, then subtrees deepest first, then ".":
// the order OpenDKIM looks an address up in, since Sigil's first rule wins.
int rank(const std::string& m) {
  if (m == ".") return 1000;
  if (m.find('@') != std::string::npos) return 0;
  if (m[0] != '.') return 1;
  return 500 - static_cast<int>(std::count(m.begin(), m.end(), '.'));
}

// Adds k unless its domain cannot be a d= (e.g. "localhost"); false then.
bool add_key(State& st, Key k, const std::string& what) {
  if (conf::detail::valid_dns_name(k.domain, true)) {
    st.keys.push_back(std::move(k));
    return true;
  }
  st.notes.push_back("# not imported: " + what + " (" + k.domain +
                     " is not a domain a DKIM d= can name: two labels or more)");
  return false;
}

void import_key_table(State& st, const OpendkimSetting& s, const OpendkimFiles& files) {
  auto d = read_dataset(s.value, files);
  if (d.kind == Dataset::Unsupported) return st.skip(s, "only file: and csl: key tables");
  if (d.missing) return st.skip(s, "file not readable");
  for (auto& e : d.entries) {
    auto sp = e.find_first_of(" \t");
    auto name = e.substr(0, sp);
    auto fields = split(sp == std::string::npos ? "" : ascii::trim(e.substr(sp)), ':');
    if (fields.size() != 3) {
      st.notes.push_back("# not imported: KeyTable entry " + e + " (not NAME DOMAIN:SELECTOR:KEYFILE)");
      continue;
    }
    add_key(st, {name, lc(fields[0]), fields[1], fields[2]}, "KeyTable entry " + e);
  }
}

void add_rule(State& st, const std::string& match, const std::string& key, bool multiple) {
  for (auto& r : st.rules)
    if (r.pattern == match) {
      if (multiple) r.keys.push_back(key);
      else st.notes.push_back("# not imported: SigningTable " + match + " " + key +
                              " (an earlier line wins; MultipleSignatures is off)");
      return;
    }
  st.rules.push_back({match, {key}});
}

void import_signing_table(State& st, const OpendkimSetting& s, const OpendkimFiles& files) {
  auto d = read_dataset(s.value, files);
  if (d.kind == Dataset::Unsupported || d.kind == Dataset::List)
    return st.skip(s, "only file: and refile: signing tables");
  if (d.missing) return st.skip(s, "file not readable");
  for (auto& e : d.entries) {
    auto parts = split(std::string_view(e), ' ');
    if (parts.size() == 1) parts = split(std::string_view(e), '\t');
    std::string note;
    std::string m = parts.size() == 2 ? match_form(parts[0], d.kind == Dataset::Refile, note) : "";
    if (m.empty()) {
      st.notes.push_back("# not imported: SigningTable entry " + e +
                         " (no Sigil match form for this pattern)");
      continue;
    }
    if (!note.empty()) st.notes.push_back("# note: " + note);
    add_rule(st, m, parts[1], yes(st, "multiplesignatures"));
  }
}

// Domain + Selector + KeyFile: one [[key]] per domain, all with the same file.
void import_single_key(State& st, const OpendkimFiles& files) {
  auto dom = get(st, "domain"), sel = get(st, "selector"), file = get(st, "keyfile");
  if (!dom || !sel || !file) return;
  auto d = read_dataset(*dom, files);
  for (auto& e : d.entries) {
    std::string domain = lc(ascii::trim(std::string_view(e).substr(0, e.find_first_of(" \t"))));
    std::string name = domain + "-" + *sel;
    if (!add_key(st, {name, domain, *sel, *file}, "Domain " + domain)) continue;
    st.rules.push_back({domain, {name}});
    if (yes(st, "subdomains")) st.rules.push_back({"." + domain, {name}});
  }
}

// A host-list entry as a CIDR ("" when it is a host name or a negation).
std::string cidr(const std::string& e) {
  if (e.empty() || e[0] == '!') return "";
  if (e == "localhost") return "127.0.0.1/32";
  bool v6 = e.find(':') != std::string::npos;
  if (!v6 && e.find_first_not_of("0123456789./") != std::string::npos) return "";
  if (e.find('/') != std::string::npos) return e;
  return e + (v6 ? "/128" : "/32");
}

Strings import_hosts(State& st, const OpendkimFiles& files) {
  auto v = get(st, "internalhosts");
  OpendkimSetting s{"InternalHosts", v.value_or("127.0.0.1"), 0};
  auto d = read_dataset(s.value, files);
  if (d.kind == Dataset::Unsupported || d.missing) {
    st.skip(s, d.missing ? "file not readable" : "only file: and list data sets");
    return {};
  }
  Strings out;
  for (auto& e : d.entries) {
    auto c = cidr(std::string(ascii::trim(std::string_view(e).substr(0, e.find_first_of(" \t")))));
    if (c.empty()) st.notes.push_back("# not imported: InternalHosts entry " + e +
                                      " (Sigil matches client addresses: a CIDR, no names or !)");
    else if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

// Socket inet:PORT@HOST, inet6:PORT@[HOST], local:/path or unix:/path.
std::string listen_address(State& st) {
  auto v = get(st, "socket");
  if (!v) {
    st.notes.push_back("# note: opendkim.conf has no Socket; OpenDKIM's usual inet:8891@localhost is used");
    return "127.0.0.1:8891";
  }
  std::string s = *v;
  if (ascii::istarts_with(s, "local:")) return "unix:" + s.substr(6);
  if (ascii::istarts_with(s, "unix:")) return s;
  if (s.size() && s[0] == '/') return "unix:" + s;
  bool v6 = ascii::istarts_with(s, "inet6:");
  if (!v6 && !ascii::istarts_with(s, "inet:")) {
    st.skip({"Socket", s, 0}, "not an inet:, inet6: or local: socket; 127.0.0.1:8891 used");
    return "127.0.0.1:8891";
  }
  s = s.substr(v6 ? 6 : 5);
  auto at = s.find('@');
  std::string port = s.substr(0, at), host = at == std::string::npos ? "" : s.substr(at + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    st.skip({"Socket", *v, 0}, "the port is not a number; 127.0.0.1:8891 used");
    return "127.0.0.1:8891";
  }
  if (host.empty() || host == "*") host = v6 ? "[::]" : "0.0.0.0";
  if (host == "localhost") host = v6 ? "[::1]" : "127.0.0.1";
  if (v6 && host[0] != '[') host = "[" + host + "]";
  return host + ":" + port;
}

// SignHeaders as OpenDKIM applies it: the default, a replacement list, or a
// "*,+a,-b" delta; From always; every oversigned field too.
Strings signed_headers(State& st, const OpendkimFiles& files, const Strings& oversign) {
  Strings h = kDefaultSign;
  if (auto v = get(st, "signheaders")) {
    auto d = read_dataset(*v, files);
    if (!d.entries.empty() && d.entries[0] != "*") h.clear();
    for (auto& e : d.entries) {
      if (e == "*") continue;
      std::string name = e[0] == '+' || e[0] == '-' ? e.substr(1) : e;
      auto same = [&](const std::string& x) { return ascii::iequals(x, name); };
      if (e[0] == '-') h.erase(std::remove_if(h.begin(), h.end(), same), h.end());
      else if (std::none_of(h.begin(), h.end(), same)) h.push_back(name);
    }
  }
  Strings must = {"From"};
  must.insert(must.end(), oversign.begin(), oversign.end());
  for (auto& m : must)
    if (std::none_of(h.begin(), h.end(), [&](auto& x) { return ascii::iequals(x, m); }))
      h.push_back(m);
  return h;
}

std::string canonicalization(const State& st) {
  std::string c = lc(get(st, "canonicalization").value_or("simple/simple"));
  if (c.find('/') == std::string::npos) c += "/simple";
  return c;
}

void write_rules(std::ostream& o, State& st, const Strings& headers, const Strings& oversign) {
  std::stable_sort(st.rules.begin(), st.rules.end(),
                   [](const Rule& a, const Rule& b) { return rank(a.pattern) < rank(b.pattern); });
  for (auto& k : st.keys)
    o << "\n[[key]]\nname = " << quote(k.name) << "\nfile = " << quote(k.file)
      << "\ndomain = " << quote(k.domain) << "\nselector = " << quote(k.selector) << "\n";
  for (auto& r : st.rules) {
    auto known = [&](const std::string& name) {
      bool found = std::any_of(st.keys.begin(), st.keys.end(), [&](auto& k) { return k.name == name; });
      if (!found) st.notes.push_back("# not imported: SigningTable " + r.pattern + " " + name +
                                     " (no imported KeyTable entry of that name)");
      return !found;
    };
    r.keys.erase(std::remove_if(r.keys.begin(), r.keys.end(), known), r.keys.end());
    if (r.keys.empty()) continue;
    o << "\n[[signing]]\nmatch = [" << quote(r.pattern) << "]\nkeys = " << array(r.keys)
      << "\ncanonicalization = " << quote(canonicalization(st)) << "\nheaders = " << array(headers)
      << "\noversign = " << array(oversign) << "\n";
  }
}

}  // namespace

std::string convert_opendkim(const std::vector<OpendkimSetting>& settings,
                             const OpendkimFiles& files) {
  static const Strings kHandled = {"keytable", "signingtable", "domain", "selector", "keyfile",
                                   "canonicalization", "signheaders", "oversignheaders",
                                   "internalhosts", "mode", "socket", "minimumkeybits"};
  State st;
  for (auto& s : settings) st.last[lc(s.key)] = s.value;
  for (auto& s : settings) {
    auto k = lc(s.key);
    if (k == "keytable") import_key_table(st, s, files);
    else if (k == "signingtable") import_signing_table(st, s, files);
    else if (auto it = kNoEquivalent.find(k); it != kNoEquivalent.end()) st.skip(s, it->second);
    else if (std::find(kHandled.begin(), kHandled.end(), k) == kHandled.end())
      st.skip(s, "no Sigil equivalent");
  }
  if (!get(st, "keytable") && !get(st, "signingtable")) import_single_key(st, files);
  else if (get(st, "keyfile") || get(st, "domain"))
    st.notes.push_back("# not imported: Domain/Selector/KeyFile (KeyTable and SigningTable take precedence)");
  std::string mode = lc(get(st, "mode").value_or("sv"));
  bool sign = mode.find('s') != std::string::npos, verify = mode.find('v') != std::string::npos;
  Strings oversign;
  if (auto v = get(st, "oversignheaders")) oversign = read_dataset(*v, files).entries;
  Strings headers = signed_headers(st, files, oversign);
  Strings cidrs = import_hosts(st, files);
  std::string address = listen_address(st);

  std::ostringstream o;
  o << "# Imported from opendkim.conf by `sigil import opendkim`; check it with\n"
       "# `sigil check-config FILE` before starting sigild with it.\n\n";
  if (auto bits = get(st, "minimumkeybits")) o << "[dkim_verify]\nmin_key_bits = " << *bits << "\n\n";
  o << "# OpenDKIM's Socket: Postfix's smtpd_milters / non_smtpd_milters point here.\n"
       "[[listener]]\nname = \"opendkim\"\nmode = \"milter\"\naddress = "
    << quote(address) << "\nbank = \"default\"\n\n";
  o << "# Mail from other hosts (OpenDKIM Mode " << mode << ").\n[bank.default]\nstages = "
    << (verify ? "[\"dkim-verify\"]" : "[]") << "\noriginating = false\n\n";
  if (sign && !cidrs.empty())
    o << "# OpenDKIM's InternalHosts: their mail is signed rather than verified.\n"
         "[[network]]\ncidrs = " << array(cidrs) << "\nbank = \"mynets\"\n\n"
         "[bank.mynets]\noriginating = true\nstages = [\"dkim-sign\"]\n";
  else if (sign)
    st.notes.push_back("# note: no InternalHosts entry is a CIDR: nothing is signed until a bank "
                       "with dkim-sign and originating = true is added");
  else
    st.notes.push_back("# note: Mode " + mode + " does not sign: InternalHosts, keys and signing rules "
                       "are written for when signing is turned on (add a bank with dkim-sign)");
  write_rules(o, st, headers, oversign);
  if (!st.notes.empty()) o << "\n";
  for (auto& n : st.notes) o << n << "\n";
  return o.str();
}

}  // namespace sigil::filter
