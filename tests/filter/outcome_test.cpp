// tests/filter/outcome_test.cpp — filter/core/outcome.*: every verdict and
// every recipient destiny against every front (SMTP, LMTP, before-queue
// proxy, milter with and without SMFIF_DELRCPT), with the back-end's and the
// DSN's replies, table by table, and the DSN for the recipients the back-end
// refused while others got the message.  e2e.postfix_matrix_* and
// e2e.milter_miltertest run the same paths through real Postfix and
// miltertest.
#include "filter/core/outcome.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <tuple>
#include <string>
#include <vector>

using namespace sigil;
using namespace sigil::filter;

namespace {

enum class Front { Smtp, Lmtp, Proxy, Milter, MilterNoDelRcpt };

const char* name(Front f) {
  switch (f) {
    case Front::Smtp: return "smtp";
    case Front::Lmtp: return "lmtp";
    case Front::Proxy: return "proxy";
    case Front::Milter: return "milter";
    case Front::MilterNoDelRcpt: return "milter-no-delrcpt";
  }
  return "?";
}

FrontAbilities abilities(Front f) {
  FrontAbilities a;
  switch (f) {
    case Front::Smtp: a.split_delivery = true; break;
    case Front::Lmtp: a.split_delivery = a.per_recipient_replies = true; break;
    case Front::Proxy: a.split_delivery = a.live = true; break;
    case Front::Milter: a.live = a.delete_recipients = a.hold = true; break;
    case Front::MilterNoDelRcpt: a.live = a.hold = true; break;
  }
  return a;
}

bool is_milter(Front f) { return f == Front::Milter || f == Front::MilterNoDelRcpt; }

const Reply kQueued = make_reply(250, "2.0.0", "Ok: queued as ABC");

// A message from sender@example.org to two recipients.
struct Msg {
  ClientInfo client;
  Envelope env;
  std::unique_ptr<MessageStore> store;
  std::unique_ptr<MessageContext> ctx;
  explicit Msg(std::string sender = "sender@example.org") {
    env.sender = std::move(sender);
    env.recipients = {{"a@example.net", {}}, {"b@example.net", {}}};
    store = std::make_unique<MessageStore>(1 << 20, "/tmp", 1 << 20);
    EXPECT_TRUE(store->append("From: s@example.org\r\nSubject: t\r\n\r\nbody\r\n").ok());
    EXPECT_TRUE(store->finish().ok());
    ctx = std::make_unique<MessageContext>("LOGID", client, env, *store);
  }
};

const Finding kBanned{conf::Category::Banned, "banned name 'a.exe'", "decode"};

// The checks' result when the second recipient's destiny is `d` and the
// first one's is pass.
CheckResult split_on_second(conf::Destiny d) {
  CheckResult c;
  c.split = true;
  c.disp.resize(2);
  c.disp[1].destiny = d;
  c.disp[1].finding = kBanned;
  return c;
}

// Runs the outcome as a front does: each group delivered with `backend`
// replies, the DSN answered with `dsn`.
Answer run(MessageContext& ctx, const CheckResult& c, Front f, const Reply& backend = kQueued,
           const Reply& dsn = kQueued, std::size_t* bounces = nullptr,
           std::size_t* deleted = nullptr, std::size_t* groups = nullptr) {
  conf::DsnConfig dsn_cfg;
  Outcome o(ctx, c, abilities(f), dsn_cfg);
  if (groups) *groups = o.groups().size();
  if (!is_milter(f))
    for (std::size_t g = 0; g < o.groups().size(); ++g) {
      DeliveryResult r;
      r.rcpt.assign(o.groups()[g].envelope(ctx).recipients.size(), backend);
      r.decisive = backend;
      o.delivered(g, r);
    }
  if (bounces) *bounces = o.bounces().size();
  if (!o.bounces().empty()) o.dsn_sent(dsn);
  if (deleted) *deleted = o.deleted().size();
  return o.answer();
}

std::string text(const Reply& r) { return r.lines.empty() ? "" : r.lines.front(); }

std::string note(const MessageContext& ctx, const std::string& key) {
  for (const auto& [k, v] : ctx.notes)
    if (k == key) return v;
  return {};
}

const Front kFronts[] = {Front::Smtp, Front::Lmtp, Front::Proxy, Front::Milter,
                         Front::MilterNoDelRcpt};

}  // namespace

