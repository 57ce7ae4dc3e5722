// filter/core/log_summary.cpp — the per-message summary line (log.hpp):
// its fields, their text form (key=value, peer values quoted) and JSON form
// (one object, RFC 8259, valid UTF-8: a byte that is not is written as
// U+FFFD).
//
// Does not: choose where the line goes or its prefix (log.cpp), or decide
// the action word (core/outcome.hpp).
#include <string_view>

#include <fmt/format.h>

#include "filter/core/log.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter::log {

namespace {

// The length of the valid UTF-8 sequence starting at s[i] (RFC 3629 §4), 0
// when it is not one.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  // No overlong forms, no surrogates, nothing above U+10FFFF.
  if ((c == 0xe0 && b(i + 1) < 0xa0) || (c == 0xed && b(i + 1) >= 0xa0) ||
      (c == 0xf0 && b(i + 1) < 0x90) || (c == 0xf4 && b(i + 1) >= 0x90))
    return 0;
  return n;
}

void json_escape(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else if (c < 0x80) {
          out.push_back(static_cast<char>(c));
        } else if (std::size_t n = utf8_length(s, i); n) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\ufffd";
        }
    }
  }
  out.push_back('"');
}

void json_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  json_escape(out, key);
  out += ':';
  json_escape(out, value);
}

// Text values: quoted when they contain spaces, quotes or '='; control
// bytes written as '?'.
void text_value(std::string& out, std::string_view s) {
  bool quote = s.empty() || s.find_first_of(" \"=") != std::string_view::npos;
  if (!quote) {
    for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    return;
  }
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  out.push_back('"');
}

// A wire value cut to kSummaryValueCap bytes (not inside a UTF-8
// sequence), "..." marking the cut.
std::string capped(std::string_view s) {
  if (s.size() <= kSummaryValueCap) return std::string(s);
  std::size_t n = kSummaryValueCap - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

std::string ms(std::chrono::microseconds t) {
  return fmt::format("{:.3f}", static_cast<double>(t.count()) / 1000.0);
}

std::size_t rcpt_more(const Summary& s) {
  return s.rcpts > s.rcpt.size() ? s.rcpts - s.rcpt.size() : 0;
}

std::string format_json(const Summary& s) {
  std::string out = "{\"id\":";
  json_escape(out, s.id);
  out += ",\"queue_id\":";
  if (s.queue_id.empty()) out += "null";
  else json_escape(out, s.queue_id);
  json_field(out, "client", s.client);
  json_field(out, "helo", s.helo);
  json_field(out, "from", s.from);
  out += fmt::format(",\"rcpts\":{},\"rcpt\":[", s.rcpts);
  for (std::size_t i = 0; i < s.rcpt.size(); ++i) {
    if (i) out += ',';
    json_escape(out, s.rcpt[i]);
  }
  out += fmt::format("],\"rcpt_more\":{},\"message_id\":", rcpt_more(s));
  if (s.message_id.empty()) out += "null";
  else json_escape(out, s.message_id);
  out += fmt::format(",\"size\":{}", s.size);
  json_field(out, "bank", s.bank);
  out += ",\"stages\":[";
  for (std::size_t i = 0; i < s.stages.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":";
    json_escape(out, s.stages[i].name);
    json_field(out, "outcome", s.stages[i].outcome);
    out += ",\"ms\":" + ms(s.stages[i].time) + "}";
  }
  out += ']';
  json_field(out, "action", to_string(s.action));
  json_field(out, "backend", s.backend);
  for (const auto& [k, v] : s.notes) json_field(out, k, v);
  out += ",\"ms\":" + ms(s.time) + "}";
  return out;
}

// The envelope and message fields of the text form, from client= to size=.
void text_envelope(std::string& out, const Summary& s) {
  out += " client=";
  text_value(out, s.client);
  out += " helo=";
  text_value(out, s.helo);
  out += " from=";
  text_value(out, "<" + s.from + ">");  // quoted when it holds a space: no forged fields
  out += fmt::format(" rcpts={}", s.rcpts);
  if (!s.rcpt.empty()) {
    std::string list;
    for (std::size_t i = 0; i < s.rcpt.size(); ++i)
      list += (i ? ",<" : "<") + s.rcpt[i] + ">";
    out += " rcpt=";
    text_value(out, list);
  }
  if (std::size_t more = rcpt_more(s)) out += fmt::format(" rcpt_more={}", more);
  if (!s.message_id.empty()) {
    out += " message_id=";
    text_value(out, s.message_id);
  }
  out += fmt::format(" size={}", s.size);
}

std::string format_text(const Summary& s) {
  std::string out = "id=" + s.id;
  if (!s.queue_id.empty()) {
    out += " queue_id=";
    text_value(out, s.queue_id);
  }
  text_envelope(out, s);
  out += " bank=";
  text_value(out, s.bank);
  out += " stages=";
  if (s.stages.empty()) out += "none";
  for (std::size_t i = 0; i < s.stages.size(); ++i) {
    if (i) out += ',';
    out += s.stages[i].name + ":" + s.stages[i].outcome + ":" + ms(s.stages[i].time) + "ms";
  }
  out += " action=";
  out += to_string(s.action);
  out += " backend=";
  text_value(out, s.backend);
  for (const auto& [k, v] : s.notes) {
    out += " " + k + "=";
    text_value(out, v);
  }
  out += " time=" + ms(s.time) + "ms";
  return out;
}

}  // namespace

std::string_view to_string(SummaryAction a) noexcept {
  switch (a) {
    case SummaryAction::Relayed: return "relayed";
    case SummaryAction::Partial: return "partial";
    case SummaryAction::Hold: return "hold";
    case SummaryAction::Discard: return "discard";
    case SummaryAction::Reject: return "reject";
    case SummaryAction::TempFail: return "tempfail";
    case SummaryAction::TempFailPartial: return "tempfail-partial";
    case SummaryAction::Refused: return "refused";
    case SummaryAction::Aborted: return "aborted";
    case SummaryAction::TimeoutInData: return "timeout-in-data";
  }
  return "?";
}

Summary start_summary(const std::string& id, const ClientInfo& client, const Envelope& env,
                      std::uint64_t size, const HeaderIndex* headers) {
  Summary s;
  s.id = id;
  s.client = "[" + client.addr + "]:" + std::to_string(client.port);
  s.helo = client.helo;
  s.from = env.sender;
  s.rcpts = env.recipients.size();
  for (std::size_t i = 0; i < env.recipients.size() && i < kSummaryRecipients; ++i)
    s.rcpt.push_back(capped(env.recipients[i].address));
  for (const auto& [k, v] : env.xforward)  // Postfix sends "[UNAVAILABLE]" when it has none
    if (k == "IDENT" && v != "[UNAVAILABLE]" && v != "[TEMPUNAVAIL]")
      s.queue_id = capped(xtext_decode(v).value_or(v));
  if (headers)
    if (auto mid = unfolded_value(*headers, "Message-ID")) s.message_id = capped(*mid);
  s.size = size;
  return s;
}

void set_queue_id(Summary& s, std::string_view queue_id) { s.queue_id = capped(queue_id); }

std::string format_summary(const Summary& s, bool json) {
  return json ? format_json(s) : format_text(s);
}

}  // namespace sigil::filter::log
