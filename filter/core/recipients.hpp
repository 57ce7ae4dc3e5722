// filter/core/recipients.hpp — per-recipient treatment (Amavis's local
// domains, spam lovers and bypass checks): local recipients, lovers and
// bypass, and the destiny of each recipient.
//
// The message is checked once.  Then every recipient gets its own
// Disposition:
//   * the first [[recipient]] rule matching the address applies (patterns
//     "user@example.com", "user@", "example.com", ".example.com", ".");
//   * findings of stages the recipient bypasses do not count for it, nor do
//     findings of categories it loves; the worst remaining finding's
//     destiny (the policy's, from the banks) is the recipient's;
//   * local: the domain is in [recipients] local_domains (every recipient
//     when that key is unset); local recipients also get
//     MessageContext::local_edits (X-Spam-* fields, the subject tag).
// A stage that every recipient bypasses does not run at all
// (bypassed_by_all → MessageContext::bypassed).
//
// The SMTP front groups recipients with equal dispositions (destiny and
// locality) into one back-end transaction each (SmtpSession::deliver_split);
// its client still gets one reply.  The milter front, with one transaction,
// keeps the recipients to deliver and deletes the others.
//
// Spam levels per recipient ([[recipient]] spam_tag_level, ...): the spam
// stage's score is compared with the recipient's levels (over the policy's)
// for its category and its X-Spam-* fields; recipients with different
// levels get separate transactions when their fields differ.
//
// Addresses and patterns compare without regard to ASCII case, the local
// part included.  Implements no RFC: the rules are configuration.
//
// Does not: per-recipient banks, or per-recipient score offsets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/policy.hpp"

namespace sigil::filter {

struct RecipientSettings {
  bool local = true;
  const conf::RecipientRule* rule = nullptr;  // the first matching [[recipient]], or null
};

// True when `pattern` (a [[recipient]] match entry, lower case) matches
// `address` (compared case-insensitively).
bool recipient_matches(std::string_view pattern, std::string_view address);
RecipientSettings settings_for(const conf::Config& cfg, std::string_view address);

// The stages of `stages` that every recipient of `env` bypasses.
std::vector<std::string> bypassed_by_all(const conf::Config& cfg, const Envelope& env,
                                         const std::vector<std::string>& stages);

struct Disposition {
  conf::Destiny destiny = conf::Destiny::Pass;
  std::optional<Finding> finding;  // the finding that decided; none: nothing counted
  bool local = true;
  // Set when the recipient has spam levels of its own and the spam stage
  // scored the message: its X-Spam-* fields and spam category follow these.
  std::optional<conf::SpamLevels> spam_levels;
  const Finding* decided_by() const { return finding ? &*finding : nullptr; }
  // Same destiny, category and edits: one back-end transaction serves both.
  bool same_treatment(const Disposition& o) const;
};

// One Disposition per envelope recipient, in order.
std::vector<Disposition> dispose(const MessageContext& ctx, const Policy& pol,
                                 const conf::Config& cfg);

}  // namespace sigil::filter
