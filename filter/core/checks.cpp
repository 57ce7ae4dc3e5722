// filter/core/checks.cpp — see checks.hpp.
#include "filter/core/checks.hpp"

#include <algorithm>

#include "filter/core/log.hpp"
#include "filter/core/quarantine.hpp"
#include "filter/core/runtime.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

// After the destiny: stores the message in the quarantine when the policy
// lists its worst category (quarantine.hpp).  A delivered copy gets
// X-Quarantine-ID.  When the store fails the verdict becomes a tempfail: the
// message stays with the sending MTA rather than passing unstored.
static Verdict quarantine_if_listed(MessageContext& ctx, const Policy& pol, const conf::Config& cfg,
                                    Verdict v) {
  if (pol.quarantine.empty() || v.action == Action::TempFail) return v;
  const Finding* w = worst_finding(ctx);
  conf::Category cat = w ? w->category : conf::Category::Clean;
  if (std::find(pol.quarantine.begin(), pol.quarantine.end(), cat) == pol.quarantine.end()) return v;
  quarantine::Entry e;
  e.id = quarantine::new_id();
  e.log_id = ctx.log_id;
  e.category = std::string(conf::to_string(cat)) +
               (w ? " (" + w->stage + ": " + w->reason + ")" : std::string()) + " action=" +
               to_string(v.action);
  e.client = "[" + ctx.client.addr + "]:" + std::to_string(ctx.client.port) + " " + ctx.client.helo;
  e.envelope = ctx.envelope;
  e.edits = ctx.edits;  // a released copy gets the header every recipient gets
  auto st = quarantine::store(cfg.quarantine, e, ctx.message);
  if (!st) {
    log::smtp().error("{}: quarantine failed, tempfailing the message: {}", ctx.log_id,
                      st.error().message);
    ctx.notes.emplace_back("quarantine", "failed: " + st.error().message);
    return {Action::TempFail, "quarantine unavailable"};
  }
  ctx.notes.emplace_back("quarantine", e.id);
  if (v.action == Action::Continue || v.action == Action::Accept)
    ctx.edits.prepend.push_back("X-Quarantine-ID: <" + e.id + ">\r\n");
  return v;
}

// `edits` plus, for local recipients, the edits only they get (their own
// spam levels' fields when they have levels of their own).
std::string finding_reason(const Finding* f) {
  return f ? std::string(conf::to_string(f->category)) + ": " + f->reason : std::string("clean");
}

HeaderEdits edits_for(const MessageContext& ctx, const Disposition* d) {
  HeaderEdits e = ctx.edits;
  if (d && !d->local) return e;
  HeaderEdits own;
  if (d && d->spam_levels && ctx.spam) own = ctx.spam->local_edits(*d->spam_levels, ctx.message.headers());
  const HeaderEdits& local = d && d->spam_levels && ctx.spam ? own : ctx.local_edits;
  e.prepend.insert(e.prepend.end(), local.prepend.begin(), local.prepend.end());
  e.remove.insert(e.remove.end(), local.remove.begin(), local.remove.end());
  return e;
}

// True when the recipients must be treated apart: their dispositions differ,
// or one bounces (the DSN goes out beside any delivery).
static bool needs_split(const std::vector<Disposition>& d) {
  if (d.empty()) return false;
  for (const auto& x : d)
    if (!x.same_treatment(d.front()) || x.destiny == conf::Destiny::Bounce) return true;
  return false;
}

