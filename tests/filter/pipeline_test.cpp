// tests/filter/pipeline_test.cpp — filter/core/pipeline.hpp and policy.hpp: phase order, verdicts,
// deadlines and errors of stages, and policy banks (PolicyTable): building
// from a config, selecting by listener and client IP, and building only the
// components the listed stages ask for; the stage metrics each run records.
#include "filter/core/metrics.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/policy.hpp"
#include "filter/stages/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "conf/config.hpp"

namespace sigil::filter {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------ stages

// A scripted stage: logs that it ran, optionally sleeps or throws, then
// records a header edit and returns its verdict.
class TestStage : public Stage {
 public:
  enum class Mode { Return, Sleep, Throw, Block };  // Block: holds the thread

  TestStage(std::string name, Phase phase, std::vector<std::string>* log,
            Action action = Action::Continue, Mode mode = Mode::Return,
            std::chrono::milliseconds sleep = 0ms)
      : name_(std::move(name)), phase_(phase), log_(log), action_(action), mode_(mode),
        sleep_(sleep) {}

  std::string_view name() const override { return name_; }
  Phase phase() const override { return phase_; }

  asio::awaitable<Verdict> run(MessageContext& ctx) override {
    if (log_) log_->push_back(name_);
    if (mode_ == Mode::Throw) throw std::runtime_error("boom in " + name_);
    if (mode_ == Mode::Sleep) {
      asio::steady_timer t(co_await asio::this_coro::executor, sleep_);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (mode_ == Mode::Block) std::this_thread::sleep_for(sleep_);
    finished = true;
    ctx.edits.prepend.push_back("X-Stage: " + name_ + "\r\n");
    co_return Verdict{action_, name_ + " says " + to_string(action_)};
  }

  bool finished = false;

 private:
  std::string name_;
  Phase phase_;
  std::vector<std::string>* log_;
  Action action_;
  Mode mode_;
  std::chrono::milliseconds sleep_;
};

struct RunResult {
  Verdict verdict;
  std::vector<StageRecord> records;
  HeaderEdits edits;
  std::chrono::milliseconds elapsed{0};
};

RunResult run_pipeline(const Pipeline& p, std::optional<Clock::duration> budget = std::nullopt) {
  asio::io_context io;
  ClientInfo client;
  client.addr = "192.0.2.1";
  Envelope env;
  env.sender = "a@example.com";
  MessageStore store(1024, "/nonexistent", 1024);
  MessageContext ctx{"test", client, env, store};
  if (budget) ctx.budget_end = Clock::now() + *budget;
  RunResult r;
  std::optional<Verdict> out;
  std::exception_ptr err;
  auto t0 = Clock::now();
  asio::co_spawn(io, p.run(ctx, r.records), [&](std::exception_ptr e, Verdict v) {
    err = e;
    out = std::move(v);
  });
  io.run();
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  if (err) std::rethrow_exception(err);
  EXPECT_TRUE(out.has_value()) << "the pipeline did not complete";
  if (out) r.verdict = *out;
  r.edits = std::move(ctx.edits);
  return r;
}

std::vector<std::string> record_names(const std::vector<StageRecord>& rs) {
  std::vector<std::string> out;
  for (auto& r : rs) out.push_back(r.name);
  return out;
}

std::vector<std::string> record_outcomes(const std::vector<StageRecord>& rs) {
  std::vector<std::string> out;
  for (auto& r : rs) out.push_back(r.outcome);
  return out;
}

const char* on_error_name(OnError e) {
  switch (e) {
    case OnError::TempFail: return "tempfail";
    case OnError::Continue: return "continue";
    case OnError::Reject: return "reject";
  }
  return "?";
}

Action on_error_action(OnError e) {
  switch (e) {
    case OnError::TempFail: return Action::TempFail;
    case OnError::Continue: return Action::Continue;
    case OnError::Reject: return Action::Reject;
  }
  return Action::Accept;
}

// ---------------------------------------------------------------- Pipeline

TEST(Pipeline, StagesRunInPhaseOrder) {
  std::vector<std::string> log;
  Pipeline p({
      std::make_shared<TestStage>("seal", Phase::Seal, &log),
      std::make_shared<TestStage>("modify", Phase::Modify, &log),
      std::make_shared<TestStage>("verify1", Phase::Verify, &log),
      std::make_shared<TestStage>("inspect", Phase::Inspect, &log),
      std::make_shared<TestStage>("verify2", Phase::Verify, &log),
  });
  const std::vector<std::string> want = {"verify1", "verify2", "inspect", "modify", "seal"};
  std::vector<std::string> order;
  for (auto& s : p.stages()) order.emplace_back(s->name());
  EXPECT_EQ(order, want);
  EXPECT_FALSE(p.empty());

  RunResult r = run_pipeline(p);
  EXPECT_EQ(log, want) << "stages ran out of phase order";
  EXPECT_EQ(r.verdict.action, Action::Continue);
  EXPECT_EQ(record_names(r.records), want);
  EXPECT_EQ(record_outcomes(r.records),
            std::vector<std::string>(5, "continue"));
  std::vector<std::string> edits;
  for (auto& n : want) edits.push_back("X-Stage: " + n + "\r\n");
  EXPECT_EQ(r.edits.prepend, edits);
}

TEST(Pipeline, EmptyPipelineContinues) {
  Pipeline p(std::vector<std::shared_ptr<Stage>>{});
  EXPECT_TRUE(p.empty());
  RunResult r = run_pipeline(p);
  EXPECT_EQ(r.verdict.action, Action::Continue);
  EXPECT_TRUE(r.records.empty());
}

// Accept skips the remaining checks but not the Seal phase: the message is
// delivered, so dkim-sign still runs over it.
TEST(Pipeline, AcceptSkipsChecksButStillSeals) {
  std::vector<std::string> log;
  auto seal = std::make_shared<TestStage>("sign", Phase::Seal, &log);
  Pipeline p({
      seal,
      std::make_shared<TestStage>("scan", Phase::Inspect, &log),
      std::make_shared<TestStage>("allow", Phase::Verify, &log, Action::Accept),
      std::make_shared<TestStage>("rewrite", Phase::Modify, &log),
  });
  RunResult r = run_pipeline(p);
  EXPECT_EQ(r.verdict.action, Action::Accept) << "got " << to_string(r.verdict.action);
  EXPECT_EQ(r.verdict.reason, "allow says accept");
  EXPECT_EQ(log, (std::vector<std::string>{"allow", "sign"}));
  EXPECT_TRUE(seal->finished);
}

TEST(Pipeline, FirstNonContinueVerdictStops) {
  for (Action a : {Action::Reject, Action::TempFail, Action::Discard}) {
    SCOPED_TRACE(to_string(a));
    std::vector<std::string> log;
    auto later = std::make_shared<TestStage>("sign", Phase::Seal, &log);
    Pipeline p({
        later,
        std::make_shared<TestStage>("scan", Phase::Inspect, &log, a),
        std::make_shared<TestStage>("verify", Phase::Verify, &log),
        std::make_shared<TestStage>("rewrite", Phase::Modify, &log),
    });
    RunResult r = run_pipeline(p);
    EXPECT_EQ(r.verdict.action, a) << "got " << to_string(r.verdict.action);
    EXPECT_EQ(r.verdict.reason, std::string("scan says ") + to_string(a));
    EXPECT_EQ(log, (std::vector<std::string>{"verify", "scan"}));
    EXPECT_FALSE(later->finished);
    EXPECT_EQ(record_names(r.records), (std::vector<std::string>{"verify", "scan"}));
    EXPECT_EQ(record_outcomes(r.records), (std::vector<std::string>{"continue", to_string(a)}));
  }
}

TEST(Pipeline, DeadlineCutsOffSlowStage) {
  for (OnError oe : {OnError::TempFail, OnError::Continue, OnError::Reject}) {
    SCOPED_TRACE(on_error_name(oe));
    std::vector<std::string> log;
    auto slow = std::make_shared<TestStage>("slow", Phase::Inspect, &log, Action::Accept,
                                            TestStage::Mode::Sleep, 20s);
    slow->deadline = 50ms;
    slow->on_error = oe;
    auto after = std::make_shared<TestStage>("after", Phase::Seal, &log);
    Pipeline p({std::make_shared<TestStage>("first", Phase::Verify, &log), slow, after});
    RunResult r = run_pipeline(p);
    EXPECT_LT(r.elapsed, 5s) << "the deadline did not cut the stage off";
    EXPECT_GE(r.elapsed, 50ms);
    EXPECT_FALSE(slow->finished);
    EXPECT_EQ(r.verdict.action, on_error_action(oe)) << "got " << to_string(r.verdict.action);
    ASSERT_GE(r.records.size(), 2u);
    EXPECT_EQ(r.records[1].name, "slow");
    EXPECT_EQ(r.records[1].outcome, "timeout");
    EXPECT_GE(r.records[1].time, 50ms);
    if (oe == OnError::Continue) {
      EXPECT_EQ(record_names(r.records), (std::vector<std::string>{"first", "slow", "after"}));
      EXPECT_TRUE(after->finished);
    } else {
      EXPECT_NE(r.verdict.reason.find("slow"), std::string::npos) << r.verdict.reason;
      EXPECT_NE(r.verdict.reason.find("timed out"), std::string::npos) << r.verdict.reason;
      EXPECT_EQ(r.records.size(), 2u);
      EXPECT_FALSE(after->finished);
    }
  }
}

// A stage that holds the event loop past its deadline (the timer cannot
// fire meanwhile) still counts as timed out: its verdict is dropped and
// on_error decides.
TEST(Pipeline, StageReturningAfterItsDeadlineTimedOut) {
  for (OnError oe : {OnError::TempFail, OnError::Continue}) {
    SCOPED_TRACE(on_error_name(oe));
    auto blocking = std::make_shared<TestStage>("blocking", Phase::Inspect, nullptr, Action::Reject,
                                                TestStage::Mode::Block, 100ms);
    blocking->deadline = 20ms;
    blocking->on_error = oe;
    RunResult r = run_pipeline(Pipeline({blocking}));
    EXPECT_TRUE(blocking->finished);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].outcome, "timeout");
    EXPECT_EQ(r.verdict.action, on_error_action(oe)) << "got " << to_string(r.verdict.action);
  }
}

