// conf/loader.cpp — error reporting, typed getters and the top of the load
// (see conf/loader.hpp).
//
// Does not: know the keys of any section (conf/sections_*.cpp) or parse
// values (conf/values.cpp).
#include "conf/loader.hpp"

#include <algorithm>
#include <sstream>

#include "conf/sections.hpp"

namespace sigil::conf::detail {

Config Loader::load(const toml::table& root) {
  Config c;
  c.source = source_;
  check_keys(root, "", {"daemon", "smtp", "forward", "listener", "bank", "network", "key",
                        "signing", "dkim_sign", "dns", "dkim_verify", "dkim_whitelist", "av", "spam", "decode",
                        "quarantine", "banned", "recipients", "recipient", "dsn", "metrics"});
  // In this order: later groups refer to what earlier ones define (banks,
  // keys); the listeners' banks are checked once everything else is.
  load_core_sections(*this, root, c);
  load_dkim_sections(*this, root, c);
  load_scan_sections(*this, root, c);
  check_listener_banks(*this, root, c);
  return c;
}

void Loader::error(const toml::node* n, std::string_view key, std::string_view what) {
  error_at(n ? n->source().begin.line : 0, key, what);
}

void Loader::error_at(std::uint32_t line, std::string_view key, std::string_view what) {
  std::ostringstream o;
  o << source_ << ':' << line << ':' << key << ": " << what;
  errors_.push_back(o.str());
}

void Loader::check_keys(const toml::table& t, std::string_view prefix,
                        std::initializer_list<std::string_view> known) {
  for (auto&& [k, v] : t) {
    if (std::find(known.begin(), known.end(), k.str()) == known.end())
      error(&v, join(prefix, k.str()), "unknown key");
  }
}

std::string Loader::join(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return std::string(prefix) + "." + std::string(key);
}

void Loader::get_seconds(const toml::table& t, std::string_view prefix, std::string_view key,
                         Seconds& out, std::uint64_t min, std::uint64_t max) {
  std::uint64_t s = static_cast<std::uint64_t>(out.count());
  get_uint(t, prefix, key, s, min, max);
  out = Seconds(s);
}

void Loader::get_bool(const toml::table& t, std::string_view prefix, std::string_view key,
                      bool& out) {
  const toml::node* n = t.get(key);
  if (!n) return;
  if (auto v = n->as_boolean()) out = v->get();
  else error(n, join(prefix, key), "must be true or false");
}

bool Loader::get_string(const toml::table& t, std::string_view prefix, std::string_view key,
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

bool Loader::required_string(const toml::table& t, const std::string& p, std::string_view key,
                             std::string& out) {
  if (get_string(t, p, key, out)) {
    if (!out.empty()) return true;
    error(t.get(key), join(p, key), "must not be empty");
    return false;
  }
  if (!t.get(key)) error(&t, join(p, key), "missing");
  return false;
}

std::optional<std::vector<std::string>> Loader::get_strings(const toml::table& t,
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

std::optional<double> Loader::get_double(const toml::table& t, std::string_view prefix,
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

const toml::table* Loader::table(const toml::table& root, std::string_view key) {
  const toml::node* n = root.get(key);
  if (!n) return nullptr;
  if (auto t = n->as_table()) return t;
  error(n, key, "must be a table ([" + std::string(key) + "])");
  return nullptr;
}

const toml::table* Loader::section(const toml::table& root, std::string_view key,
                                   std::initializer_list<std::string_view> known) {
  auto t = table(root, key);
  if (t) check_keys(*t, key, known);
  return t;
}

const toml::array* Loader::array_of_tables(const toml::table& t, std::string_view prefix,
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

const toml::node* Loader::element(const toml::table& t, std::string_view key, std::size_t i) {
  const toml::node* n = t.get(key);
  const toml::array* a = n ? n->as_array() : nullptr;
  return a && i < a->size() ? a->get(i) : n;
}

}  // namespace sigil::conf::detail