// One verdict for every recipient: each front answers the same code,
// enhanced code and text, once (SMTP, proxy, milter) or per recipient (LMTP).
TEST(Outcome, WholeMessageVerdictsOnEveryFront) {
  struct Row {
    Action action;
    Answer::Kind kind;
    int code;
    const char* enhanced;
    const char* text;
    log::SummaryAction summary;
  };
  const Row rows[] = {
      {Action::Reject, Answer::Kind::Refuse, 554, "5.7.1", "LOGID Rejected: why",
       log::SummaryAction::Reject},
      {Action::TempFail, Answer::Kind::Refuse, 451, "4.7.1", "LOGID Try again later: why",
       log::SummaryAction::TempFail},
      {Action::Discard, Answer::Kind::Discard, 250, "2.7.0", "LOGID Ok, discarded: why",
       log::SummaryAction::Discard},
  };
  for (Front f : kFronts)
    for (const Row& row : rows) {
      SCOPED_TRACE(std::string(name(f)) + " " + to_string(row.action));
      Msg m;
      CheckResult c;
      c.verdict = {row.action, "why"};
      std::size_t groups = 9;
      Answer a = run(*m.ctx, c, f, kQueued, kQueued, nullptr, nullptr, &groups);
      EXPECT_EQ(groups, 0u);  // nobody is delivered
      EXPECT_EQ(a.kind, row.kind);
      EXPECT_EQ(a.reply.code, row.code);
      EXPECT_EQ(a.reply.enhanced, row.enhanced);
      EXPECT_EQ(text(a.reply), row.text);
      EXPECT_EQ(a.action, row.summary);
      EXPECT_EQ(a.backend, "why");
      EXPECT_EQ(a.per_recipient.size(), f == Front::Lmtp ? 2u : 0u);
      for (const auto& r : a.per_recipient) EXPECT_EQ(r.summary(), a.reply.summary());
    }
}

// Continue and Accept: one transaction for everybody; the back-end's reply
// is the front's (a milter's MTA goes on with the message).
TEST(Outcome, DeliveredVerdictsOnEveryFront) {
  for (Front f : kFronts)
    for (Action act : {Action::Continue, Action::Accept}) {
      SCOPED_TRACE(std::string(name(f)) + " " + to_string(act));
      Msg m;
      CheckResult c;
      c.verdict = {act, ""};
      std::size_t groups = 0;
      Answer a = run(*m.ctx, c, f, kQueued, kQueued, nullptr, nullptr, &groups);
      EXPECT_EQ(groups, 1u);
      EXPECT_EQ(a.kind, Answer::Kind::Deliver);
      EXPECT_EQ(a.action, log::SummaryAction::Relayed);
      if (is_milter(f)) {
        EXPECT_EQ(a.backend, "milter");
      } else if (f == Front::Lmtp) {
        ASSERT_EQ(a.per_recipient.size(), 2u);
        EXPECT_EQ(a.per_recipient[1].code, 250);
        EXPECT_EQ(a.per_recipient[1].enhanced, "2.1.5");
        EXPECT_EQ(text(a.per_recipient[1]),
                  "LOGID <b@example.net> Ok, back-end said: 250 2.0.0 Ok: queued as ABC");
      } else {
        EXPECT_EQ(a.reply.code, 250);
        EXPECT_EQ(text(a.reply), "LOGID Ok, back-end said: 250 2.0.0 Ok: queued as ABC");
        EXPECT_EQ(a.backend, "250 2.0.0 Ok: queued as ABC");
      }
    }
}

