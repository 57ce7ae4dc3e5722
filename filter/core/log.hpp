// filter/core/log.hpp — the five loggers (sigild, smtp, milter, backend,
// msg), log ids, and the per-message summary line with its action words.
//
// All loggers write to stderr (systemd/journald or the supervisor keeps it).
// Never log keys or bodies; header values only at debug level.
//
// Does not: decide a message's action word (core/outcome.hpp does), rotate
// or ship logs, or log anything from the wire unescaped (format_summary
// escapes every value).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "filter/core/envelope.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

// A fresh log id: 12 characters, unique within the process, hard to guess.
std::string new_log_id();

}  // namespace sigil::filter

namespace sigil::filter::log {

// Creates the loggers; safe to call again (reload) to change the level.
void init(const std::string& level);
spdlog::logger& main();
spdlog::logger& smtp();
spdlog::logger& milter();
spdlog::logger& backend();
spdlog::logger& summary_logger();

// The summary line's action= words: one list for every front
// (docs/logging.md, the summary line).
enum class SummaryAction {
  Relayed,          // every recipient got the message (the back-end, or the MTA after a milter)
  Partial,          // some did; the others were discarded, bounced, refused or deleted
  Hold,             // kept on hold in the MTA (milter quarantine)
  Discard,          // accepted, and dropped for every recipient
  Reject,           // refused for good (5xx)
  TempFail,         // refused for now (4xx): the client retries
  TempFailPartial,  // tempfailed after the back-end took it for some recipients (SMTP front)
  Refused,          // refused before the checks: size, bare LF, spool error, no recipient
  Aborted,          // the client went away during DATA
  TimeoutInData,    // DATA ran past its time
};
std::string_view to_string(SummaryAction a) noexcept;

struct Summary {
  std::string id;
  std::string client;  // "[addr]:port"
  std::string helo;
  std::string from;
  std::size_t rcpts = 0;
  std::uint64_t size = 0;
  std::string bank;
  std::vector<StageRecord> stages;
  SummaryAction action = SummaryAction::TempFail;
  std::string backend;  // deciding back-end reply, or the local reason
  std::vector<std::pair<std::string, std::string>> notes;  // stage facts (dkim=...)
  std::chrono::microseconds time{0};
};

// A summary of the message `id` of `client` with envelope `env`, `size`
// bytes: the fields every front fills the same way.
Summary start_summary(const std::string& id, const ClientInfo& client, const Envelope& env,
                      std::uint64_t size);

// "id=... client=... from=<...> rcpts=N size=N bank=... stages=... action=...
//  backend="..." time=1.234ms" or the same fields as one JSON object.
std::string format_summary(const Summary& s, bool json);

}  // namespace sigil::filter::log
