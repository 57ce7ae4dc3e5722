// filter/core/outcome.cpp — see outcome.hpp.
#include "filter/core/outcome.hpp"

#include <algorithm>

#include "filter/core/log.hpp"
#include "filter/core/policy.hpp"

namespace sigil::filter {

namespace {

// A back-end's 421 means *its* channel is closing, not ours (RFC 5321 §3.8):
// the front gets 451 with the same text, and its session goes on.
int front_code(const Reply& r) { return r.code == 421 ? 451 : r.code; }

std::string enhanced_or(const Reply& r, std::string_view fallback) {
  return r.enhanced.empty() ? std::string(fallback) : r.enhanced;
}

// The first recipient whose destiny is `d`, or null.
const Disposition* first_with(const std::vector<Disposition>& disp, conf::Destiny d) {
  auto it = std::find_if(disp.begin(), disp.end(),
                         [d](const Disposition& x) { return x.destiny == d; });
  return it == disp.end() ? nullptr : &*it;
}

bool refused(const Verdict& v) { return v.action != Action::Continue && v.action != Action::Accept; }

}  // namespace

Outcome::Outcome(MessageContext& ctx, const CheckResult& c, const FrontAbilities& front,
                 const conf::DsnConfig& dsn)
    : ctx_(ctx), checked_(c), front_(front), dsn_cfg_(dsn), n_(ctx.envelope.recipients.size()) {
  const Disposition* d = c.disp.empty() ? nullptr : &c.disp.front();
  if (!front.split_delivery) {
    plan_milter(c.verdict, d);
  } else if (c.split) {
    plan_split();
  } else {
    plan_whole(c.verdict, d);
  }
}

void Outcome::refuse(int code, std::string enhanced, std::string text, std::string backend) {
  Answer a;
  a.kind = Answer::Kind::Refuse;
  a.reply = make_reply(code, std::move(enhanced), ctx_.log_id + " " + text);
  a.action = code >= 500 ? SummaryAction::Reject : SummaryAction::TempFail;
  a.backend = std::move(backend);
  decided_ = std::move(a);
}

// A verdict that is not delivered: the same answer for every recipient.
void Outcome::refuse(const Verdict& v) {
  switch (v.action) {
    case Action::Reject: refuse(554, "5.7.1", "Rejected: " + v.reason, v.reason); return;
    case Action::TempFail: refuse(451, "4.7.1", "Try again later: " + v.reason, v.reason); return;
    default: break;
  }
  Answer a;
  a.kind = Answer::Kind::Discard;
  a.reply = make_reply(250, "2.7.0", ctx_.log_id + " Ok, discarded: " + v.reason);
  a.action = SummaryAction::Discard;
  a.backend = v.reason;
  decided_ = std::move(a);
}

// One destiny for every recipient: deliver once, or answer for all.
void Outcome::plan_whole(const Verdict& v, const Disposition* d) {
  if (refused(v)) return refuse(v);
  DeliveryGroup g;
  // Without local-only edits the message goes as the stages left it (no copy).
  bool plain = (d && !d->local) ||
               (ctx_.local_edits.prepend.empty() && ctx_.local_edits.remove.empty() &&
                !(d && d->spam_levels));
  if (!plain) g.own_edits = edits_for(ctx_, d);
  groups_.push_back(std::move(g));
}

// Recipients treated apart (recipients.hpp) by a front that delivers: one
// back-end transaction per group of deliverable recipients with the same
// edits, one DSN for all the bounced ones, and the others answered now.
// An SMTP front cannot be refused per recipient after the data, so there a
// reject destiny bounces (Amavis does the same).
void Outcome::plan_split() {
  split_ = true;
  const Envelope& env = ctx_.envelope;
  const auto& disp = checked_.disp;
  res_.resize(n_);
  what_.resize(n_);
  std::vector<bool> taken(n_, false);
  for (std::size_t i = 0; i < n_; ++i) {
    if (taken[i] || disp[i].destiny != conf::Destiny::Pass) continue;
    DeliveryGroup g;
    for (std::size_t j = i; j < n_; ++j)
      if (!taken[j] && disp[j].destiny == conf::Destiny::Pass && disp[j].same_treatment(disp[i])) {
        g.idx.push_back(j);
        taken[j] = true;
      }
    g.subset = env;
    g.subset->recipients.clear();
    for (auto k : g.idx) g.subset->recipients.push_back(env.recipients[k]);
    g.own_edits = edits_for(ctx_, &disp[i]);
    groups_.push_back(std::move(g));
  }
  for (std::size_t i = 0; i < n_; ++i) decide_recipient(i);
}

// A recipient of a split message that is not delivered: discarded, bounced
// (the DSN decides its reply) or, over LMTP, rejected or tempfailed.
void Outcome::decide_recipient(std::size_t i) {
  const Disposition& d = checked_.disp[i];
  const std::string why = finding_reason(d.decided_by());
  const Recipient& r = ctx_.envelope.recipients[i];
  switch (d.destiny) {
    case conf::Destiny::Pass: return;
    case conf::Destiny::Reject:
      if (front_.per_recipient_replies) {
        res_[i] = make_reply(554, "5.7.1", "Rejected: " + why);
        what_[i] = "rejected";
        return;
      }
      [[fallthrough]];
    case conf::Destiny::Bounce:
      if (auto why_not = bounce_suppressed(ctx_, d.decided_by(), r, dsn_cfg_)) {
        res_[i] = make_reply(250, "2.7.0", "Ok, discarded (no bounce: " + *why_not + "): " + why);
        what_[i] = "discarded, no bounce: " + *why_not;
      } else {
        bounces_.push_back({&r, d.decided_by()});
        bounce_idx_.push_back(i);
      }
      return;
    case conf::Destiny::Discard:
      res_[i] = make_reply(250, "2.7.0", "Ok, discarded: " + why);
      what_[i] = "discarded";
      return;
    case conf::Destiny::TempFail:  // LMTP only (the checks tempfail the whole SMTP message)
      res_[i] = make_reply(451, "4.7.1", "Try again later: " + why);
      what_[i] = "tempfailed";
      return;
  }
}

// The milter has one transaction: keep those to deliver and delete the
// others; when none is left, the strictest destiny answers for all.  A
// recipient to retry can be neither deleted (it would be lost, the sender
// never told) nor given the message now: the whole message is tempfailed,
// as over an SMTP front, and retried.
void Outcome::plan_milter_split(Verdict& v, const Disposition*& d) {
  const auto& disp = checked_.disp;
  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < disp.size(); ++i)
    (disp[i].destiny == conf::Destiny::Pass ? keep : deleted_).push_back(i);
  const Disposition* rej = first_with(disp, conf::Destiny::Reject);
  const Disposition* tf = first_with(disp, conf::Destiny::TempFail);
  if (keep.empty() || tf) {
    const Disposition& w = keep.empty() ? (rej ? *rej : disp.front()) : *tf;
    v = apply_destiny(ctx_, w.decided_by(), w.destiny, std::move(v));
    deleted_.clear();
    return;
  }
  d = &disp[keep.front()];
  if (front_.delete_recipients) return;
  // The MTA does not let us delete recipients: a recipient to reject rejects
  // the message for all (the sender is told); recipients to discard get it
  // with the others (dropping the copies of those to deliver would lose them
  // unannounced).
  if (rej) {
    v = apply_destiny(ctx_, rej->decided_by(), rej->destiny, std::move(v));
  } else {
    log::milter().warn("{}: recipients' destinies differ but the MTA does not let us "
                       "delete recipients; delivering to all",
                       ctx_.log_id);
  }
  deleted_.clear();
}

