// Unit tests of filter/core/recipients.* (patterns, local domains, lovers,
// bypass, per-recipient spam levels) and filter/core/bounce_guard.* and filter/delivery/dsn.* (guards, the report).
// e2e.recipients and e2e.spam_spamd run them in sigild.
#include "filter/core/recipients.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "filter/delivery/dsn.hpp"
#include "filter/stages/spam_stage.hpp"

using namespace sigil;
using namespace sigil::filter;

namespace {

conf::Config config(const std::string& extra) {
  auto c = conf::load_string("[[listener]]\naddress = \"127.0.0.1:10024\"\n" + extra, "t.toml");
  EXPECT_TRUE(c) << c.error().message;
  return c ? c.value() : conf::Config{};
}

struct Msg {
  ClientInfo client;
  Envelope env;
  std::unique_ptr<MessageStore> store;
  std::unique_ptr<MessageContext> ctx;
  Msg(std::vector<std::string> rcpts, std::string text = "From: a@b\r\nSubject: s\r\n\r\nbody\r\n") {
    env.sender = "sender@example.org";
    for (auto& r : rcpts) env.recipients.push_back({r, {}});
    store = std::make_unique<MessageStore>(1 << 20, "/tmp", 1 << 20);
    EXPECT_TRUE(store->append(text).ok());
    EXPECT_TRUE(store->finish().ok());
    ctx = std::make_unique<MessageContext>("LOGID", client, env, *store);
  }
};

}  // namespace

TEST(Recipients, Patterns) {
  EXPECT_TRUE(recipient_matches(".", "anyone@anywhere"));
  EXPECT_TRUE(recipient_matches("user@example.com", "User@Example.COM"));
  EXPECT_FALSE(recipient_matches("user@example.com", "user@sub.example.com"));
  EXPECT_TRUE(recipient_matches("postmaster@", "postmaster@any.example"));
  EXPECT_FALSE(recipient_matches("postmaster@", "hostmaster@any.example"));
  EXPECT_TRUE(recipient_matches("example.com", "x@example.com"));
  EXPECT_FALSE(recipient_matches("example.com", "x@sub.example.com"));
  EXPECT_TRUE(recipient_matches(".example.com", "x@sub.example.com"));
  EXPECT_TRUE(recipient_matches(".example.com", "x@example.com"));
  EXPECT_FALSE(recipient_matches(".example.com", "x@badexample.com"));
}

TEST(Recipients, LocalDomainsAndFirstRule) {
  auto all = config("");
  EXPECT_TRUE(settings_for(all, "x@elsewhere.org").local);  // unset: everyone is local
  auto c = config(
      "[recipients]\nlocal_domains = [\"example.net\", \".corp.example\"]\n"
      "[[recipient]]\nmatch = [\"boss@example.net\"]\nlovers = [\"spam\"]\n"
      "[[recipient]]\nmatch = [\"example.net\"]\nbypass = [\"av\"]\n");
  EXPECT_TRUE(settings_for(c, "x@example.net").local);
  EXPECT_TRUE(settings_for(c, "x@eu.corp.example").local);
  EXPECT_FALSE(settings_for(c, "x@example.org").local);
  auto boss = settings_for(c, "boss@example.net");
  ASSERT_NE(boss.rule, nullptr);
  EXPECT_EQ(boss.rule->index, 0u);  // the first match wins, not the domain rule
  EXPECT_EQ(settings_for(c, "x@example.net").rule->index, 1u);
  EXPECT_EQ(settings_for(c, "x@example.org").rule, nullptr);
}

