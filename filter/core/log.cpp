// filter/core/log.cpp — see log.hpp: the loggers, their target and
// patterns, and log ids.  The summary line's text is log_summary.cpp's; the
// syslog and journal sinks are log_sinks.cpp's.
#include "filter/core/log.hpp"

#include <random>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "filter/core/log_sinks.hpp"

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

constexpr const char* kStderrPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n: %v";
// syslog and the journal stamp the line themselves: only the logger's name.
constexpr const char* kBarePattern = "%n: %v";
constexpr const char* kSyslogIdent = "sigild";

struct Target {
  conf::LogTarget kind = conf::LogTarget::Stderr;
  int facility = 2;
  std::string socket;
  bool operator==(const Target&) const = default;
};

// One sink for the four loggers and one for "msg", so the summary line can
// have a pattern of its own (the bare JSON object with log_json).
std::shared_ptr<spdlog::sinks::sink> g_sink, g_summary_sink;
std::shared_ptr<spdlog::logger> g_main, g_smtp, g_milter, g_backend, g_summary;
Target g_target;
bool g_target_chosen = false;  // by init(DaemonConfig); a plain init keeps stderr

std::shared_ptr<spdlog::sinks::sink> make_sink(const Target& t) {
  switch (t.kind) {
    case conf::LogTarget::Syslog: return make_syslog_sink(t.socket, t.facility, kSyslogIdent);
    case conf::LogTarget::Journal: return make_journal_sink(t.facility, kSyslogIdent);
    case conf::LogTarget::Stderr: break;
  }
  return std::make_shared<spdlog::sinks::stderr_sink_mt>();
}

std::shared_ptr<spdlog::logger> make(const char* name,
                                     const std::shared_ptr<spdlog::sinks::sink>& sink) {
  auto l = spdlog::get(name);
  if (!l) {
    l = std::make_shared<spdlog::logger>(name, sink);
    spdlog::register_logger(l);
  } else {
    l->sinks().assign(1, sink);  // at start only, before any other thread logs
  }
  return l;
}

// Opens `t` and points every logger at it.
void open_target(const Target& t) {
  g_target = t;
  g_sink = make_sink(t);
  g_summary_sink = make_sink(t);
  g_main = make("sigild", g_sink);
  g_smtp = make("smtp", g_sink);
  g_milter = make("milter", g_sink);
  g_backend = make("backend", g_sink);
  g_summary = make("msg", g_summary_sink);
}

void set_level_and_form(const std::string& level, bool json) {
  const bool bare = g_target.kind != conf::LogTarget::Stderr;
  g_sink->set_pattern(bare ? kBarePattern : kStderrPattern);
  g_summary_sink->set_pattern(json ? "%v" : bare ? kBarePattern : kStderrPattern);
  auto lv = spdlog::level::from_str(level);
  for (auto& l : {g_main, g_smtp, g_milter, g_backend, g_summary}) {
    l->set_level(lv);
    l->flush_on(spdlog::level::trace);
  }
}

}  // namespace

void init(const std::string& level) {
  if (!g_sink) open_target(Target{});
  set_level_and_form(level, false);
}

void init(const conf::DaemonConfig& d) {
  Target t{d.log_target, d.log_facility, d.syslog_socket};
  if (!g_target_chosen || !g_sink) {
    g_target_chosen = true;
    open_target(t);
  } else if (!(t == g_target)) {
    g_main->warn("reload: log_target, log_facility and syslog_socket take effect only on restart");
  }
  set_level_and_form(d.log_level, d.log_json);
}

void close() {
  for (auto* name : {"sigild", "smtp", "milter", "backend", "msg"}) spdlog::drop(name);
  for (auto* l : {&g_main, &g_smtp, &g_milter, &g_backend, &g_summary}) l->reset();
  g_sink.reset();
  g_summary_sink.reset();
  g_target_chosen = false;
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

}  // namespace sigil::filter::log
