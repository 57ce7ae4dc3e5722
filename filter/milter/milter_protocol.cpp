// filter/milter/milter_protocol.cpp — see milter_protocol.hpp.
#include "filter/milter/milter_protocol.hpp"

#include <cstring>

namespace sigil::filter::milter {

static std::uint32_t get32(std::string_view d, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(d[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

static void put32(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>((v >> 24) & 0xff));
  s.push_back(static_cast<char>((v >> 16) & 0xff));
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

void Framer::feed(std::string_view bytes) {
  // Drop what was consumed before appending, so the buffer does not grow
  // with the connection's lifetime.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > 64 * 1024)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<Packet>> Framer::next() {
  std::string_view d(buf_);
  d.remove_prefix(pos_);
  if (d.size() < 4) return std::optional<Packet>{};
  std::uint32_t len = get32(d, 0);
  if (len == 0) return make_error(ErrorKind::Protocol, "milter packet of length 0");
  if (len > max_)
    return make_error(ErrorKind::Protocol,
                      "milter packet of " + std::to_string(len) + " bytes (limit " +
                          std::to_string(max_) + ")");
  if (d.size() < 4 + static_cast<std::size_t>(len)) return std::optional<Packet>{};
  Packet p{d[4], d.substr(5, len - 1)};
  pos_ += 4 + len;
  return std::optional<Packet>{p};
}

std::string encode(char cmd, std::string_view data) {
  std::string s;
  s.reserve(5 + data.size());
  put32(s, static_cast<std::uint32_t>(data.size() + 1));
  s.push_back(cmd);
  s.append(data);
  return s;
}

Result<Optneg> decode_optneg(std::string_view d) {
  if (d.size() < 12) return make_error(ErrorKind::Protocol, "short OPTNEG");
  return Optneg{get32(d, 0), get32(d, 4), get32(d, 8)};
}

std::string encode_optneg(const Optneg& o,
                          const std::vector<std::pair<std::uint32_t, std::string>>& macros) {
  std::string d;
  put32(d, o.version);
  put32(d, o.actions);
  put32(d, o.protocol);
  for (const auto& [stage, names] : macros) {
    put32(d, stage);
    d += names;
    d.push_back('\0');
  }
  return encode(kOptneg, d);
}

// Takes a NUL-terminated string from the front of d.
static std::optional<std::string_view> take_string(std::string_view& d) {
  auto z = d.find('\0');
  if (z == std::string_view::npos) return std::nullopt;
  auto s = d.substr(0, z);
  d.remove_prefix(z + 1);
  return s;
}

Result<ConnectInfo> decode_connect(std::string_view d) {
  ConnectInfo c;
  auto host = take_string(d);
  if (!host) return make_error(ErrorKind::Protocol, "CONNECT without a host name");
  c.hostname = std::string(*host);
  if (d.empty()) return c;  // no family: unknown
  c.family = d[0];
  d.remove_prefix(1);
  if (c.family == 'U') return c;
  if (c.family != '4' && c.family != '6' && c.family != 'L')
    return make_error(ErrorKind::Protocol, std::string("CONNECT with unknown family '") +
                                               (c.family >= 0x20 && c.family < 0x7f ? c.family : '?') + "'");
  if (d.size() < 2) return make_error(ErrorKind::Protocol, "CONNECT without a port");
  c.port = static_cast<std::uint16_t>((static_cast<unsigned char>(d[0]) << 8) |
                                      static_cast<unsigned char>(d[1]));
  d.remove_prefix(2);
  auto addr = take_string(d);
  c.address = std::string(addr ? *addr : d);
  // Postfix writes IPv6 addresses as "IPv6:2001:db8::1" (sendmail's form).
  if (c.family == '6' && c.address.size() > 5 && (c.address[0] | 0x20) == 'i' &&
      (c.address[1] | 0x20) == 'p' && (c.address[2] | 0x20) == 'v' && c.address[3] == '6' &&
      c.address[4] == ':')
    c.address.erase(0, 5);
  return c;
}

std::vector<std::string_view> split_strings(std::string_view d) {
  std::vector<std::string_view> out;
  while (!d.empty()) {
    auto z = d.find('\0');
    if (z == std::string_view::npos) {
      out.push_back(d);
      break;
    }
    out.push_back(d.substr(0, z));
    d.remove_prefix(z + 1);
  }
  return out;
}

Result<Macros> decode_macros(std::string_view d) {
  if (d.empty()) return make_error(ErrorKind::Protocol, "MACRO without a command");
  Macros m;
  m.for_cmd = d[0];
  d.remove_prefix(1);
  auto parts = split_strings(d);
  for (std::size_t i = 0; i + 1 < parts.size(); i += 2) {
    std::string name(parts[i]);
    if (name.size() >= 2 && name.front() == '{' && name.back() == '}')
      name = name.substr(1, name.size() - 2);
    m.values.emplace_back(std::move(name), std::string(parts[i + 1]));
  }
  return m;
}

Result<HeaderCmd> decode_header(std::string_view d) {
  auto name = take_string(d);
  if (!name || name->empty()) return make_error(ErrorKind::Protocol, "HEADER without a name");
  auto value = take_string(d);
  return HeaderCmd{*name, value ? *value : d};
}

// Milter strings cannot carry NUL; a CR or LF in a reply text would end the
// SMTP reply line early.
static std::string clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(c == '\0' || c == '\r' || c == '\n' ? ' ' : c);
  return out;
}

std::string reply_code(int code, std::string_view enhanced, std::string_view text) {
  std::string d = std::to_string(code);
  d += ' ';
  if (!enhanced.empty()) {
    d += enhanced;
    d += ' ';
  }
  // sendmail expands '%' in reply texts (Postfix does not); double it so
  // either MTA shows it as written.
  for (char c : clean(text)) {
    d.push_back(c);
    if (c == '%') d.push_back('%');
  }
  d.push_back('\0');
  return encode(kReplyCode, d);
}

static std::string nul_join(std::initializer_list<std::string_view> parts) {
  std::string d;
  for (auto p : parts) {
    d.append(p);
    d.push_back('\0');
  }
  return d;
}

std::string add_header(std::string_view name, std::string_view value) {
  return encode(kAddHeader, nul_join({name, value}));
}

std::string insert_header(std::uint32_t index, std::string_view name, std::string_view value) {
  std::string d;
  put32(d, index);
  d += nul_join({name, value});
  return encode(kInsHeader, d);
}

std::string change_header(std::uint32_t index, std::string_view name, std::string_view value) {
  std::string d;
  put32(d, index);
  d += nul_join({name, value});
  return encode(kChgHeader, d);
}

std::string quarantine(std::string_view reason) { return encode(kQuarantine, nul_join({clean(reason)})); }

std::string del_rcpt(std::string_view addr) {
  std::string a(addr);
  if (a.empty() || a.front() != '<') a = "<" + a + ">";
  return encode(kDelRcpt, nul_join({a}));
}

std::pair<std::string, std::string> split_field(std::string_view field, bool leadspc) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return {std::string(field), std::string()};
  std::string name(field.substr(0, colon));
  // Trailing blanks between the name and the colon (obsolete syntax) are not
  // part of the name.
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
  std::string_view v = field.substr(colon + 1);
  if (v.size() >= 2 && v.substr(v.size() - 2) == "\r\n") v.remove_suffix(2);
  else if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  if (!leadspc && !v.empty() && v.front() == ' ') v.remove_prefix(1);
  std::string value;
  value.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') continue;  // CRLF → LF
    value.push_back(v[i]);
  }
  return {std::move(name), std::move(value)};
}

}  // namespace sigil::filter::milter