// The recipients' dispositions (recipients.hpp).  Returns true when they
// must be treated apart (deliver_split); otherwise `v` carries the one
// destiny of all of them.
static bool dispose_recipients(MessageContext& ctx, const Policy& pol, const conf::Config& cfg, const CheckOptions& opt,
                   Verdict& v, std::vector<Disposition>& disp) {
  if (v.action != Action::Continue && v.action != Action::Accept) return false;
  // Nothing found and nobody treated apart (the signing and verifying
  // paths): no per-recipient work at all.
  if (ctx.findings.empty() && cfg.recipient_rules.empty() &&
      (ctx.local_edits.prepend.empty() || !cfg.recipients.local_domains))
    return false;
  disp = dispose(ctx, pol, cfg);
  // Before the queue the client is still there to be told: reject rather
  // than accept and bounce (Amavis does the same in pre-queue setups).
  if (opt.front.live)
    for (auto& d : disp)
      if (d.destiny == conf::Destiny::Bounce) d.destiny = conf::Destiny::Reject;
  bool split = needs_split(disp);
  // An SMTP front cannot be answered per recipient: one recipient to
  // tempfail tempfails the message (the front retries all of them).
  if (split && !opt.front.per_recipient_replies) {
    auto t = std::find_if(disp.begin(), disp.end(),
                          [](const Disposition& d) { return d.destiny == conf::Destiny::TempFail; });
    if (t != disp.end()) {
      v = apply_destiny(ctx, t->decided_by(), t->destiny, std::move(v));
      return false;
    }
  }
  if (!split && !disp.empty()) v = apply_destiny(ctx, disp.front().decided_by(), disp.front().destiny, std::move(v));
  return split;
}

// Milter quarantine: the reason to hold a message the policy quarantines
// (one that is delivered or discarded; a rejected one never enters the queue).
static std::optional<std::string> hold_reason(const MessageContext& ctx, const Policy& pol,
                                              const Verdict& v) {
  if (v.action != Action::Continue && v.action != Action::Accept && v.action != Action::Discard)
    return std::nullopt;
  const Finding* w = worst_finding(ctx);
  if (!w || std::find(pol.quarantine.begin(), pol.quarantine.end(), w->category) ==
                pol.quarantine.end())
    return std::nullopt;
  return std::string(conf::to_string(w->category)) + " (" + w->stage + ": " + w->reason + ")";
}

asio::awaitable<void> run_checks(Runtime& rt, const CheckOptions& opt, MessageContext& ctx,
                                 CheckResult& out) {
  const Policy* pol = &rt.policies.select(opt.bank, ctx.client.ip);
  if (!opt.extra_banks.empty()) pol = &rt.policies.with_banks(*pol, opt.extra_banks);
  ctx.originating = pol->originating;
  // Verify first: a whitelisting match there loads more banks (DESIGN.md §3,
  // step 3), and the rest of the run uses the policy they make.
  std::optional<Verdict> accepted;
  Verdict v = co_await pol->pipeline->run(ctx, out.records, Phase::Verify, Phase::Verify, &accepted);
  if (v.action == Action::Continue || v.action == Action::Accept) {
    if (!ctx.load_banks.empty()) {
      pol = &rt.policies.with_banks(*pol, ctx.load_banks);
      ctx.originating = pol->originating;
    }
    for (const auto& h : pol->add_header) ctx.edits.prepend.push_back(h + "\r\n");
    ctx.policy = pol;  // the Inspect phase on reads bank settings (spam levels)
    ctx.bypassed = bypassed_by_all(*rt.config, ctx.envelope, pol->stage_names);
    v = co_await pol->pipeline->run(ctx, out.records, Phase::Inspect, Phase::Seal, &accepted);
  }
  // Each recipient's destiny (lovers, bypass); one reply in any case.
  out.split = dispose_recipients(ctx, *pol, *rt.config, opt, v, out.disp);
  if (!opt.quarantine_by_hold) {
    v = quarantine_if_listed(ctx, *pol, *rt.config, std::move(v));
  } else {
    out.hold = hold_reason(ctx, *pol, v);
    if (out.hold) ctx.notes.emplace_back("quarantine", "hold: " + *out.hold);
  }
  if (v.action != Action::Continue && v.action != Action::Accept) out.split = false;
  out.policy = pol;
  out.verdict = std::move(v);
}

}  // namespace sigil::filter