// The back-end refuses: its 421 is the back-end's channel closing, so the
// front answers 451 (RFC 5321 §3.8); a 5xx stays 5xx.
TEST(Outcome, BackEndRepliesBecomeTheFrontsReplies) {
  for (Front f : {Front::Smtp, Front::Lmtp, Front::Proxy}) {
    SCOPED_TRACE(name(f));
    for (const auto& [be, code, enhanced, action] :
         {std::tuple{make_reply(421, "4.3.2", "closing"), 451, "4.3.2", log::SummaryAction::TempFail},
          std::tuple{make_reply(550, "", "no such user"), 550, "5.0.0", log::SummaryAction::Reject}}) {
      Msg m;
      CheckResult c;
      Answer a = run(*m.ctx, c, f, be);
      EXPECT_EQ(a.action, action);
      const Reply& r = f == Front::Lmtp ? a.per_recipient.at(0) : a.reply;
      EXPECT_EQ(r.code, code);
      EXPECT_EQ(r.enhanced, enhanced);
    }
  }
}

// Recipients treated apart: the first is delivered, the second has its own
// destiny.  What each front does with it, the DSN accepted.
TEST(Outcome, RecipientDestiniesOnEveryFront) {
  using D = conf::Destiny;
  using K = Answer::Kind;
  using S = log::SummaryAction;
  struct Row {
    Front front;
    D destiny;
    std::size_t bounces;   // recipients in the DSN
    std::size_t deleted;   // recipients deleted from the MTA's transaction
    K kind;
    int code;              // the message's reply (SMTP, proxy, milter refusal); LMTP: the second's
    const char* enhanced;
    S action;
    const char* what;      // the second recipient in recipients= (empty: no note)
  };
  // Over SMTP a recipient cannot be refused after the data: reject bounces.
  // Before the queue (proxy, milter) the checks have made bounce a reject;
  // a tempfail over SMTP tempfails the whole message in the checks.
  const Row rows[] = {
      {Front::Smtp, D::Discard, 0, 0, K::Deliver, 250, "2.0.0", S::Relayed, "discarded"},
      {Front::Smtp, D::Bounce, 1, 0, K::Deliver, 250, "2.0.0", S::Relayed, "bounced"},
      {Front::Smtp, D::Reject, 1, 0, K::Deliver, 250, "2.0.0", S::Relayed, "bounced"},
      {Front::Lmtp, D::Discard, 0, 0, K::Deliver, 250, "2.1.5", S::Relayed, "discarded"},
      {Front::Lmtp, D::Bounce, 1, 0, K::Deliver, 250, "2.1.5", S::Relayed, "bounced"},
      {Front::Lmtp, D::Reject, 0, 0, K::Deliver, 554, "5.7.1", S::Partial, "rejected"},
      {Front::Lmtp, D::TempFail, 0, 0, K::Deliver, 451, "4.7.1", S::Partial, "tempfailed"},
      {Front::Proxy, D::Discard, 0, 0, K::Deliver, 250, "2.0.0", S::Relayed, "discarded"},
      {Front::Proxy, D::Reject, 1, 0, K::Deliver, 250, "2.0.0", S::Relayed, "bounced"},
      {Front::Milter, D::Discard, 0, 1, K::Deliver, 0, "", S::Partial, "discarded"},
      {Front::Milter, D::Reject, 1, 1, K::Deliver, 0, "", S::Partial, "bounced"},
      {Front::Milter, D::TempFail, 0, 0, K::Refuse, 451, "4.7.1", S::TempFail, ""},
      {Front::MilterNoDelRcpt, D::Discard, 0, 0, K::Deliver, 0, "", S::Relayed, ""},
      {Front::MilterNoDelRcpt, D::Reject, 0, 0, K::Refuse, 554, "5.7.1", S::Reject, ""},
      {Front::MilterNoDelRcpt, D::TempFail, 0, 0, K::Refuse, 451, "4.7.1", S::TempFail, ""},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(name(row.front)) + " " + conf::to_string(row.destiny));
    Msg m;
    CheckResult c = split_on_second(row.destiny);
    std::size_t bounces = 9, deleted = 9;
    Answer a = run(*m.ctx, c, row.front, kQueued, kQueued, &bounces, &deleted);
    EXPECT_EQ(bounces, row.bounces);
    EXPECT_EQ(deleted, row.deleted);
    EXPECT_EQ(a.kind, row.kind);
    EXPECT_EQ(a.action, row.action);
    if (row.front == Front::Lmtp) {
      ASSERT_EQ(a.per_recipient.size(), 2u);
      EXPECT_EQ(a.per_recipient[0].code, 250);
      EXPECT_EQ(a.per_recipient[1].code, row.code);
      EXPECT_EQ(a.per_recipient[1].enhanced, row.enhanced);
    } else if (row.code) {
      EXPECT_EQ(a.reply.code, row.code);
      EXPECT_EQ(a.reply.enhanced, row.enhanced);
    }
    std::string rcpts = note(*m.ctx, "recipients");
    if (*row.what) {
      EXPECT_NE(rcpts.find(std::string("b@example.net: ") + row.what + " (banned: banned name 'a.exe')"),
                std::string::npos)
          << rcpts;
    } else {
      EXPECT_EQ(rcpts, "");
    }
    EXPECT_EQ(note(*m.ctx, "dsn").empty(), row.bounces == 0);
  }
}