void Outcome::plan_milter(Verdict v, const Disposition* d) {
  if (checked_.split) plan_milter_split(v, d);
  if (checked_.hold && !front_.hold) {
    // Never pass or drop a message the policy quarantines, unheld.
    deleted_.clear();
    return refuse(451, "4.3.5", "Try again later: the MTA does not allow quarantine (hold)",
                  "the MTA did not offer SMFIF_QUARANTINE; use quarantine = \"store\"");
  }
  if (v.action == Action::Discard && checked_.hold) {
    // Held instead of dropped: released with `postsuper -H`, it is delivered.
    Answer a;
    a.kind = Answer::Kind::Deliver;
    a.hold = checked_.hold;
    a.action = SummaryAction::Hold;
    a.backend = v.reason;
    decided_ = std::move(a);
    return;
  }
  if (refused(v)) return refuse(v);
  DeliveryGroup g;
  g.own_edits = edits_for(ctx_, d);
  if ((!g.own_edits->prepend.empty() && !front_.add_headers) ||
      (!g.own_edits->remove.empty() && !front_.change_headers)) {
    deleted_.clear();
    return refuse(451, "4.3.5", "Try again later: the MTA does not allow header changes",
                  "the MTA did not offer the header actions we need");
  }
  groups_.push_back(std::move(g));
  res_.resize(n_);
  what_.resize(n_);
  // Those to reject or bounce get one DSN (as through a proxy listener: the
  // client can be told only once), unless a backscatter guard forbids it.
  for (auto i : deleted_) {
    const Disposition& x = checked_.disp[i];
    if (x.destiny != conf::Destiny::Reject && x.destiny != conf::Destiny::Bounce) {
      what_[i] = "discarded";
    } else if (auto why_not = bounce_suppressed(ctx_, x.decided_by(), ctx_.envelope.recipients[i],
                                                dsn_cfg_)) {
      what_[i] = "discarded, no bounce: " + *why_not;
    } else {
      bounces_.push_back({&ctx_.envelope.recipients[i], x.decided_by()});
      bounce_idx_.push_back(i);
    }
  }
}

