// filter/stages/decode/display.cpp — see display.hpp.
#include "filter/stages/decode/display.hpp"

namespace sigil::filter::decode {

namespace {
constexpr std::size_t kNameMax = 200;
}  // namespace

std::string shown(std::string_view s) {
  std::string o(s.substr(0, kNameMax));
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '?';
  if (s.size() > kNameMax) o += "...";
  return o;
}

std::string join(const std::vector<std::string>& v, std::size_t n, std::string_view sep) {
  std::string s;
  for (std::size_t i = 0; i < n && i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

std::string display(const std::vector<std::string>& path, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n && i < path.size(); ++i) {
    if (i) s += '/';
    s += path[i].empty() && i == 0 ? "(unnamed)" : path[i];
  }
  return shown(s);
}

std::string display(const std::vector<std::string>& path) { return display(path, path.size()); }

}  // namespace sigil::filter::decode