TEST(Recipients, BypassedByAllOnlyWhenEveryRecipientBypasses) {
  auto c = config("[[recipient]]\nmatch = [\"a@x.example\", \"b@x.example\"]\nbypass = [\"spam\", \"av\"]\n"
                  "[[recipient]]\nmatch = [\"c@x.example\"]\nbypass = [\"spam\"]\n");
  Envelope e;
  e.recipients = {{"a@x.example", {}}, {"b@x.example", {}}};
  std::vector<std::string> stages = {"decode", "av", "spam"};
  EXPECT_EQ(bypassed_by_all(c, e, stages), (std::vector<std::string>{"av", "spam"}));
  e.recipients.push_back({"c@x.example", {}});
  EXPECT_EQ(bypassed_by_all(c, e, stages), (std::vector<std::string>{"spam"}));
  e.recipients.push_back({"d@x.example", {}});
  EXPECT_TRUE(bypassed_by_all(c, e, stages).empty());
}

TEST(Recipients, LoversBypassAndOwnSpamLevels) {
  auto c = config(
      "[[recipient]]\nmatch = [\"lover@x.example\"]\nlovers = [\"spam\", \"banned\"]\n"
      "[[recipient]]\nmatch = [\"noav@x.example\"]\nbypass = [\"av\"]\n"
      "[[recipient]]\nmatch = [\"tolerant@x.example\"]\nspam_kill_level = 50\nspam_tag2_level = 40\n");
  Msg m({"plain@x.example", "lover@x.example", "noav@x.example", "tolerant@x.example"});
  Policy pol;  // default destinies: virus/banned discard, the rest pass
  pol.destiny[conf::Category::Spam] = conf::Destiny::Discard;
  m.ctx->findings.push_back({conf::Category::Spam, "score 20 >= kill 6.9", "spam"});
  m.ctx->spam = std::make_shared<SpamResult>(20, SpamReply{}, std::nullopt);
  auto d = dispose(*m.ctx, pol, c);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].destiny, conf::Destiny::Discard);
  EXPECT_EQ(d[1].destiny, conf::Destiny::Pass);  // loves spam
  EXPECT_FALSE(d[1].finding);
  EXPECT_EQ(d[2].destiny, conf::Destiny::Discard);  // bypasses av, not spam
  EXPECT_EQ(d[3].destiny, conf::Destiny::Pass);  // 20 < its tag2 40
  ASSERT_TRUE(d[3].spam_levels);
  EXPECT_EQ(d[3].spam_levels->kill_level, 50);
  EXPECT_FALSE(d[0].same_treatment(d[1]));
  EXPECT_FALSE(d[1].same_treatment(d[3]));  // own levels: other X-Spam fields

  // A virus found by av: the lover of spam and banned still does not get it;
  // the recipient bypassing av does (the spam finding remains: discard).
  m.ctx->findings.push_back({conf::Category::Virus, "Eicar", "av"});
  d = dispose(*m.ctx, pol, c);
  EXPECT_EQ(d[1].destiny, conf::Destiny::Discard);
  EXPECT_EQ(d[1].finding->category, conf::Category::Virus);
  EXPECT_EQ(d[2].finding->category, conf::Category::Spam);
}