// The DSN deferred or refused.  Deferred, the bounced recipient is retried:
// over SMTP the whole message is tempfailed (the delivered copy may come
// twice, none is lost); a milter tempfails the message and deletes nobody.
// Refused for good, the recipient counts as discarded.
TEST(Outcome, DsnDeferredOrRefused) {
  const Reply deferred = make_reply(451, "4.3.0", "try later");
  const Reply refused = make_reply(550, "5.1.1", "no such sender");
  using S = log::SummaryAction;
  struct Row {
    Front front;
    Reply dsn;
    S action;
    int code;
    std::size_t groups;  // after the DSN: what the front still sends on
  };
  const Row rows[] = {
      {Front::Smtp, deferred, S::TempFailPartial, 451, 1},
      {Front::Smtp, refused, S::Relayed, 250, 1},
      {Front::Lmtp, deferred, S::Partial, 451, 1},
      {Front::Milter, deferred, S::TempFail, 451, 0},
      {Front::Milter, refused, S::Partial, 0, 1},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(name(row.front)) + " " + row.dsn.summary());
    Msg m;
    conf::DsnConfig cfg;
    CheckResult c = split_on_second(conf::Destiny::Bounce);
    Outcome o(*m.ctx, c, abilities(row.front), cfg);
    ASSERT_EQ(o.bounces().size(), 1u);
    if (!is_milter(row.front)) {
      DeliveryResult r;
      r.rcpt = {kQueued};
      r.decisive = kQueued;
      o.delivered(0, r);
    }
    o.dsn_sent(row.dsn);
    EXPECT_EQ(o.groups().size(), row.groups);
    Answer a = o.answer();
    EXPECT_EQ(a.action, row.action);
    const Reply& second = row.front == Front::Lmtp ? a.per_recipient.at(1) : a.reply;
    if (row.code) {
      EXPECT_EQ(second.code, row.code) << second.summary();
    }
    if (row.front == Front::Milter && row.dsn.code == 451) {
      EXPECT_EQ(o.deleted().size(), 0u);
      EXPECT_EQ(text(a.reply), "LOGID Try again later: the bounce could not be sent (451 4.3.0 try later)");
    }
  }
}

// The backscatter guards apply on every front: from <> nobody is bounced.
TEST(Outcome, NoBounceFromTheNullSender) {
  for (Front f : {Front::Smtp, Front::Proxy, Front::Milter}) {
    SCOPED_TRACE(name(f));
    Msg m("");
    std::size_t bounces = 9;
    Answer a = run(*m.ctx, split_on_second(conf::Destiny::Reject), f, kQueued, kQueued, &bounces);
    EXPECT_EQ(bounces, 0u);
    EXPECT_NE(note(*m.ctx, "recipients").find("discarded, no bounce: null sender"), std::string::npos);
  }
}