// A listener's budget (proxy, milter) cuts each stage's deadline to what is
// left: all stages together end within it, whatever their own deadlines.
TEST(Pipeline, ListenerBudgetCutsTheStagesTogether) {
  std::vector<std::string> log;
  auto a = std::make_shared<TestStage>("a", Phase::Verify, &log, Action::Continue,
                                       TestStage::Mode::Sleep, 200ms);
  auto b = std::make_shared<TestStage>("b", Phase::Inspect, &log, Action::Continue,
                                       TestStage::Mode::Sleep, 20s);
  auto c = std::make_shared<TestStage>("c", Phase::Modify, &log, Action::Continue,
                                       TestStage::Mode::Sleep, 20s);
  auto sign = std::make_shared<TestStage>("sign", Phase::Seal, &log);
  for (auto& s : {a, b, c, sign}) s->deadline = 30s;
  b->on_error = OnError::Continue;
  c->on_error = OnError::Continue;
  sign->on_error = OnError::TempFail;
  Pipeline p({a, b, c, sign});
  RunResult r = run_pipeline(p, 400ms);
  EXPECT_LT(r.elapsed, 3s) << "the budget did not cut the stages off";
  EXPECT_GE(r.elapsed, 350ms);
  EXPECT_TRUE(a->finished) << "a fits in the budget";
  EXPECT_FALSE(b->finished);
  EXPECT_FALSE(c->finished);
  EXPECT_EQ(record_outcomes(r.records),
            (std::vector<std::string>{"continue", "budget", "budget", "budget"}));
  EXPECT_EQ(r.verdict.action, Action::TempFail) << "got " << to_string(r.verdict.action);
  EXPECT_NE(r.verdict.reason.find("budget"), std::string::npos) << r.verdict.reason;
  // Without a budget the same stage keeps its own deadline.
  b->deadline = 100ms;
  RunResult r2 = run_pipeline(Pipeline({b}));
  ASSERT_EQ(r2.records.size(), 1u);
  EXPECT_EQ(r2.records[0].outcome, "timeout");
}

