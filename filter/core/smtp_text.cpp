// filter/core/smtp_text.cpp — see smtp_text.hpp.
#include "filter/core/smtp_text.hpp"

#include <algorithm>
#include <cctype>

namespace sigil::filter {

namespace {

// RFC 3463 §2: class "." subject "." detail, class one digit, subject and
// detail 1*3 digits.  Anything else ("2..0", "2.0.0.0") is reply text.
bool is_enhanced_code(std::string_view e) {
  for (int part = 0; part < 3; ++part) {
    auto end = part < 2 ? e.find('.') : e.size();  // the detail is the rest
    if (end == std::string_view::npos) return false;
    std::string_view d = e.substr(0, end);
    if (d.empty() || d.size() > (part == 0 ? 1u : 3u) ||
        !std::all_of(d.begin(), d.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
    e.remove_prefix(part < 2 ? end + 1 : end);
  }
  return true;
}

}  // namespace

const Param* find_param(const std::vector<Param>& ps, std::string_view key) {
  for (auto& p : ps)
    if (p.key == key && p.has_value) return &p;
  return nullptr;
}

std::optional<std::string> xtext_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 33 || c > 126 || c == '=') return std::nullopt;
    if (c != '+') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;  // RFC 3461: upper-case hex only
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string xtext_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out.push_back('+');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

Reply make_reply(int code, std::string enhanced, std::string text) {
  Reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines.push_back(std::move(text));
  return r;
}

std::string Reply::summary() const {
  std::string s = std::to_string(code);
  if (!enhanced.empty()) s += " " + enhanced;
  if (!lines.empty() && !lines.front().empty()) s += " " + lines.front();
  return s;
}

bool ReplyParser::feed(std::string_view line) {
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) ||
      !std::isdigit(static_cast<unsigned char>(line[2])) || line[0] < '2' || line[0] > '5')
    return false;
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (r_.code != 0 && r_.code != code) return false;
  r_.code = code;
  bool last = line.size() == 3 || line[3] == ' ';
  if (!last && line[3] != '-') return false;
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
  // Enhanced status code "x.y.z " (RFC 3463), taken from the first line only.
  if (r_.lines.empty() && text.size() >= 5 && text[0] == line[0] && text[1] == '.') {
    auto sp = text.find(' ');
    std::string_view e = text.substr(0, sp);
    if (is_enhanced_code(e)) {
      r_.enhanced = std::string(e);
      text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
    }
  }
  r_.lines.emplace_back(text);
  complete_ = last;
  return true;
}

Reply ReplyParser::take() {
  Reply r = std::move(r_);
  r_ = Reply{};
  complete_ = false;
  return r;
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

}  // namespace sigil::filter