namespace {

// Three recipients delivered in one transaction (two for a split message),
// the back-end answering each with be[i]; the DSN, if one is planned,
// answered with `dsn`.
struct Refusals {
  Answer a;
  std::vector<DsnRecipient> dsn;  // what the DSN was for
};
Refusals refusals(Msg& m, Front f, const std::vector<Reply>& be, const Reply& dsn = kQueued,
                  const CheckResult& c = CheckResult{}) {
  conf::DsnConfig cfg;
  Outcome o(*m.ctx, c, abilities(f), cfg);
  for (std::size_t g = 0; g < o.groups().size(); ++g) {
    DeliveryResult r;
    const DeliveryGroup& grp = o.groups()[g];
    for (std::size_t k = 0; k < grp.envelope(*m.ctx).recipients.size(); ++k)
      r.rcpt.push_back(be.at(grp.subset ? grp.idx[k] : k));
    r.decisive = kQueued;
    o.delivered(g, r);
  }
  Refusals out;
  out.dsn = o.bounces();
  if (!o.bounces().empty()) o.dsn_sent(dsn);
  out.a = o.answer();
  return out;
}

const Reply kUnknown = make_reply(550, "5.1.1", "<b@example.net>: Recipient address rejected");

}  // namespace

// Over SMTP and through a proxy, a recipient the back-end refuses for good
// while the others get the message is not lost: the one DSN goes to the
// sender for exactly that recipient, quoting the back-end's reply, and the
// client gets 250 (action partial, the recipient in recipients=).  An LMTP
// back-end's 5xx after the data looks the same to the outcome.
TEST(Outcome, BackEndRefusalGetsTheDsn) {
  const Reply after_data = make_reply(552, "5.2.2", "<b@example.net>: mailbox full");
  for (Front f : {Front::Smtp, Front::Proxy})
    for (const Reply& refusal : {kUnknown, after_data}) {
      SCOPED_TRACE(std::string(name(f)) + " " + refusal.summary());
      Msg m;
      m.env.recipients.push_back({"c@example.net", {}});
      Refusals r = refusals(m, f, {kQueued, refusal, kQueued});
      ASSERT_EQ(r.dsn.size(), 1u);
      EXPECT_EQ(r.dsn[0].rcpt->address, "b@example.net");
      ASSERT_TRUE(r.dsn[0].refusal);
      EXPECT_EQ(r.dsn[0].refusal->summary(), refusal.summary());
      EXPECT_EQ(r.a.kind, Answer::Kind::Deliver);
      EXPECT_EQ(r.a.reply.code, 250);
      EXPECT_EQ(r.a.reply.enhanced, "2.0.0");
      EXPECT_EQ(text(r.a.reply), "LOGID Ok for 2 of 3 recipients, DSN sent for 1, back-end said: " +
                                     kQueued.summary());
      EXPECT_EQ(r.a.action, log::SummaryAction::Partial);
      EXPECT_EQ(note(*m.ctx, "recipients"),
                "b@example.net: bounced (back-end said: " + refusal.summary() + ")");
      EXPECT_EQ(note(*m.ctx, "dsn"), kQueued.summary());
    }
}

// The DSN for the back-end's refusals cannot be handed over (refused,
// deferred): the message is tempfailed whole, so the client retries and the
// refused recipient is not lost (the others will get a second copy).
TEST(Outcome, BackEndRefusalWhoseDsnFailsTempfailsTheMessage) {
  for (const Reply& dsn : {make_reply(550, "5.7.1", "no bounces here"),
                           make_reply(451, "4.3.0", "try later"),
                           make_reply(554, "5.6.7", "SMTPUTF8 is required, but was not offered by the back-end")}) {
    SCOPED_TRACE(dsn.summary());
    Msg m;
    m.env.recipients.push_back({"c@example.net", {}});
    Refusals r = refusals(m, Front::Smtp, {kQueued, kUnknown, kQueued}, dsn);
    ASSERT_EQ(r.dsn.size(), 1u);
    EXPECT_EQ(r.a.kind, Answer::Kind::Refuse);
    EXPECT_EQ(r.a.reply.code, 451);
    EXPECT_EQ(r.a.reply.enhanced, "4.3.0");
    EXPECT_EQ(text(r.a.reply),
              "LOGID Try again later: the DSN for the recipients the back-end refused could not be sent (" +
                  dsn.summary() + ")");
    EXPECT_EQ(r.a.action, log::SummaryAction::TempFailPartial);
    EXPECT_NE(note(*m.ctx, "recipients").find("b@example.net: tempfail, the DSN was"), std::string::npos)
        << note(*m.ctx, "recipients");
  }
}

