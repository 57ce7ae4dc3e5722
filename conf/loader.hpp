// conf/loader.hpp — the configuration loader's error reporting and typed
// getters (internal to conf/; the rest of Sigil includes conf/config.hpp).
//
// A Loader walks one parsed TOML document.  Every problem is recorded as
// "file:line:key: what is wrong" and the walk goes on, so that one run
// reports every mistake of a file, not only the first.  The getters read one
// key of a table with its type and range checked; an absent key leaves the
// caller's default in place.  Loader::load checks the top-level section
// names, then hands each group of sections to conf/sections.hpp.
//
// Does not: parse the text of values (conf/values.hpp), know the keys of any
// section (conf/sections_*.cpp), or parse TOML itself (toml++ does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "conf/config.hpp"

namespace sigil::conf::detail {

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  // The whole document; errors() says whether the result is usable.
  Config load(const toml::table& root);

  const std::vector<std::string>& errors() const { return errors_; }

  // ------------------------------------------------------------ reporting
  // One "file:line:key: what" line, at node n (line 0 when null), or at `line`.
  void error(const toml::node* n, std::string_view key, std::string_view what);
  void error_at(std::uint32_t line, std::string_view key, std::string_view what);

  // Rejects keys of t that are not in `known`.
  void check_keys(const toml::table& t, std::string_view prefix,
                  std::initializer_list<std::string_view> known);

  // "prefix.key", or "key" when prefix is empty.
  static std::string join(std::string_view prefix, std::string_view key);

  // --------------------------------------------------------------- getters
  // Each reads t[key] into `out` when present and valid, else reports it
  // (and leaves `out`).  Key names in errors are join(prefix, key).
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
                   Seconds& out, std::uint64_t min, std::uint64_t max);
  void get_bool(const toml::table& t, std::string_view prefix, std::string_view key, bool& out);
  // True when the key was present and a string.
  bool get_string(const toml::table& t, std::string_view prefix, std::string_view key,
                  std::string& out);
  // The words get_keyword accepts, each with its value.
  template <typename E>
  using Keywords = std::initializer_list<std::pair<std::string_view, std::type_identity_t<E>>>;
  // A string that is one of `words`: `out` takes its value; any other is
  // reported as "'value': why".
  template <typename E>
  void get_keyword(const toml::table& t, std::string_view prefix, std::string_view key, E& out,
                   Keywords<E> words, std::string_view why) {
    std::string v;
    if (!get_string(t, prefix, key, v)) return;
    for (auto& [word, value] : words)
      if (v == word) {
        out = value;
        return;
      }
    error(t.get(key), join(prefix, key), "'" + v + "': " + std::string(why));
  }
  // A required, non-empty string; reports it missing or empty.
  bool required_string(const toml::table& t, const std::string& p, std::string_view key,
                       std::string& out);
  // Unset when absent or bad.
  std::optional<std::vector<std::string>> get_strings(const toml::table& t,
                                                      std::string_view prefix,
                                                      std::string_view key);
  // A number (integer or float) within [min, max]; unset when absent or bad.
  std::optional<double> get_double(const toml::table& t, std::string_view prefix,
                                   std::string_view key, double min, double max);

  // ---------------------------------------------------------------- tables
  // root[key] as a table ([key]), or nullptr (absent, or wrong: reported).
  const toml::table* table(const toml::table& root, std::string_view key);
  // The same, with its keys checked against `known` (a section [key]).
  const toml::table* section(const toml::table& root, std::string_view key,
                             std::initializer_list<std::string_view> known);
  // Calls one(table, index) for each table of root[key] ([[key]]); reports
  // root[key] when it is not an array of tables.
  template <typename One>
  void for_each_table(const toml::table& root, std::string_view key, One one) {
    auto arr = array_of_tables(root, "", key);
    if (!arr) return;
    std::size_t i = 0;
    for (auto&& e : *arr) one(*e.as_table(), i++);
  }
  // An array of tables ([[name]]) or nullptr (absent, or wrong: reported).
  const toml::array* array_of_tables(const toml::table& t, std::string_view prefix,
                                     std::string_view key);
  // The node of element i of array t[key], for errors on one element.
  static const toml::node* element(const toml::table& t, std::string_view key, std::size_t i);

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace sigil::conf::detail