TEST(Pipeline, StageWithinDeadlineIsNotCutOff) {
  auto s = std::make_shared<TestStage>("sleepy", Phase::Inspect, nullptr, Action::Reject,
                                       TestStage::Mode::Sleep, 30ms);
  s->deadline = 5s;
  Pipeline p({s});
  RunResult r = run_pipeline(p);
  EXPECT_EQ(r.verdict.action, Action::Reject);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].outcome, "reject");
  EXPECT_GE(r.records[0].time, 30ms);
  EXPECT_LT(r.elapsed, 4s);
}

// Each run is counted by sigil_stage_outcomes_total (pass, finding, timeout,
// error) and timed by sigil_stage_duration_seconds; a bypassed stage is not.
// Metrics stay on for the rest of this process: the stage names are this
// test's own.
TEST(Pipeline, StageRunsCountedInMetrics) {
  metrics::enable();
  auto pass = std::make_shared<TestStage>("m-pass", Phase::Verify, nullptr);
  auto bad = std::make_shared<TestStage>("m-throw", Phase::Inspect, nullptr, Action::Continue,
                                         TestStage::Mode::Throw);
  bad->on_error = OnError::Continue;
  auto slow = std::make_shared<TestStage>("m-slow", Phase::Inspect, nullptr, Action::Continue,
                                          TestStage::Mode::Sleep, 500ms);
  slow->deadline = 20ms;
  slow->on_error = OnError::Continue;
  auto reject = std::make_shared<TestStage>("m-reject", Phase::Modify, nullptr, Action::Reject);
  Pipeline p({pass, bad, slow, reject});
  run_pipeline(p);
  run_pipeline(p);
  std::string t = "\n" + metrics::text();
  auto has = [&](const std::string& line) { return t.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(sigil_stage_outcomes_total{outcome="pass",stage="m-pass"} 2)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_outcomes_total{outcome="error",stage="m-throw"} 2)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_outcomes_total{outcome="timeout",stage="m-slow"} 2)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_outcomes_total{outcome="pass",stage="m-slow"} 0)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_outcomes_total{outcome="finding",stage="m-reject"} 2)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_duration_seconds_count{stage="m-slow"} 2)")) << t;
  // Timed out at 20 ms: both runs in the (0.01, 0.25] buckets, none above.
  EXPECT_TRUE(has(R"(sigil_stage_duration_seconds_bucket{stage="m-slow",le="0.01"} 0)")) << t;
  EXPECT_TRUE(has(R"(sigil_stage_duration_seconds_bucket{stage="m-slow",le="0.25"} 2)")) << t;
}