TEST(Dsn, Guards) {
  conf::DsnConfig cfg;
  Msg m({"r@x.example"});
  Finding banned{conf::Category::Banned, "banned name 'a.exe'", "decode"};
  Finding virus{conf::Category::Virus, "Eicar", "av"};
  Finding spam{conf::Category::Spam, "score 8", "spam"};
  const Recipient& r = m.env.recipients[0];
  EXPECT_FALSE(bounce_suppressed(*m.ctx, &banned, r, cfg));
  EXPECT_EQ(*bounce_suppressed(*m.ctx, &virus, r, cfg), "virus (senders are forged)");
  EXPECT_EQ(*bounce_suppressed(*m.ctx, &spam, r, cfg), "spam without a score");
  m.ctx->spam = std::make_shared<SpamResult>(8, SpamReply{}, std::nullopt);
  EXPECT_FALSE(bounce_suppressed(*m.ctx, &spam, r, cfg));
  m.ctx->spam = std::make_shared<SpamResult>(10, SpamReply{}, std::nullopt);
  EXPECT_TRUE(bounce_suppressed(*m.ctx, &spam, r, cfg));  // at the cutoff
  Recipient never{"r@x.example", {{"NOTIFY", "NEVER", true}}};
  EXPECT_EQ(*bounce_suppressed(*m.ctx, &banned, never, cfg), "NOTIFY=NEVER");
  Recipient delay{"r@x.example", {{"NOTIFY", "DELAY", true}}};
  EXPECT_TRUE(bounce_suppressed(*m.ctx, &banned, delay, cfg));
  Recipient fail{"r@x.example", {{"NOTIFY", "SUCCESS,FAILURE", true}}};
  EXPECT_FALSE(bounce_suppressed(*m.ctx, &banned, fail, cfg));
  m.env.sender.clear();
  EXPECT_EQ(*bounce_suppressed(*m.ctx, &banned, r, cfg), "null sender");
  Msg list({"r@x.example"}, "From: a@b\r\nList-Id: <l.example>\r\n\r\nx\r\n");
  EXPECT_EQ(*bounce_suppressed(*list.ctx, &banned, r, cfg), "mailing list (List-Id)");
  Msg junk({"r@x.example"}, "From: a@b\r\nPrecedence:  Junk \r\n\r\nx\r\n");
  EXPECT_EQ(*bounce_suppressed(*junk.ctx, &banned, r, cfg), "Precedence: junk");
}

TEST(Dsn, ReportFields) {
  conf::DsnConfig cfg;
  Msg m({"r@x.example"}, "From: a@b\r\nMessage-ID: <m1@b>\r\nSubject: s\r\n\r\nsecret body\r\n");
  m.env.mail_params = {{"ENVID", "id+2B1", true}};
  m.env.recipients[0].params = {{"ORCPT", "rfc822;R@x.example", true}};
  Finding banned{conf::Category::Banned, "banned name 'a.exe'", "decode"};
  auto d = make_dsn(*m.ctx, {{&m.env.recipients[0], &banned}}, "mx.example", cfg, 0);
  const std::string& t = d.message;
  EXPECT_NE(t.find("From: \"Content filter at mx.example\" <postmaster@mx.example>\r\n"), std::string::npos);
  EXPECT_NE(t.find("To: <sender@example.org>\r\n"), std::string::npos);
  EXPECT_NE(t.find("In-Reply-To: <m1@b>\r\n"), std::string::npos);
  EXPECT_NE(t.find("Original-Envelope-Id: id+1\r\n"), std::string::npos);  // xtext decoded
  EXPECT_NE(t.find("Original-Recipient: rfc822;R@x.example\r\n"), std::string::npos);
  EXPECT_NE(t.find("Final-Recipient: rfc822; r@x.example\r\nAction: failed\r\nStatus: 5.7.0\r\n"),
            std::string::npos);
  EXPECT_NE(t.find("Content-Type: text/rfc822-headers\r\n\r\nFrom: a@b\r\n"), std::string::npos);
  EXPECT_EQ(t.find("secret body"), std::string::npos);  // headers only
  EXPECT_FALSE(d.eight_bit);
  cfg.from = "bounces@mx.example";
  EXPECT_NE(make_dsn(*m.ctx, {{&m.env.recipients[0], &banned}}, "mx.example", cfg, 0)
                .message.find("<bounces@mx.example>"),
            std::string::npos);
}