void Outcome::delivered(std::size_t group, DeliveryResult r) {
  if (!split_) {
    merged_ = std::move(r);
    merged_.rcpt.resize(n_, merged_.decisive);
  } else {
    const DeliveryGroup& g = groups_[group];
    for (std::size_t k = 0; k < g.idx.size(); ++k) {
      std::size_t i = g.idx[k];
      res_[i] = k < r.rcpt.size() ? r.rcpt[k] : r.decisive;
      what_[i] = res_[i].positive() ? "delivered" : "not delivered: " + res_[i].summary();
    }
    if (!delivered_any_ || !r.decisive.positive()) merged_.decisive = r.decisive;
    merged_.uncertain = merged_.uncertain || r.uncertain;
  }
  delivered_any_ = true;
  if (++groups_done_ == groups_.size()) plan_refusals();
}

// After the last group: the recipients the back-end refused for good (5xx at
// RCPT, or an LMTP back-end's after the data) while others got the message.
// An SMTP client hears one reply for all and would take them for delivered,
// so they join the one DSN, through the backscatter guards (Amavis does the
// same).  Not over LMTP (each recipient hears its own refusal), not when
// every recipient was refused (the client gets the 5xx), not when some were
// deferred or the outcome is unknown (the whole message is tempfailed and
// retried, and would bounce them again).
void Outcome::plan_refusals() {
  if (front_.per_recipient_replies || !front_.split_delivery) return;
  const std::vector<Reply>& rr = split_ ? res_ : merged_.rcpt;
  std::vector<std::size_t> perm;
  bool temp = merged_.uncertain;
  auto look = [&](std::size_t i) {
    if (rr[i].temporary()) temp = true;
    else if (rr[i].permanent()) perm.push_back(i);
    else backend_took_some_ = true;
  };
  if (split_) {
    for (const auto& g : groups_)
      for (auto i : g.idx) look(i);
  } else {
    for (std::size_t i = 0; i < n_; ++i) look(i);
  }
  if (perm.empty() || temp || perm.size() == n_) return;
  what_.resize(n_);
  const auto& rc = ctx_.envelope.recipients;
  for (auto i : perm) {
    log::smtp().warn("{}: back-end refused <{}>: {}", ctx_.log_id, rc[i].address, rr[i].summary());
    refused_.push_back(i);
    if (auto why_not = bounce_suppressed(ctx_, nullptr, rc[i], dsn_cfg_)) {
      what_[i] = "refused, no bounce: " + *why_not;
      log::smtp().warn("{}: no DSN for <{}>: {}", ctx_.log_id, rc[i].address, *why_not);
    } else {
      bounces_.push_back({&rc[i], nullptr, rr[i]});
      bounce_idx_.push_back(i);
      what_[i] = "refused, DSN not sent";
    }
  }
}

bool Outcome::refused_by_backend(std::size_t i) const {
  return std::find(refused_.begin(), refused_.end(), i) != refused_.end();
}