TEST(Pipeline, ThrowingStageHandledByOnError) {
  for (OnError oe : {OnError::TempFail, OnError::Continue, OnError::Reject}) {
    SCOPED_TRACE(on_error_name(oe));
    std::vector<std::string> log;
    auto bad = std::make_shared<TestStage>("bad", Phase::Modify, &log, Action::Accept,
                                           TestStage::Mode::Throw);
    bad->on_error = oe;
    bad->deadline = 10s;  // an error must not wait for the deadline
    auto after = std::make_shared<TestStage>("after", Phase::Seal, &log);
    Pipeline p({after, bad});
    RunResult r;
    ASSERT_NO_THROW(r = run_pipeline(p)) << "the stage's exception escaped the pipeline";
    EXPECT_LT(r.elapsed, 5s) << "a throwing stage waited for its deadline";
    EXPECT_EQ(r.verdict.action, on_error_action(oe)) << "got " << to_string(r.verdict.action);
    ASSERT_GE(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].name, "bad");
    EXPECT_EQ(r.records[0].outcome, "error");
    if (oe == OnError::Continue) {
      EXPECT_EQ(log, (std::vector<std::string>{"bad", "after"}));
      EXPECT_TRUE(after->finished);
    } else {
      EXPECT_NE(r.verdict.reason.find("boom in bad"), std::string::npos) << r.verdict.reason;
      EXPECT_EQ(log, (std::vector<std::string>{"bad"}));
    }
  }
}

// ------------------------------------------------------------ PolicyTable

struct Resolver {};
struct Scanner {};
struct Mime {};

// A factory in the shape of the real one: only some makers need components.
struct TestFactory {
  std::map<std::string, int> made;  // maker calls per stage
  StageFactory factory;

  explicit TestFactory(bool with_spam = true) {
    auto plain = [this](std::string name, Phase ph) {
      return [this, name, ph](const conf::Config&, Components&) -> std::shared_ptr<Stage> {
        ++made[name];
        return std::make_shared<TestStage>(name, ph, nullptr);
      };
    };
    factory["dkim-sign"] = plain("dkim-sign", Phase::Seal);
    factory["dkim-verify"] = [this](const conf::Config&, Components& c) -> std::shared_ptr<Stage> {
      ++made["dkim-verify"];
      auto r = c.get_or_create<Resolver>("resolver", [] { return std::make_shared<Resolver>(); });
      EXPECT_TRUE(r);
      return std::make_shared<TestStage>("dkim-verify", Phase::Verify, nullptr);
    };
    factory["av"] = [this](const conf::Config&, Components& c) -> std::shared_ptr<Stage> {
      ++made["av"];
      c.get_or_create<Scanner>("scanner", [] { return std::make_shared<Scanner>(); });
      return std::make_shared<TestStage>("av", Phase::Inspect, nullptr);
    };
    factory["decode"] = [this](const conf::Config&, Components& c) -> std::shared_ptr<Stage> {
      ++made["decode"];
      c.get_or_create<Mime>("mime", [] { return std::make_shared<Mime>(); });
      return std::make_shared<TestStage>("decode", Phase::Verify, nullptr);
    };
    if (with_spam)
      factory["spam"] = [this](const conf::Config&, Components& c) -> std::shared_ptr<Stage> {
        ++made["spam"];
        c.get_or_create<Scanner>("scanner", [] { return std::make_shared<Scanner>(); });
        c.get_or_create<Mime>("mime", [] { return std::make_shared<Mime>(); });
        return std::make_shared<TestStage>("spam", Phase::Inspect, nullptr);
      };
  }
};

conf::Config load(const std::string& toml) {
  auto r = conf::load_string(toml, "test.toml");
  if (!r) throw std::runtime_error("config does not load: " + r.error().message);
  return std::move(r).value();
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

const char* kBanksToml = R"(
[[listener]]
name = "inbound"
address = "127.0.0.1:10024"
bank = "default"

[[listener]]
name = "submission"
address = "127.0.0.1:10025"
bank = "outbound"

[bank.default]
stages = ["dkim-verify", "av"]
originating = false

[bank.outbound]
stages = ["dkim-sign"]
originating = true

[bank.mynets]
originating = true

[bank.v6lab]
stages = ["decode"]

[[network]]
cidrs = ["127.0.0.0/8", "192.0.2.0/24"]
bank = "mynets"

[[network]]
cidrs = ["2001:db8::/32"]
bank = "v6lab"
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)";