// A recipient the back-end refused: Status is its enhanced code,
// Diagnostic-Code quotes its reply, Remote-MTA names it; Sigil's own bounce
// in the same DSN keeps its fields.
TEST(Dsn, BackEndRefusal) {
  conf::DsnConfig cfg;
  Msg m({"r@x.example", "s@x.example"});
  Finding banned{conf::Category::Banned, "banned name 'a.exe'", "decode"};
  std::vector<DsnRecipient> rcpts;
  rcpts.push_back({&m.env.recipients[0], nullptr,
                   make_reply(550, "5.1.1", "<r@x.example>: Recipient address rejected")});
  rcpts.push_back({&m.env.recipients[1], &banned});
  const std::string t = make_dsn(*m.ctx, rcpts, "mx.example", cfg, 0, "dns; 127.0.0.1").message;
  EXPECT_NE(t.find("Subject: Undelivered mail: refused by the next hop\r\n"), std::string::npos) << t;
  EXPECT_NE(t.find("Final-Recipient: rfc822; r@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                   "Remote-MTA: dns; 127.0.0.1\r\n"
                   "Diagnostic-Code: smtp; 550 5.1.1 <r@x.example>: Recipient address rejected\r\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("Final-Recipient: rfc822; s@x.example\r\nAction: failed\r\nStatus: 5.7.0\r\n"
                   "Diagnostic-Code: smtp; 554 5.7.0 banned: banned name 'a.exe'\r\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("  <r@x.example>: 5.1.1 refused by the next hop: 550 5.1.1 <r@x.example>"),
            std::string::npos);
  // A 5xx without an enhanced code: 5.0.0.
  rcpts.resize(1);
  rcpts[0].refusal = make_reply(550, "", "no such user");
  EXPECT_NE(make_dsn(*m.ctx, rcpts, "mx.example", cfg, 0).message.find(
                "Status: 5.0.0\r\nDiagnostic-Code: smtp; 550 no such user\r\n"),
            std::string::npos);
}

// A message that came with SMTPUTF8 gets an internationalised DSN (RFC
// 6533): message/global-delivery-status, message/global-headers, UTF-8
// addresses as utf-8 type, 8-bit; without SMTPUTF8, the classic types.
TEST(Dsn, Utf8MessageGetsAGlobalDsn) {
  conf::DsnConfig cfg;
  Msg m({"jörg@x.example", "r@x.example"},
        "From: s\xc3\xa9@example.org\r\nSubject: s\r\n\r\nbody\r\n");
  m.env.sender = "sé@example.org";
  m.env.smtputf8 = true;
  std::vector<DsnRecipient> rcpts;
  rcpts.push_back({&m.env.recipients[0], nullptr, make_reply(550, "5.1.1", "jörg: unknown")});
  rcpts.push_back({&m.env.recipients[1], nullptr, make_reply(550, "5.1.1", "r: unknown")});
  Dsn d = make_dsn(*m.ctx, rcpts, "mx.example", cfg, 0);
  const std::string& t = d.message;
  EXPECT_TRUE(d.eight_bit);
  EXPECT_NE(t.find("To: <sé@example.org>\r\n"), std::string::npos);
  EXPECT_NE(t.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
  EXPECT_NE(t.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(t.find("Content-Type: message/global-delivery-status\r\n"), std::string::npos);
  EXPECT_EQ(t.find("message/delivery-status"), std::string::npos);
  EXPECT_NE(t.find("Final-Recipient: utf-8; jörg@x.example\r\n"), std::string::npos) << t;
  EXPECT_NE(t.find("Diagnostic-Code: smtp; 550 5.1.1 jörg: unknown\r\n"), std::string::npos) << t;
  EXPECT_NE(t.find("Final-Recipient: rfc822; r@x.example\r\n"), std::string::npos);
  EXPECT_NE(t.find("Content-Type: message/global-headers\r\n\r\nFrom: s\xc3\xa9@example.org\r\n"),
            std::string::npos);
  EXPECT_EQ(t.find("text/rfc822-headers"), std::string::npos);

  m.env.smtputf8 = false;  // the same bytes, no SMTPUTF8: the classic types, no raw UTF-8 in fields
  const std::string c = make_dsn(*m.ctx, rcpts, "mx.example", cfg, 0).message;
  EXPECT_NE(c.find("Content-Type: message/delivery-status\r\n"), std::string::npos);
  EXPECT_NE(c.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_NE(c.find("Diagnostic-Code: smtp; 550 5.1.1 j??rg: unknown\r\n"), std::string::npos);
  EXPECT_EQ(c.find("utf-8;"), std::string::npos);
}