// The backscatter guards hold for the back-end's refusals too: from <> (or
// with NOTIFY=NEVER) no DSN, the refusal is logged and the client gets 250.
TEST(Outcome, BackEndRefusalWithoutDsnFromTheNullSender) {
  for (bool null_sender : {true, false}) {
    Msg m(null_sender ? "" : "sender@example.org");
    m.env.recipients.push_back({"c@example.net", {}});
    if (!null_sender) m.env.recipients[1].params = {{"NOTIFY", "NEVER", true}};
    Refusals r = refusals(m, Front::Smtp, {kQueued, kUnknown, kQueued});
    EXPECT_TRUE(r.dsn.empty());
    EXPECT_EQ(r.a.reply.code, 250);
    EXPECT_EQ(text(r.a.reply),
              "LOGID Ok for 2 of 3 recipients, no DSN, back-end said: " + kQueued.summary());
    EXPECT_EQ(r.a.action, log::SummaryAction::Partial);
    EXPECT_EQ(note(*m.ctx, "recipients"),
              std::string("b@example.net: refused, no bounce: ") +
                  (null_sender ? "null sender" : "NOTIFY=NEVER") + " (back-end said: " +
                  kUnknown.summary() + ")");
  }
}

// No DSN when every recipient was refused (the client gets the back-end's
// 5xx), when one was deferred (the message is tempfailed whole and retried),
// or over LMTP (each recipient gets its own reply).
TEST(Outcome, NoDsnForRefusalsWhenTheClientHearsThem) {
  const Reply deferred = make_reply(452, "4.2.2", "over quota, try later");
  {
    Msg m;
    m.env.recipients.push_back({"c@example.net", {}});
    Refusals r = refusals(m, Front::Smtp, {kUnknown, kUnknown, kUnknown});
    EXPECT_TRUE(r.dsn.empty());
    EXPECT_EQ(r.a.reply.code, 550);
    EXPECT_EQ(r.a.reply.enhanced, "5.1.1");
    EXPECT_EQ(r.a.action, log::SummaryAction::Reject);
  }
  {
    Msg m;
    m.env.recipients.push_back({"c@example.net", {}});
    Refusals r = refusals(m, Front::Smtp, {kQueued, kUnknown, deferred});
    EXPECT_TRUE(r.dsn.empty());
    EXPECT_EQ(r.a.reply.code, 452);
    EXPECT_EQ(r.a.action, log::SummaryAction::TempFailPartial);
  }
  {
    Msg m;
    m.env.recipients.push_back({"c@example.net", {}});
    Refusals r = refusals(m, Front::Lmtp, {kQueued, kUnknown, kQueued});
    EXPECT_TRUE(r.dsn.empty());
    ASSERT_EQ(r.a.per_recipient.size(), 3u);
    EXPECT_EQ(r.a.per_recipient[1].code, 550);
    EXPECT_EQ(r.a.per_recipient[2].code, 250);
    EXPECT_EQ(r.a.action, log::SummaryAction::Partial);
  }
}

