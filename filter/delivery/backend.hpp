// filter/delivery/backend.hpp — forwarding a message to the back-end (the second phase
// of Sigil's two-phase commit).
//
// Targets: smtp:[host]:port, lmtp:[host]:port, lmtp:unix:/path (SMTP/LMTP
// client with PIPELINING, connection reuse and XFORWARD pass-through when the
// back-end offers them) and maildir:DIR (local delivery for first runs).
//
// The client sends XFORWARD, MAIL and every RCPT in one write when PIPELINING
// is offered, reads those replies, and only then sends DATA.  That ordering
// is what keeps the two-phase commit exact for an SMTP front (see
// docs/operations.md "Replies and the two-phase commit"):
//  * if any recipient gets a 4xx at RCPT and the front cannot be answered per
//    recipient (SMTP, not LMTP), the back-end transaction is abandoned with
//    RSET before any data is sent, and the whole message is tempfailed: the
//    front MTA retries all recipients and nothing is delivered twice;
//  * recipients refused with 5xx keep their reply;
//  * a connection lost after the end-of-data dot was sent leaves the outcome
//    unknown: the message is tempfailed (`uncertain`), so a duplicate is
//    possible but a loss is not.
// A cached connection that turns out dead before anything was accepted is
// replaced once, transparently.
//
// The message goes out as stored, read through ChunkReader: the prepended
// fields first, and, when stages removed fields, the header section field by
// field, then the stored bytes from the end of the header on.
//
// Implements the client side of SMTP (RFC 5321; dot-stuffing §4.5.2) and
// LMTP (RFC 2033: one final reply per accepted recipient), with PIPELINING
// (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), the
// DSN parameters passed on as received (RFC 3461) and Postfix's XFORWARD.
//
// Does not: queue or retry later (the front MTA does), look up MX or A
// records (targets are numeric), speak TLS (the back-end is local), or use
// CHUNKING/BDAT.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/core/delivery.hpp"

namespace sigil::filter {

// Builds the back-end for a [forward] section.  `helo` is our EHLO name.
std::shared_ptr<Backend> make_backend(boost::asio::any_io_executor ex,
                                      const conf::ForwardConfig& cfg, const std::string& helo);

// Writes bytes with SMTP dot-stuffing (RFC 5321 §4.5.2); `at_line_start`
// carries the state between chunks.
void dot_stuff(std::string_view in, bool& at_line_start, std::string& out);

}  // namespace sigil::filter