TEST(PolicyTable, SelectByListenerAndClientIp) {
  conf::Config cfg = load(kBanksToml);
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;

  struct Case {
    std::string listener_bank;
    std::optional<std::string> ip;
    std::string banks;
    bool originating;
    std::vector<std::string> stages;
  };
  const std::vector<std::string> inbound = {"dkim-verify", "av"};
  const Case cases[] = {
      {"default", std::nullopt, "default", false, inbound},
      {"default", "198.51.100.7", "default", false, inbound},
      {"default", "192.0.2.55", "default+mynets", true, inbound},
      {"default", "127.0.0.1", "default+mynets", true, inbound},
      {"default", "::ffff:192.0.2.55", "default+mynets", true, inbound},  // v4-mapped
      {"default", "::ffff:198.51.100.7", "default", false, inbound},
      {"default", "2001:db8::25", "default+v6lab", false, {"decode"}},
      {"default", "2001:db9::25", "default", false, inbound},
      {"default", "::1", "default", false, inbound},
      {"outbound", std::nullopt, "outbound", true, {"dkim-sign"}},
      {"outbound", "192.0.2.1", "outbound+mynets", true, {"dkim-sign"}},
      {"outbound", "2001:db8:ffff::1", "outbound+v6lab", true, {"decode"}},
      {"outbound", "203.0.113.9", "outbound", true, {"dkim-sign"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.listener_bank + " " + c.ip.value_or("(no ip)"));
    std::optional<std::array<std::uint8_t, 16>> ip;
    if (c.ip) {
      ip = conf::parse_ip(*c.ip);
      ASSERT_TRUE(ip) << "test ip does not parse";
    }
    const Policy& p = t->select(c.listener_bank, ip);
    EXPECT_EQ(p.banks, c.banks) << "got " << p.banks << ", want " << c.banks;
    EXPECT_EQ(p.originating, c.originating);
    EXPECT_EQ(p.stage_names, c.stages) << "got " << join(p.stage_names);
    ASSERT_NE(p.pipeline, nullptr);
    std::vector<std::string> names;
    for (auto& s : p.pipeline->stages()) names.emplace_back(s->name());
    EXPECT_EQ(names, c.stages);
  }

  // One stage object per stage name, shared by every policy that lists it.
  EXPECT_EQ(tf.made["dkim-verify"], 1);
  EXPECT_EQ(tf.made["av"], 1);
  EXPECT_EQ(tf.made["decode"], 1);
  EXPECT_EQ(tf.made["dkim-sign"], 1);
  EXPECT_EQ(t->select("default", std::nullopt).pipeline->stages()[0].get(),
            t->select("default", conf::parse_ip("10.0.0.1")).pipeline->stages()[0].get());
  EXPECT_EQ(t->select("default", std::nullopt).pipeline->stages()[0].get(),
            t->select("default", conf::parse_ip("127.0.0.2")).pipeline->stages()[0].get());
}

TEST(PolicyTable, FirstMatchingNetworkWins) {
  conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = []
[bank.narrow]
stages = ["dkim-sign"]
[bank.wide]
stages = ["av"]
[[network]]
cidrs = ["10.1.0.0/16"]
bank = "narrow"
[[network]]
cidrs = ["10.0.0.0/8"]
bank = "wide"
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)");
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->select("default", conf::parse_ip("10.1.2.3")).banks, "default+narrow");
  EXPECT_EQ(t->select("default", conf::parse_ip("10.2.2.3")).banks, "default+wide");
  EXPECT_EQ(t->select("default", conf::parse_ip("11.0.0.1")).banks, "default");
  EXPECT_TRUE(t->select("default", std::nullopt).pipeline->empty());
}

TEST(PolicyTable, StageMissingFromFactoryIsConfigError) {
  TestFactory tf(/*with_spam=*/false);
  {
    conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["dkim-verify", "spam", "dkim-sign"]
)");
    Components comps;
    auto t = PolicyTable::build(cfg, tf.factory, comps);
    ASSERT_FALSE(t) << "a bank listing an unavailable stage was accepted";
    EXPECT_EQ(t.error().kind, ErrorKind::Config);
    EXPECT_NE(t.error().message.find("'spam'"), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find("bank.default"), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find("test.toml"), std::string::npos) << t.error().message;
  }
  {  // also in a bank that only a network rule uses
    conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.scanned]
stages = ["spam"]
[[network]]
cidrs = ["10.0.0.0/8"]
bank = "scanned"
)");
    Components comps;
    auto t = PolicyTable::build(cfg, tf.factory, comps);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().kind, ErrorKind::Config);
    EXPECT_NE(t.error().message.find("'spam'"), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find("bank.scanned"), std::string::npos) << t.error().message;
  }
  // The same config builds once the factory has the stage.
  TestFactory full;
  Components comps;
  auto ok = PolicyTable::build(load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["spam"]
)"),
                               full.factory, comps);
  EXPECT_TRUE(ok) << ok.error().message;
}

