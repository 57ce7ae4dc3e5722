// filter/core/outcome.hpp — what each recipient is told, for every front:
// the one place that turns what the checks found into SMTP replies and the
// summary's action word.
//
// The checks (checks.hpp) give a verdict and, when recipients are treated
// apart, a Disposition each.  What a front can do with that differs
// (FrontAbilities): an SMTP front answers once after the data, an LMTP front
// once per recipient; the SMTP/LMTP fronts deliver groups of recipients in
// separate back-end transactions; a milter has the MTA's one transaction
// and may only delete recipients from it, and only when the MTA offers
// SMFIF_DELRCPT.  An Outcome decides in three steps, with no I/O:
//
//   1. the constructor plans: which groups of recipients are delivered and
//      with which header edits, which recipients get the one DSN, which are
//      deleted (milter), and who is answered now;
//   2. the front delivers each group and sends the DSN, and reports the
//      replies (delivered(), dsn_sent());
//   3. answer() gives the reply of the message (SMTP, milter), one reply per
//      recipient (LMTP), and the summary's action and backend fields.
//
// The replies (RFC 5321 §4.2, enhanced codes RFC 3463):
//   reject    554 5.7.1 "Rejected: <reason>"
//   tempfail  451 4.7.1 "Try again later: <reason>"
//   discard   250 2.7.0 "Ok, discarded: <reason>"   (milter: SMFIR_DISCARD)
//   bounce    250 2.7.0 "Ok, bounced: <reason>"     once the DSN is accepted
//   deliver   the back-end's reply (a 421 becomes 451: its channel closes,
//             not ours); a milter continues with the edits.
// Over SMTP (and a proxy), recipients the back-end refuses for good while
// others get the message join the one DSN, which quotes the back-end's reply
// (the client hears one 250 and would take them for delivered); if that DSN
// cannot be sent, the whole message is tempfailed.  When every recipient is
// refused, the client gets the back-end's 5xx and no DSN goes.
// The full table (verdict × front) is in docs/ARCHITECTURE.md, "Outcomes".
//
// Does not: run the checks, deliver, send the DSN (delivery/dsn.hpp), or
// encode replies for a protocol (the fronts do).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "filter/core/bounce_guard.hpp"
#include "filter/core/checks.hpp"
#include "filter/core/delivery.hpp"
#include "filter/core/envelope.hpp"
#include "filter/core/log.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/smtp_text.hpp"

namespace sigil::filter {

using log::SummaryAction;

// One back-end transaction (or, in a milter, the MTA's own): the recipients
// it carries and the edits they get.
struct DeliveryGroup {
  std::vector<std::size_t> idx;         // their positions in the envelope
  std::optional<Envelope> subset;       // unset: every recipient of the message
  std::optional<HeaderEdits> own_edits; // unset: the message's edits as the stages left them
  const Envelope& envelope(const MessageContext& ctx) const { return subset ? *subset : ctx.envelope; }
  const HeaderEdits& edits(const MessageContext& ctx) const { return own_edits ? *own_edits : ctx.edits; }
};

// How the message as a whole is answered.
struct Answer {
  enum class Kind {
    Deliver,  // the back-end's replies (SMTP/LMTP); the milter continues with the edits
    Discard,  // accepted and dropped (milter: SMFIR_DISCARD)
    Refuse,   // `reply` (4xx or 5xx) for the message
  };
  Kind kind = Kind::Refuse;
  Reply reply;                 // the one reply, its text led by the log id
  std::vector<Reply> per_recipient;  // LMTP: one per envelope recipient, in order
  // Milter: put the message on hold (SMFIR_QUARANTINE), for this reason.
  std::optional<std::string> hold;
  SummaryAction action = SummaryAction::TempFail;
  std::string backend;         // the summary's backend= field
};

class Outcome {
 public:
  // Step 1.  May add notes to ctx (the deciding category, recipients=).
  Outcome(MessageContext& ctx, const CheckResult& c, const FrontAbilities& front,
          const conf::DsnConfig& dsn);

  // The transactions to make, in order (none when nobody is delivered).  A
  // milter gets at most one: the MTA's, with the edits it must apply.
  const std::vector<DeliveryGroup>& groups() const { return groups_; }
  // The recipients the one DSN is for (none: no DSN to send): Sigil's
  // bounces, and once the last group is delivered, the back-end's refusals.
  const std::vector<DsnRecipient>& bounces() const { return bounces_; }
  // The recipients to delete from the MTA's transaction (milter).
  const std::vector<std::size_t>& deleted() const { return deleted_; }

  // Step 2.
  void delivered(std::size_t group, DeliveryResult r);
  void dsn_sent(const Reply& r);

  // Step 3, once (the answer is moved out).  Adds the recipients= note to ctx
  // when recipients were treated apart.
  Answer answer();

 private:
  void plan_whole(const Verdict& v, const Disposition* d);
  void plan_split();
  void plan_milter_split(Verdict& v, const Disposition*& d);
  void plan_milter(Verdict v, const Disposition* d);
  void decide_recipient(std::size_t i);
  void refuse(const Verdict& v);
  void refuse(int code, std::string enhanced, std::string text, std::string backend);
  Answer answer_delivery(const DeliveryResult& r) const;
  void plan_refusals();
  void refusal_dsn_failed(const Reply& dr);
  bool refused_by_backend(std::size_t i) const;
  std::string reason(std::size_t i) const;
  void note_recipients();

  MessageContext& ctx_;
  const CheckResult& checked_;
  FrontAbilities front_;
  const conf::DsnConfig& dsn_cfg_;
  std::size_t n_;  // envelope recipients
  std::vector<DeliveryGroup> groups_;
  std::vector<DsnRecipient> bounces_;
  std::vector<std::size_t> bounce_idx_;
  std::vector<std::size_t> deleted_;
  std::vector<Reply> res_;         // split: each recipient's reply
  std::vector<std::string> what_;  // split: what became of each, for recipients=
  DeliveryResult merged_;          // the groups' replies, by recipient
  std::size_t groups_done_ = 0;    // groups delivered so far
  // SMTP: the recipients the back-end refused for good while others got the
  // message (plan_refusals); what_ says what became of them.
  std::vector<std::size_t> refused_;
  bool backend_took_some_ = false;
  bool delivered_any_ = false;
  bool split_ = false;
  std::optional<Answer> decided_;  // answered without delivery
};

}  // namespace sigil::filter
