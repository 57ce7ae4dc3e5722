// filter/backend.hpp — forwarding a message to the back-end (the second phase
// of Sigil's two-phase commit).
//
// Targets: smtp:[host]:port, lmtp:[host]:port, lmtp:unix:/path (SMTP/LMTP
// client with PIPELINING, connection reuse and XFORWARD pass-through when the
// back-end offers them) and maildir:DIR (local delivery for first runs).
//
// The client sends XFORWARD, MAIL and every RCPT in one write when PIPELINING
// is offered, reads those replies, and only then sends DATA.  That ordering
// is what keeps the two-phase commit exact for an SMTP front (see
// README "Replies and the two-phase commit"):
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
// Does not: queue or retry later (the front MTA does), look up MX or A
// records (targets are numeric), or speak TLS (the back-end is local).
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
#include "filter/envelope.hpp"
#include "filter/message_store.hpp"
#include "filter/pipeline.hpp"
#include "filter/smtp_command.hpp"

namespace sigil::filter {

struct DeliveryRequest {
  const Envelope& envelope;
  const MessageStore& message;
  const HeaderEdits& edits;
  std::string_view log_id;
  bool per_recipient_replies = false;  // the front speaks LMTP
  // When the front must be answered by then (a proxy listener: Postfix's
  // smtpd_proxy_timeout): every connect, write and reply wait is cut to
  // what is left, and a wait that runs out fails as a timeout (451 4.4.2).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct DeliveryResult {
  std::vector<Reply> rcpt;  // one per envelope recipient, in order
  Reply decisive;           // the back-end reply that decided (for logs/quotes)
  bool uncertain = false;   // lost after end of data: may have been delivered
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual boost::asio::awaitable<DeliveryResult> deliver(const DeliveryRequest& req) = 0;
  // Closes idle cached connections (drain, reload).
  virtual void close_idle() {}
};

// Builds the back-end for a [forward] section.  `helo` is our EHLO name.
std::shared_ptr<Backend> make_backend(boost::asio::any_io_executor ex,
                                      const conf::ForwardConfig& cfg, const std::string& helo);

// Writes bytes with SMTP dot-stuffing (RFC 5321 §4.5.2); `at_line_start`
// carries the state between chunks.
void dot_stuff(std::string_view in, bool& at_line_start, std::string& out);

}  // namespace sigil::filter
