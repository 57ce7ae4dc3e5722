// filter/core/log.hpp — the five loggers (sigild, smtp, milter, backend,
// msg), log ids, and the per-message summary line with its action words.
//
// The loggers write where [daemon] log_target says: stderr (with our own
// timestamp and level), the local syslog daemon or the systemd journal
// (core/log_sinks.hpp: no prefix of ours but the logger name, the receiver
// stamps the line).  The target is chosen once, at start; a reload changes
// the level and the summary line's form.  With log_json the summary line is
// the bare JSON object on every target (no timestamp, level or name).
// Never log keys or bodies; header values only at debug level (the summary's
// Message-ID, escaped and capped, is the one exception).
//
// Does not: decide a message's action word (core/outcome.hpp does), rotate
// or ship logs, or log anything from the wire unescaped (format_summary
// escapes and caps every value).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

// A fresh log id: 12 characters, unique within the process, hard to guess.
std::string new_log_id();

}  // namespace sigil::filter

namespace sigil::filter::log {

// Creates the loggers on stderr; safe to call again to change the level.
void init(const std::string& level);
// The loggers for [daemon] `d`.  The first call picks the target
// (log_target, log_facility, syslog_socket) and opens it; later calls (a
// reload) change the level and the summary's form (log_json) only, and warn
// when the target settings differ (they take effect on restart).
void init(const conf::DaemonConfig& d);
// Drops the loggers and closes their target; the next init opens one again.
// For tests that try several targets in one process.
void close();
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

// The summary lists this many recipients (rcpt=), then counts the others
// (rcpt_more=); each wire value (address, Message-ID, queue ID) is cut to
// kSummaryValueCap bytes, "..." marking the cut.
inline constexpr std::size_t kSummaryRecipients = 5;
inline constexpr std::size_t kSummaryValueCap = 256;

struct Summary {
  std::string id;
  std::string queue_id;  // the MTA's: XFORWARD IDENT or milter macro i; "" unknown
  std::string client;    // "[addr]:port"
  std::string helo;
  std::string from;
  std::size_t rcpts = 0;          // every recipient
  std::vector<std::string> rcpt;  // the first kSummaryRecipients of them
  std::string message_id;         // the Message-ID field, unfolded; "" none
  std::uint64_t size = 0;
  std::string bank;
  std::vector<StageRecord> stages;
  SummaryAction action = SummaryAction::TempFail;
  std::string backend;  // deciding back-end reply, or the local reason
  std::vector<std::pair<std::string, std::string>> notes;  // stage facts (dkim=...)
  std::chrono::microseconds time{0};
};

// A summary of the message `id` of `client` with envelope `env`, `size`
// bytes, header fields `headers` (null: none yet): the fields every front
// fills the same way.  The queue ID is the envelope's XFORWARD IDENT (the
// SMTP front keeps XFORWARD only from a trusted peer); the milter front sets
// its own.
Summary start_summary(const std::string& id, const ClientInfo& client, const Envelope& env,
                      std::uint64_t size, const HeaderIndex* headers = nullptr);

// Sets the queue ID (the milter front's macro i), capped like every wire value.
void set_queue_id(Summary& s, std::string_view queue_id);

// "id=... [queue_id=...] client=... helo=... from=<...> rcpts=N
//  rcpt=<a>,<b> [rcpt_more=N] [message_id=...] size=N bank=... stages=...
//  action=... backend="..." [notes] time=1.234ms", or the same fields as one
// JSON object (queue_id and message_id null when unknown).
std::string format_summary(const Summary& s, bool json);

}  // namespace sigil::filter::log