// THE REQUIRED TEST (DESIGN.md §3): a signing-only bank builds none of the
// heavy shared components; a bank with the verify stage does build the
// resolver, so this test can fail.
TEST(PolicyTable, SigningOnlyBankBuildsNoHeavyComponents) {
  {
    conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
bank = "signer"
[bank.signer]
stages = ["dkim-sign"]
originating = true
[bank.mynets]
originating = true
[[network]]
cidrs = ["127.0.0.0/8"]
bank = "mynets"
)");
    TestFactory tf;
    Components comps;
    auto t = PolicyTable::build(cfg, tf.factory, comps);
    ASSERT_TRUE(t) << t.error().message;
    auto built = comps.built();
    for (const char* heavy : {"resolver", "scanner", "mime"})
      EXPECT_FALSE(has(built, heavy)) << "a signing-only bank built '" << heavy << "' (built: "
                                      << join(built) << ")";
    EXPECT_TRUE(built.empty()) << join(built);
    EXPECT_EQ(tf.made["dkim-sign"], 1);
    EXPECT_EQ(tf.made.count("dkim-verify"), 0u);
    EXPECT_EQ(tf.made.count("av"), 0u);
    EXPECT_EQ(tf.made.count("decode"), 0u);
    const Policy& p = t->select("signer", conf::parse_ip("127.0.0.1"));
    EXPECT_EQ(p.stage_names, std::vector<std::string>{"dkim-sign"});
    EXPECT_TRUE(p.originating);
  }
  {  // a bank no listener or network uses is not constructed either
    conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
bank = "signer"
[bank.signer]
stages = ["dkim-sign"]
[bank.unused]
stages = ["dkim-verify", "av", "decode", "spam"]
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)");
    TestFactory tf;
    Components comps;
    auto t = PolicyTable::build(cfg, tf.factory, comps);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_TRUE(comps.built().empty()) << join(comps.built());
    EXPECT_EQ(tf.made.count("dkim-verify"), 0u);
  }
  {  // the control: listing the verify stage builds the resolver, and only it
    conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
bank = "signer"
[bank.signer]
stages = ["dkim-verify", "dkim-sign"]
)");
    TestFactory tf;
    Components comps;
    auto t = PolicyTable::build(cfg, tf.factory, comps);
    ASSERT_TRUE(t) << t.error().message;
    auto built = comps.built();
    EXPECT_TRUE(has(built, "resolver")) << "built: " << join(built);
    EXPECT_FALSE(has(built, "scanner")) << "built: " << join(built);
    EXPECT_FALSE(has(built, "mime")) << "built: " << join(built);
    EXPECT_EQ(tf.made["dkim-verify"], 1);
  }
}

TEST(Components, GetOrCreateBuildsOnce) {
  Components c;
  EXPECT_TRUE(c.built().empty());
  int calls = 0;
  auto make = [&] {
    ++calls;
    return std::make_shared<int>(42);
  };
  auto a = c.get_or_create<int>("scanner", make);
  auto b = c.get_or_create<int>("scanner", make);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*b, 42);
  c.get_or_create<int>("mime", make);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(c.built(), (std::vector<std::string>{"mime", "scanner"}));

  // Stages sharing a component through a policy table build it once.
  conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["av", "spam", "decode"]
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)");
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(comps.built(), (std::vector<std::string>{"mime", "scanner"}));
}

// ------------------------------------------------ whitelisting bank switch

const char* kWhitelistToml = R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["dkim-verify", "decode", "spam", "dkim-sign"]
add_header = ["X-Inbound: yes"]
[bank.trusted]
skip_stages = ["spam"]
add_header = ["X-Trusted: yes"]
[bank.tagged]
add_header = ["X-Tagged: 1"]
originating = true
[bank.unused]
stages = ["av"]
[[dkim_whitelist]]
match = ["example.com"]
banks = ["trusted", "tagged"]
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)";