// The DSN for the back-end's refusals could not be handed over: they would
// be lost, so the whole message is tempfailed and retried (the recipients
// that got it get it again: a duplicate, never a loss).
void Outcome::refusal_dsn_failed(const Reply& dr) {
  const std::string why =
      "the DSN for the recipients the back-end refused could not be sent (" + dr.summary() + ")";
  log::smtp().warn("{}: {}; tempfailing the whole message (the delivered copies will be "
                   "delivered again)",
                   ctx_.log_id, why);
  for (auto i : bounce_idx_)
    what_[i] = dr.temporary() ? "tempfail, the DSN was deferred" : "tempfail, the DSN was refused";
  refuse(451, "4.3.0", "Try again later: " + why, why);
  if (backend_took_some_) decided_->action = SummaryAction::TempFailPartial;
}

void Outcome::dsn_sent(const Reply& dr) {
  ctx_.notes.emplace_back("dsn", dr.summary());
  if (!refused_.empty() && !dr.positive() &&
      std::any_of(bounces_.begin(), bounces_.end(), [](const DsnRecipient& b) { return b.refusal.has_value(); }))
    return refusal_dsn_failed(dr);
  if (!split_ && !dr.positive() && !dr.permanent()) {
    // Deleting the recipients would lose the bounce: the message is retried.
    const std::string why = "the bounce could not be sent (" + dr.summary() + ")";
    groups_.clear();
    deleted_.clear();
    return refuse(451, "4.7.1", "Try again later: " + why, why);
  }
  if (dr.permanent())
    (split_ ? log::smtp() : log::milter()).warn("{}: the DSN to <{}> was refused: {}", ctx_.log_id, ctx_.envelope.sender,
                     dr.summary());
  for (std::size_t k = 0; k < bounce_idx_.size(); ++k) {
    const std::size_t i = bounce_idx_[k];
    if (bounces_[k].refusal) {  // the DSN went: its reply stays the back-end's
      what_[i] = "bounced";
      continue;
    }
    const std::string why = finding_reason(checked_.disp[i].decided_by());
    if (dr.positive()) {
      res_[i] = make_reply(250, "2.7.0", "Ok, bounced: " + why);
      what_[i] = "bounced";
    } else if (dr.temporary()) {
      // The front keeps the message and retries: the bounce is not lost.
      res_[i] = make_reply(451, "4.7.1",
                           "Try again later: the bounce could not be sent (" + dr.summary() + ")");
      what_[i] = "tempfail, the DSN was deferred";
    } else {
      res_[i] = make_reply(250, "2.7.0",
                           "Ok, discarded: the bounce was refused (" + dr.summary() + ")");
      what_[i] = "discarded, the DSN was refused";
    }
  }
}

// Why recipient i got what it got: the back-end's refusal, or the finding
// that decided its destiny.
std::string Outcome::reason(std::size_t i) const {
  if (refused_by_backend(i)) return "back-end said: " + (split_ ? res_[i] : merged_.rcpt[i]).summary();
  return finding_reason(checked_.disp.empty() ? nullptr : checked_.disp[i].decided_by());
}

// recipients=: what became of each recipient treated apart, and why.  A
// milter names only the deleted ones; a message delivered as one, only the
// recipients the back-end refused.
void Outcome::note_recipients() {
  const auto& rc = ctx_.envelope.recipients;
  std::string note;
  std::size_t listed = 0;
  auto add = [&](std::size_t i) {
    if (listed++) note += "; ";
    note += rc[i].address + ": " + what_[i] + " (" + reason(i) + ")";
  };
  if (split_) {
    for (std::size_t i = 0; i < rc.size() && i < 20; ++i) add(i);
    if (rc.size() > 20) note += "; ... (" + std::to_string(rc.size()) + " recipients)";
  } else if (!refused_.empty()) {
    for (std::size_t k = 0; k < refused_.size() && k < 20; ++k) add(refused_[k]);
    if (refused_.size() > 20) note += "; ... (" + std::to_string(refused_.size()) + " refused)";
  } else {
    for (auto i : deleted_) add(i);
    if (note.empty()) return;
    note = "deleted " + note;
  }
  ctx_.notes.emplace_back("recipients", note);
}

