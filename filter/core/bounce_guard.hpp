// filter/core/bounce_guard.hpp — who may be sent a bounce: Amavis's
// backscatter guards for destiny "bounce" and for the recipients the back-end
// refused while others got the message (outcome.hpp).
//
// No DSN is sent (the recipient is treated as discarded, and the summary
// says why) when:
//   * the envelope sender is null (<>): never bounce a bounce (RFC 5321 §6.1);
//   * the category is virus: today's viruses forge their senders;
//   * the category is spam or spammy and the score is unknown or at or
//     above [dsn] spam_cutoff_level (Amavis's $sa_dsn_cutoff_level, 10);
//   * the message has Precedence: bulk, list or junk, or a List-Id field
//     (mailing lists handle their own bounces);
//   * the recipient asked for none: NOTIFY without FAILURE (RFC 3461 §4.1).
//
// Does not: write or send the DSN (delivery/dsn.hpp).
#pragma once

#include <optional>
#include <string>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

// A recipient the DSN reports: refused by Sigil (the finding that decided,
// null for none) or, after the data, by the back-end (its 5xx in `refusal`).
struct DsnRecipient {
  const Recipient* rcpt = nullptr;
  const Finding* finding = nullptr;
  std::optional<Reply> refusal = std::nullopt;
};

// Why no DSN may go for this recipient, or nullopt when one may.
std::optional<std::string> bounce_suppressed(const MessageContext& ctx, const Finding* finding,
                                             const Recipient& rcpt, const conf::DsnConfig& cfg);

}  // namespace sigil::filter