TEST(PolicyTable, WithBanksOverlaysInOrderAndIsBuiltOnce) {
  conf::Config cfg = load(kWhitelistToml);
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  // A bank nobody uses builds nothing ("unused" names av).
  EXPECT_EQ(tf.made.count("av"), 0u) << "got av built for a bank nobody uses";
  auto made_before = tf.made;
  const Policy& base = t->select("default", std::nullopt);
  EXPECT_EQ(join(base.stage_names), "dkim-verify,decode,spam,dkim-sign");

  struct Case {
    std::vector<std::string> banks;
    std::string want_banks, want_stages, want_headers;
    bool want_originating;
  };
  const Case cases[] = {
      {{"trusted"}, "default+trusted", "dkim-verify,decode,dkim-sign", "X-Inbound: yes,X-Trusted: yes", false},
      {{"trusted", "tagged"}, "default+trusted+tagged", "dkim-verify,decode,dkim-sign",
       "X-Inbound: yes,X-Trusted: yes,X-Tagged: 1", true},
      {{"tagged"}, "default+tagged", "dkim-verify,decode,spam,dkim-sign", "X-Inbound: yes,X-Tagged: 1", true},
      // Repeats, the base's own bank and unknown names are skipped.
      {{"default", "trusted", "trusted", "nosuch"}, "default+trusted", "dkim-verify,decode,dkim-sign",
       "X-Inbound: yes,X-Trusted: yes", false},
  };
  for (const auto& c : cases) {
    const Policy& p = t->with_banks(base, c.banks);
    EXPECT_EQ(p.banks, c.want_banks) << join(c.banks);
    EXPECT_EQ(join(p.stage_names), c.want_stages) << join(c.banks);
    EXPECT_EQ(join(p.add_header), c.want_headers) << join(c.banks);
    EXPECT_EQ(p.originating, c.want_originating) << join(c.banks);
    std::vector<std::string> names;
    for (auto& st : p.pipeline->stages()) names.emplace_back(st->name());
    EXPECT_EQ(join(names), c.want_stages) << "pipeline of " << join(c.banks);
    EXPECT_EQ(&t->with_banks(base, c.banks), &p) << "got a second policy for " << join(c.banks);
  }
  EXPECT_EQ(tf.made, made_before) << "with_banks built a stage";
}

// The cache key keeps the names apart: bank lists whose names concatenate
// to the same string are three different policies.
TEST(PolicyTable, WithBanksKeepsNamesThatConcatenateAlikeApart) {
  conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["dkim-verify"]
[bank.ab]
add_header = ["X-Ab: 1"]
[bank.c]
add_header = ["X-C: 1"]
[bank.a]
add_header = ["X-A: 1"]
[bank.bc]
add_header = ["X-Bc: 1"]
[bank.abc]
add_header = ["X-Abc: 1"]
)");
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  const Policy& base = t->select("default", std::nullopt);
  const Policy& ab_c = t->with_banks(base, {"ab", "c"});
  const Policy& a_bc = t->with_banks(base, {"a", "bc"});
  const Policy& abc = t->with_banks(base, {"abc"});
  EXPECT_EQ(ab_c.banks, "default+ab+c");
  EXPECT_EQ(join(ab_c.add_header), "X-Ab: 1,X-C: 1");
  EXPECT_EQ(a_bc.banks, "default+a+bc");
  EXPECT_EQ(join(a_bc.add_header), "X-A: 1,X-Bc: 1");
  EXPECT_EQ(abc.banks, "default+abc");
  EXPECT_EQ(join(abc.add_header), "X-Abc: 1");
  EXPECT_EQ(&t->with_banks(base, {"a", "bc"}), &a_bc) << "the cache missed a repeated list";
}

TEST(PolicyTable, WhitelistBanksStagesAreBuiltAtLoad) {
  conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = ["dkim-verify"]
[bank.scan]
stages = ["dkim-verify", "av"]
[[dkim_whitelist]]
match = ["./@signer.example"]
banks = ["scan"]
[av]
scanners = [ { address = "unix:/nonexistent/clamd.ctl" } ]
)");
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(tf.made["av"], 1) << "a whitelist bank's stage must be built (and checked) at load";
  EXPECT_EQ(tf.made["dkim-verify"], 1) << "stages are shared between policies";
}

TEST(Pipeline, SplitRunCarriesAcceptIntoTheSealPhase) {
  std::vector<std::string> log;
  Pipeline p({std::make_shared<TestStage>("v", Phase::Verify, &log, Action::Accept),
              std::make_shared<TestStage>("i", Phase::Inspect, &log),
              std::make_shared<TestStage>("s", Phase::Seal, &log)});
  asio::io_context io;
  ClientInfo client;
  Envelope env;
  MessageStore store(1024, "/nonexistent", 1024);
  MessageContext ctx{"test", client, env, store};
  std::vector<StageRecord> records;
  std::optional<Verdict> accepted;
  Verdict first, second;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    first = co_await p.run(ctx, records, Phase::Verify, Phase::Verify, &accepted);
    second = co_await p.run(ctx, records, Phase::Inspect, Phase::Seal, &accepted);
  }, asio::detached);
  io.run();
  EXPECT_EQ(join(log), "v,s") << "Accept in Verify skips Inspect but not Seal";
  EXPECT_EQ(first.action, Action::Accept);
  EXPECT_EQ(second.action, Action::Accept);
}

