// conf/config.cpp — the entry points of conf/ (load_string, load_file), the
// names of the enumerations and the built-in defaults (see config.hpp).
//
// The loading itself is split by concern: conf/loader.cpp (error reporting,
// typed getters), conf/values.cpp (parsers of single values) and one file
// per group of sections (conf/sections_core.cpp, sections_dkim.cpp,
// sections_scan.cpp).
#include "conf/config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "conf/embedded_config.hpp"
#include "conf/loader.hpp"

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

// After Amavis's default $banned_filename_re, extended (docs/scanning.md "Banned
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
  detail::Loader l(source_name);
  Config c = l.load(root);
  if (!l.errors().empty()) {
    std::string msg;
    for (auto& e : l.errors()) {
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
