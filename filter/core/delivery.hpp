// filter/core/delivery.hpp — what the core asks of a back-end: deliver one
// message to its recipients and say, per recipient, what the next hop
// answered.  The second phase of Sigil's two-phase commit: a front answers
// its client only from a DeliveryResult.
//
// Does not: implement any back-end (delivery/backend.hpp builds the SMTP,
// LMTP and maildir ones), or decide what the front is told (core/outcome.hpp).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/smtp_text.hpp"

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

}  // namespace sigil::filter
