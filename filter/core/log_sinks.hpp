// filter/core/log_sinks.hpp — where log lines go besides stderr: a local
// syslog daemon (RFC 3164 lines over its Unix datagram socket, /dev/log by
// default) and the systemd journal (sd_journal_sendv, libsystemd).
//
// Both take the line spdlog formatted (the logger's pattern: no timestamp or
// level of our own, the receiver adds its own) and add what the receiver
// needs: for syslog "<PRI>Mmm dd hh:mm:ss IDENT[PID]: " (RFC 3164 §4.1, the
// form glibc's syslog() sends to /dev/log; the daemon adds the host name);
// for the journal the fields MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
// SYSLOG_FACILITY and SIGIL_LOGGER (systemd.journal-fields(7)).  Severities
// come from spdlog's levels (syslog_severity).
//
// The syslog socket is connected when the sink is made (before any
// privilege drop or chroot); a send that fails (the daemon restarted) makes
// one reconnect and one more try.  A line that still cannot be delivered,
// to either receiver, is written to stderr instead, so nothing is lost
// silently (libsystemd itself drops a line when the journal socket is
// missing: the sink checks for /run/systemd/journal/socket first).  Sends block, as glibc's syslog() and sd_journal_send() do.
//
// Does not: speak syslog over the network (RFC 5424/5426; the local daemon
// forwards), stream sockets (rsyslog's and journald's /dev/log are
// datagram), rotate files, or choose the pattern (filter/core/log.cpp does).
#pragma once

#include <memory>
#include <string>

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

namespace sigil::filter::log {

// RFC 5424 §6.2.1 severity of an spdlog level: trace and debug → 7 (debug),
// info → 6, warn → 4, error → 3, critical → 2.
int syslog_severity(spdlog::level::level_enum l) noexcept;

// A sink sending each line to the syslog daemon at `socket_path` (a Unix
// datagram socket) with facility `facility` (RFC 5424 numbers: 2 = mail)
// and tag `ident`.  Never fails: an unreachable socket is retried at each
// line, and the line goes to stderr meanwhile.
std::shared_ptr<spdlog::sinks::sink> make_syslog_sink(const std::string& socket_path,
                                                      int facility, const std::string& ident);

// A sink sending each line to the systemd journal with SYSLOG_IDENTIFIER
// `ident` and SYSLOG_FACILITY `facility`.  Without a journal (no socket) the
// line goes to stderr.
std::shared_ptr<spdlog::sinks::sink> make_journal_sink(int facility, const std::string& ident);

}  // namespace sigil::filter::log
