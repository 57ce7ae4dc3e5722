// filter/core/log.hpp — loggers (one per module, DESIGN.md §4) and the
// per-message summary line.
//
// All loggers write to stderr (systemd/journald or the supervisor keeps it).
// Never log keys or bodies; header values only at debug level.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <spdlog/logger.h>

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

struct Summary {
  std::string id;
  std::string client;  // "[addr]:port"
  std::string helo;
  std::string from;
  std::size_t rcpts = 0;
  std::uint64_t size = 0;
  std::string bank;
  std::vector<StageRecord> stages;
  std::string action;   // relayed, partial, tempfail, reject, discard, refused
  std::string backend;  // deciding back-end reply, or the local reason
  std::vector<std::pair<std::string, std::string>> notes;  // stage facts (dkim=...)
  std::chrono::microseconds time{0};
};

// "id=... client=... from=<...> rcpts=N size=N bank=... stages=... action=...
//  backend="..." time=1.234ms" or the same fields as one JSON object.
std::string format_summary(const Summary& s, bool json);

}  // namespace sigil::filter::log