TEST(HeaderEdits, OutputFieldsAndPassthroughOffset) {
  MessageStore store(1 << 20, "/nonexistent", 1 << 16);
  const std::string msg =
      "Authentication-Results: mx.example; dkim=pass\r\n"
      "From: a@example.com\r\n"
      "Authentication-Results: other.example; dkim=fail\r\n"
      "Subject: s\r\n"
      "\r\n"
      "body\r\n";
  ASSERT_TRUE(store.append(msg));
  ASSERT_TRUE(store.finish());
  HeaderEdits e;
  e.prepend = {"X-A: 1\r\n"};
  EXPECT_EQ(passthrough_offset(e, store.headers()), 0u) << "nothing removed: the bytes go as stored";
  e.remove = {0};
  auto f = output_fields(e, store.headers());
  std::string got;
  for (auto x : f) got += x;
  EXPECT_EQ(got,
            "X-A: 1\r\nFrom: a@example.com\r\nAuthentication-Results: other.example; dkim=fail\r\n"
            "Subject: s\r\n");
  auto off = passthrough_offset(e, store.headers());
  EXPECT_EQ(msg.substr(off), "\r\nbody\r\n") << "got offset " << off;
}

TEST(Destiny, WorstFindingDecidesUnderTheBanksDestinies) {
  conf::Config cfg = load(R"(
[[listener]]
address = "127.0.0.1:10024"
[bank.default]
stages = []
destiny = { spam = "discard" }
[bank.lenient]
destiny = { virus = "pass", spam = "tempfail" }
[[dkim_whitelist]]
match = ["example.com"]
banks = ["lenient"]
)");
  TestFactory tf;
  Components comps;
  auto t = PolicyTable::build(cfg, tf.factory, comps);
  ASSERT_TRUE(t) << t.error().message;
  const Policy& base = t->select("default", std::nullopt);
  const Policy& lenient = t->with_banks(base, {"lenient"});
  using C = conf::Category;
  struct Case {
    std::string what;
    std::vector<Finding> findings;
    const Policy* pol;
    Verdict in;
    Action want;
  };
  const Case cases[] = {
      {"no finding", {}, &base, {}, Action::Continue},
      {"virus, default destiny", {{C::Virus, "Eicar", "av"}}, &base, {}, Action::Discard},
      {"spam, bank destiny", {{C::Spam, "score 9", "spam"}}, &base, {}, Action::Discard},
      {"bad-header passes by default", {{C::BadHeader, "no Date", "x"}}, &base, {}, Action::Continue},
      {"worst wins: spam + virus", {{C::Spam, "s", "spam"}, {C::Virus, "v", "av"}}, &base, {}, Action::Discard},
      {"overlay: virus passes", {{C::Virus, "v", "av"}}, &lenient, {}, Action::Continue},
      {"overlay: spam tempfails", {{C::Spam, "s", "spam"}}, &lenient, {}, Action::TempFail},
      {"banned keeps the default", {{C::Banned, "x.exe", "decode"}}, &lenient, {}, Action::Discard},
      {"accept still gets its destiny", {{C::Virus, "v", "av"}}, &base, {Action::Accept, "ok"}, Action::Discard},
      {"a tempfail verdict stays", {{C::Virus, "v", "av"}}, &base, {Action::TempFail, "x"}, Action::TempFail},
  };
  for (const auto& c : cases) {
    ClientInfo client;
    Envelope env;
    MessageStore store(1024, "/nonexistent", 1024);
    MessageContext ctx{"t", client, env, store};
    ctx.findings = c.findings;
    auto v = apply_destiny(ctx, *c.pol, c.in);
    EXPECT_EQ(v.action, c.want) << c.what << ": got " << to_string(v.action);
    bool noted = false;
    for (auto& [k, val] : ctx.notes) noted |= k == "category";
    EXPECT_EQ(noted, !c.findings.empty() && (c.in.action == Action::Continue || c.in.action == Action::Accept))
        << c.what;
  }
}

TEST(Pipeline, ActionNames) {
  EXPECT_STREQ(to_string(Action::Continue), "continue");
  EXPECT_STREQ(to_string(Action::Accept), "accept");
  EXPECT_STREQ(to_string(Action::Reject), "reject");
  EXPECT_STREQ(to_string(Action::TempFail), "tempfail");
  EXPECT_STREQ(to_string(Action::Discard), "discard");
}

}  // namespace
}  // namespace sigil::filter

// The stage names a bank may list (conf::kStageNames, checked at load) are
// exactly the stages this build provides: a name in one list only would be
// a bank that loads and then cannot be built, or a stage no bank can name.
TEST(StageRegistry, ProvidesEveryConfiguredStageName) {
  const sigil::filter::StageFactory& f = sigil::filter::builtin_stages();
  EXPECT_EQ(f.size(), sigil::conf::kStageNames.size());
  for (auto name : sigil::conf::kStageNames) EXPECT_EQ(f.count(name), 1u) << name;
}