Answer Outcome::answer() {
  if (decided_) {
    if (!refused_.empty()) note_recipients();
    if (front_.per_recipient_replies) decided_->per_recipient.assign(n_, decided_->reply);
    return std::move(*decided_);  // answer() is called once
  }
  if (!front_.split_delivery) {  // a milter's MTA goes on with the message
    note_recipients();
    Answer a;
    a.kind = Answer::Kind::Deliver;
    a.hold = checked_.hold;
    a.action = a.hold ? SummaryAction::Hold
               : deleted_.empty() ? SummaryAction::Relayed
                                  : SummaryAction::Partial;
    a.backend = "milter";
    return a;
  }
  if (split_) {
    if (!delivered_any_) merged_.decisive = res_.front();
    merged_.rcpt = res_;
    note_recipients();
  } else if (!refused_.empty()) {
    note_recipients();
  }
  return answer_delivery(merged_);
}

// The back-end's replies (with those of recipients answered without it) as
// the front's: one per recipient over LMTP; over SMTP one for all, 250 when
// everybody got it or some were refused for good, else the first 4xx.
Answer Outcome::answer_delivery(const DeliveryResult& r) const {
  const auto& rc = ctx_.envelope.recipients;
  const std::string& id = ctx_.log_id;
  Answer a;
  a.kind = Answer::Kind::Deliver;
  a.backend = r.decisive.summary();
  std::size_t good = 0, temp = 0;
  const Reply* first_temp = nullptr;
  const Reply* first_perm = nullptr;
  for (std::size_t i = 0; i < n_; ++i) {
    const Reply& x = r.rcpt[i];
    if (x.positive()) ++good;
    else if (x.temporary()) {
      ++temp;
      if (!first_temp) first_temp = &x;
    } else if (!first_perm) first_perm = &x;
    if (!front_.per_recipient_replies) continue;
    a.per_recipient.push_back(
        x.positive() ? make_reply(250, "2.1.5", id + " <" + rc[i].address + "> Ok, back-end said: " + x.summary())
                     : make_reply(front_code(x), enhanced_or(x, x.temporary() ? "4.0.0" : "5.0.0"),
                                  id + " <" + rc[i].address + "> back-end said: " + x.summary()));
  }
  if (front_.per_recipient_replies) {
    a.action = good == n_ ? SummaryAction::Relayed
               : good > 0 ? SummaryAction::Partial
               : temp > 0 ? SummaryAction::TempFail
                          : SummaryAction::Reject;
    return a;
  }
  if (good == n_) {
    a.reply = make_reply(250, "2.0.0", id + " Ok, back-end said: " + r.decisive.summary());
    a.action = SummaryAction::Relayed;
  } else if (good == 0) {
    const Reply& x = first_temp ? *first_temp : *first_perm;
    a.reply = make_reply(front_code(x), enhanced_or(x, x.temporary() ? "4.0.0" : "5.0.0"),
                         id + " back-end said: " + x.summary());
    a.action = x.temporary() ? SummaryAction::TempFail : SummaryAction::Reject;
  } else if (temp > 0) {
    // Only an LMTP back-end can tempfail some recipients after the data.  An
    // SMTP front cannot be answered per recipient, so the whole message is
    // tempfailed: the accepted copies may be delivered twice, nothing is lost.
    a.reply = make_reply(front_code(*first_temp), enhanced_or(*first_temp, "4.0.0"),
                         id + " back-end deferred some recipients: " + first_temp->summary());
    a.action = SummaryAction::TempFailPartial;
    log::smtp().warn("{}: back-end accepted {} of {} recipients and deferred {}; tempfailing "
                     "the whole message (accepted copies may be duplicated)",
                     id, good, n_, temp);
  } else {
    // Some recipients were refused for good (5xx) by the back-end while the
    // others were delivered: the front gets 250, the refused ones a DSN
    // (plan_refusals, dsn_sent; a DSN that failed has tempfailed the message).
    const auto bounced = std::count_if(refused_.begin(), refused_.end(),
                                       [&](std::size_t i) { return what_[i] == "bounced"; });
    a.reply = make_reply(250, "2.0.0", id + " Ok for " + std::to_string(good) + " of " +
                                           std::to_string(n_) + " recipients, " +
                                           (bounced ? "DSN sent for " + std::to_string(bounced)
                                                    : std::string("no DSN")) +
                                           ", back-end said: " + r.decisive.summary());
    a.action = SummaryAction::Partial;
  }
  return a;
}

}  // namespace sigil::filter
