// filter/app/rotate_config_edit.cpp — see rotate_config_edit.hpp.
#include "filter/app/rotate_config_edit.hpp"

#include <vector>

#include "conf/ascii.hpp"

namespace sigil::filter {

namespace {

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string trimmed(std::string_view s) { return std::string(ascii::trim(s)); }

// A table header line ([x] or [[x]]), comment aside.
bool is_header(const std::string& line) { return trimmed(line).starts_with("["); }

bool is_key_header(const std::string& line) {
  std::string t = trimmed(line);
  auto hash = t.find('#');
  if (hash != std::string::npos) t = trimmed(t.substr(0, hash));
  std::string squeezed;
  for (char c : t)
    if (c != ' ' && c != '\t') squeezed += c;
  return squeezed == "[[key]]";
}

// A line `KEY = ...`: its KEY, else "".
std::string line_key(const std::string& line) {
  std::string t = trimmed(line);
  if (t.empty() || t[0] == '#') return {};
  auto eq = t.find('=');
  return eq == std::string::npos ? std::string() : trimmed(t.substr(0, eq));
}

// The string value of a line `KEY = "v"` or `KEY = 'v'`, else "".
std::string line_string(const std::string& line) {
  auto eq = line.find('=');
  std::string v = trimmed(std::string_view(line).substr(eq + 1));
  if (v.size() < 2 || (v[0] != '"' && v[0] != '\'')) return {};
  auto end = v.find(v[0], 1);
  return end == std::string::npos ? std::string() : v.substr(1, end - 1);
}

// A basic TOML string (the values rotate writes are plain names and paths).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<std::string> add_successor_block(std::string_view text, const std::string& current,
                                        const conf::KeyConfig& next) {
  auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_key_header(lines[i])) continue;
    std::size_t end = i + 1, last = i;  // block end; its last key line
    bool ours = false, has_successor = false;
    for (; end < lines.size() && !is_header(lines[end]); ++end) {
      std::string k = line_key(lines[end]);
      if (!k.empty()) last = end;
      if (k == "name" && line_string(lines[end]) == current) ours = true;
      if (k == "successor") has_successor = true;
    }
    if (!ours) continue;
    if (has_successor)
      return make_error(ErrorKind::Config, "key '" + current + "' already has a successor");
    std::vector<std::string> add = {"successor = " + quoted(next.name),
                                    "",
                                    "[[key]]",
                                    "name = " + quoted(next.name),
                                    "file = " + quoted(next.file),
                                    "domain = " + quoted(next.domain),
                                    "selector = " + quoted(next.selector)};
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(last + 1), add.begin(), add.end());
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    if (!text.empty() && text.back() != '\n') out.pop_back();
    return out;
  }
  return make_error(ErrorKind::Config,
                    "no [[key]] block with name = \"" + current +
                        "\" in the file (a key written another way must be edited by hand)");
}

}  // namespace sigil::filter
