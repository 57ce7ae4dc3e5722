// filter/core/checks.hpp — one message's checks, shared by every front end
// (the SMTP/LMTP session in after-queue and proxy mode, and the milter
// session): policy selection, the pipeline with the DKIM-whitelisting bank
// switch, each recipient's destiny, and the quarantine.
//
// What the front end then does with the outcome differs: the SMTP session
// delivers through the back-end (whole or split per recipient), the milter
// session turns it into milter replies.
//
// Does not: talk to any peer except the quarantine store.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "filter/core/pipeline.hpp"
#include "filter/core/policy.hpp"
#include "filter/core/recipients.hpp"

namespace sigil::filter {

struct Runtime;

struct CheckResult {
  const Policy* policy = nullptr;
  Verdict verdict;
  std::vector<Disposition> disp;  // empty when nobody needed a destiny of their own
  bool split = false;             // recipients must be treated apart
  // CheckOptions::quarantine_by_hold: the policy quarantines the message's category; the
  // front end puts it on hold in the MTA (the reason, for the MTA's log).
  std::optional<std::string> hold;
  std::vector<StageRecord> records;
};

// What a front can do with a message (core/outcome.hpp turns it into replies).
struct FrontAbilities {
  bool per_recipient_replies = false;  // LMTP: one reply per recipient after the data
  // The sending client still waits on the line (before-queue proxy, milter):
  // a bounce destiny rejects instead, so no backscatter is ever made.
  bool live = false;
  // Groups of recipients go to the back-end in transactions of their own
  // (the SMTP/LMTP fronts, which deliver themselves).
  bool split_delivery = false;
  // Recipients can be deleted from the one transaction (milter: the MTA
  // offered SMFIF_DELRCPT).
  bool delete_recipients = false;
  // Header fields can be added / changed and deleted (milter: SMFIF_ADDHDRS,
  // SMFIF_CHGHDRS; the SMTP fronts write the message themselves).
  bool add_headers = true;
  bool change_headers = true;
  // The message can be put on hold in the MTA (milter: SMFIF_QUARANTINE).
  bool hold = false;
};

struct CheckOptions {
  std::string bank;                       // the listener's bank
  std::vector<std::string> extra_banks;   // overlaid on the selected policy (auth_bank)
  FrontAbilities front;
  // Quarantine by holding the message in the MTA (milter) instead of
  // Sigil's store: run_checks only reports it in CheckResult::hold.
  bool quarantine_by_hold = false;
};

// Runs the checks over ctx (whose budget_end, when set, caps every stage's
// deadline).  Never fails: a stage's trouble is in the verdict already.
boost::asio::awaitable<void> run_checks(Runtime& rt, const CheckOptions& opt, MessageContext& ctx,
                                        CheckResult& out);

// ctx.edits plus, for a local recipient (or d == nullptr), the edits only
// local recipients get.
HeaderEdits edits_for(const MessageContext& ctx, const Disposition* d);

// "category: reason" of the finding that decided a recipient's destiny, or
// "clean": for replies and the summary's recipients= note.
std::string finding_reason(const Finding* f);

}  // namespace sigil::filter
