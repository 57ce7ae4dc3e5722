// filter/delivery/dsn.hpp — the bounces: a delivery status notification
// (RFC 3464) to the envelope sender, for the recipients of destiny "bounce"
// and for those the back-end refused while others got the message
// (core/outcome.hpp), once the backscatter guards let them through
// (core/bounce_guard.hpp).
//
// The DSN: From [dsn] from (default postmaster@ smtp.hostname), To the
// sender, Auto-Submitted: auto-replied (RFC 3834), multipart/report with a
// text part, message/delivery-status (Reporting-MTA, Original-Envelope-Id
// from ENVID, Arrival-Date; per recipient Original-Recipient from ORCPT,
// Final-Recipient, Action: failed, Status, Diagnostic-Code, and Remote-MTA
// for the back-end's refusals) and the original header section as
// text/rfc822-headers (headers only, whatever RET says: the content was
// judged harmful, or the refusal is the back-end's and its header says
// enough).  Status and Diagnostic-Code: 5.7.0 or 5.7.1 and Sigil's reason;
// for a back-end's refusal, its enhanced code and its reply, quoted.
//
// A message that came with SMTPUTF8 gets an internationalised DSN (RFC
// 6533): sent with MAIL FROM:<> SMTPUTF8, message/global-delivery-status,
// message/global-headers, UTF-8 addresses as "utf-8; " (§3).  A [forward]
// back-end that does not offer SMTPUTF8 refuses it (554 5.6.7, logged).
//
// send_dsn sends it through the back-end ([forward]) from the null sender:
// in after-queue and proxy mode that is the re-injection smtpd, in milter
// mode too (the milter transaction itself cannot carry a second message).
//
// Does not: DSNs for delay or success, downgrade a UTF-8 DSN for a back-end
// without SMTPUTF8, or localised texts.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/core/bounce_guard.hpp"
#include "filter/core/delivery.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

struct Dsn {
  std::string message;  // CRLF lines
  bool eight_bit = false;  // it has 8-bit bytes (the returned header, UTF-8 addresses)
};

// The DSN for `rcpts` (at least one).  `hostname`: our name (Reporting-MTA
// and the default From); `now`: for Date and Arrival-Date (seconds since the
// epoch); `remote_mta`: the Remote-MTA value for the back-end's refusals
// ("dns; 127.0.0.1"; empty: none).
Dsn make_dsn(const MessageContext& ctx, const std::vector<DsnRecipient>& rcpts,
             const std::string& hostname, const conf::DsnConfig& cfg, long long now,
             std::string_view remote_mta = {});

// Makes the DSN for `rcpts` and sends it from the null sender to ctx's
// envelope sender through `backend`, by `deadline` when set.  Returns the
// back-end's reply for it: positive (sent), temporary (the caller must keep
// the message and have it retried, or the bounce is lost) or permanent
// (refused; the caller discards and logs).  A DSN that cannot be stored is
// a 451 4.3.0.
boost::asio::awaitable<Reply> send_dsn(Backend& backend, const MessageContext& ctx,
                                       const std::vector<DsnRecipient>& rcpts,
                                       const conf::Config& cfg, const std::string& hostname,
                                       std::string log_id,
                                       std::optional<std::chrono::steady_clock::time_point> deadline);

}  // namespace sigil::filter
