// filter/core/log.cpp — see log.hpp.
#include "filter/core/log.hpp"

#include <random>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace sigil::filter {

std::string new_log_id() {
  // 64 random bits from a per-process generator plus a counter: unique and
  // not guessable from outside; base-32 without ambiguous letters.
  static std::mt19937_64 rng{std::random_device{}()};
  static std::uint64_t counter = 0;
  std::uint64_t v = rng() ^ (++counter * 0x9e3779b97f4a7c15ull);
  static const char* digits = "0123456789BCDFGHJKLMNPQRSTVWXYZ";
  std::string s(12, '0');
  for (int i = 11; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = digits[v % 31];
    v /= 31;
  }
  return s;
}

}  // namespace sigil::filter

namespace sigil::filter::log {

namespace {
std::shared_ptr<spdlog::logger> make(const char* name) {
  auto l = spdlog::get(name);
  if (l) return l;
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  l = std::make_shared<spdlog::logger>(name, sink);
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v");
  spdlog::register_logger(l);
  return l;
}
std::shared_ptr<spdlog::logger> g_main, g_smtp, g_milter, g_backend, g_summary;
}  // namespace

void init(const std::string& level) {
  g_main = make("sigild");
  g_smtp = make("smtp");
  g_milter = make("milter");
  g_backend = make("backend");
  g_summary = make("msg");
  auto lv = spdlog::level::from_str(level);
  for (auto& l : {g_main, g_smtp, g_milter, g_backend, g_summary}) {
    l->set_level(lv);
    l->flush_on(spdlog::level::trace);
  }
}

static spdlog::logger& ensure(std::shared_ptr<spdlog::logger>& l) {
  if (!l) init("info");
  return *l;
}
spdlog::logger& main() { return ensure(g_main); }
spdlog::logger& smtp() { return ensure(g_smtp); }
spdlog::logger& milter() { return ensure(g_milter); }
spdlog::logger& backend() { return ensure(g_backend); }
spdlog::logger& summary_logger() { return ensure(g_summary); }

static void json_escape(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

// Text values: quoted when they contain spaces or quotes; control bytes escaped.
static void text_value(std::string& out, std::string_view s) {
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

static std::string ms(std::chrono::microseconds t) {
  return fmt::format("{:.3f}", static_cast<double>(t.count()) / 1000.0);
}

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
                      std::uint64_t size) {
  Summary s;
  s.id = id;
  s.client = "[" + client.addr + "]:" + std::to_string(client.port);
  s.helo = client.helo;
  s.from = env.sender;
  s.rcpts = env.recipients.size();
  s.size = size;
  return s;
}

std::string format_summary(const Summary& s, bool json) {
  std::string out;
  out.reserve(256);
  if (json) {
    out += "{\"id\":";
    json_escape(out, s.id);
    out += ",\"client\":";
    json_escape(out, s.client);
    out += ",\"helo\":";
    json_escape(out, s.helo);
    out += ",\"from\":";
    json_escape(out, s.from);
    out += fmt::format(",\"rcpts\":{},\"size\":{},\"bank\":", s.rcpts, s.size);
    json_escape(out, s.bank);
    out += ",\"stages\":[";
    for (std::size_t i = 0; i < s.stages.size(); ++i) {
      if (i) out += ',';
      out += "{\"name\":";
      json_escape(out, s.stages[i].name);
      out += ",\"outcome\":";
      json_escape(out, s.stages[i].outcome);
      out += ",\"ms\":" + ms(s.stages[i].time) + "}";
    }
    out += "],\"action\":";
    json_escape(out, to_string(s.action));
    out += ",\"backend\":";
    json_escape(out, s.backend);
    for (const auto& [k, v] : s.notes) {
      out += ',';
      json_escape(out, k);
      out += ':';
      json_escape(out, v);
    }
    out += ",\"ms\":" + ms(s.time) + "}";
    return out;
  }
  out += "id=" + s.id + " client=";
  text_value(out, s.client);
  out += " helo=";
  text_value(out, s.helo);
  out += " from=";
  text_value(out, "<" + s.from + ">");  // quoted when it holds a space: no forged fields
  out += fmt::format(" rcpts={} size={} bank=", s.rcpts, s.size);
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

}  // namespace sigil::filter::log