// Recipients treated apart: Sigil's bounce and the back-end's refusal share
// the one DSN.
TEST(Outcome, SigilBounceAndBackEndRefusalShareTheDsn) {
  Msg m;
  m.env.recipients.push_back({"c@example.net", {}});
  CheckResult c = split_on_second(conf::Destiny::Bounce);
  c.disp.resize(3);
  Refusals r = refusals(m, Front::Smtp, {kQueued, kQueued, kUnknown}, kQueued, c);
  ASSERT_EQ(r.dsn.size(), 2u);
  EXPECT_EQ(r.dsn[0].rcpt->address, "b@example.net");
  EXPECT_FALSE(r.dsn[0].refusal);
  EXPECT_EQ(r.dsn[1].rcpt->address, "c@example.net");
  EXPECT_TRUE(r.dsn[1].refusal);
  EXPECT_EQ(r.a.reply.code, 250);
  EXPECT_EQ(r.a.action, log::SummaryAction::Partial);
  const std::string rc = note(*m.ctx, "recipients");
  EXPECT_NE(rc.find("b@example.net: bounced (banned: banned name 'a.exe')"), std::string::npos) << rc;
  EXPECT_NE(rc.find("c@example.net: bounced (back-end said: 550 5.1.1"), std::string::npos) << rc;
}

// What a milter's MTA does not let us do: hold, add or delete fields.  The
// message is tempfailed rather than passed unheld or unedited, and no DSN
// goes out before that 451 (a retry would send it again).
TEST(Outcome, MilterWithoutTheActionsItNeeds) {
  conf::DsnConfig cfg;
  {
    Msg m;
    CheckResult c = split_on_second(conf::Destiny::Reject);
    c.hold = "banned (decode: x)";
    FrontAbilities f = abilities(Front::Milter);
    f.hold = false;
    Outcome o(*m.ctx, c, f, cfg);
    EXPECT_TRUE(o.bounces().empty());
    Answer a = o.answer();
    EXPECT_EQ(a.reply.code, 451);
    EXPECT_EQ(a.reply.enhanced, "4.3.5");
    EXPECT_EQ(a.action, log::SummaryAction::TempFail);
  }
  for (bool add : {false, true}) {
    Msg m;
    m.ctx->edits.prepend.push_back("X-Test: 1\r\n");
    if (add) m.ctx->edits.remove.push_back(0);
    CheckResult c = split_on_second(conf::Destiny::Reject);
    FrontAbilities f = abilities(Front::Milter);
    (add ? f.change_headers : f.add_headers) = false;
    Outcome o(*m.ctx, c, f, cfg);
    EXPECT_TRUE(o.bounces().empty());
    Answer a = o.answer();
    EXPECT_EQ(a.kind, Answer::Kind::Refuse);
    EXPECT_EQ(text(a.reply), "LOGID Try again later: the MTA does not allow header changes");
  }
}

// A quarantined message in a milter is held: delivered or discarded, it
// goes on hold (released with postsuper -H, it is delivered).
TEST(Outcome, MilterHold) {
  conf::DsnConfig cfg;
  for (Action act : {Action::Continue, Action::Discard}) {
    SCOPED_TRACE(to_string(act));
    Msg m;
    CheckResult c;
    c.verdict = {act, "why"};
    c.hold = "virus (av: Eicar)";
    Outcome o(*m.ctx, c, abilities(Front::Milter), cfg);
    Answer a = o.answer();
    EXPECT_EQ(a.kind, Answer::Kind::Deliver);
    ASSERT_TRUE(a.hold);
    EXPECT_EQ(*a.hold, "virus (av: Eicar)");
    EXPECT_EQ(a.action, log::SummaryAction::Hold);
  }
}

// Every summary action has its word, and no two share one.
TEST(Outcome, SummaryWordsAreOneList) {
  using S = log::SummaryAction;
  std::vector<std::string> seen;
  for (S a : {S::Relayed, S::Partial, S::Hold, S::Discard, S::Reject, S::TempFail,
              S::TempFailPartial, S::Refused, S::Aborted, S::TimeoutInData}) {
    std::string w(log::to_string(a));
    EXPECT_NE(w, "?");
    EXPECT_EQ(std::count(seen.begin(), seen.end(), w), 0) << w;
    seen.push_back(w);
  }
  EXPECT_EQ(log::to_string(S::Relayed), "relayed");
  EXPECT_EQ(log::to_string(S::TempFailPartial), "tempfail-partial");
}
