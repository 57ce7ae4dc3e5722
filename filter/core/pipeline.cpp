// filter/core/pipeline.cpp — see pipeline.hpp.
#include "filter/core/pipeline.hpp"

#include <set>

#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"

#include <algorithm>
#include <optional>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sigil::filter {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

const char* to_string(Action a) noexcept {
  switch (a) {
    case Action::Continue: return "continue";
    case Action::Accept: return "accept";
    case Action::Reject: return "reject";
    case Action::TempFail: return "tempfail";
    case Action::Discard: return "discard";
  }
  return "?";
}

bool HeaderEdits::removed(std::size_t i) const {
  return std::find(remove.begin(), remove.end(), i) != remove.end();
}

std::vector<std::string_view> output_fields(const HeaderEdits& edits, const HeaderIndex& headers) {
  std::vector<std::string_view> out;
  out.reserve(edits.prepend.size() + headers.fields().size());
  for (const auto& f : edits.prepend) out.push_back(f);
  const auto& fs = headers.fields();
  for (std::size_t i = 0; i < fs.size(); ++i)
    if (edits.remove.empty() || !edits.removed(i)) out.push_back(headers.field(fs[i]));
  return out;
}

std::uint64_t passthrough_offset(const HeaderEdits& edits, const HeaderIndex& headers) {
  if (edits.remove.empty() || headers.fields().empty()) return 0;
  const auto& last = headers.fields().back();
  return std::uint64_t{last.offset} + last.length;
}

Pipeline::Pipeline(std::vector<std::shared_ptr<Stage>> stages) : stages_(std::move(stages)) {
  std::stable_sort(stages_.begin(), stages_.end(),
                   [](const auto& a, const auto& b) { return a->phase() < b->phase(); });
}

static Verdict on_error_verdict(const Stage& s, std::string why) {
  switch (s.on_error) {
    case OnError::Continue: return {Action::Continue, std::move(why)};
    case OnError::Reject: return {Action::Reject, std::move(why)};
    case OnError::TempFail: break;
  }
  return {Action::TempFail, std::move(why)};
}

// The stage's exception is caught inside the race against the deadline:
// operator|| waits for one *successful* operand, so an escaping exception
// would make the run wait for the timer and look like a timeout.
namespace {
struct Guarded {
  std::optional<Verdict> verdict;  // empty: the stage threw
  std::string error;
};
}  // namespace

// XXX: "co_return Guarded{co_await ...}" gave an ASan bad-free with GCC 12
// (coroutine temporaries in a braced initializer); keep the await a statement.
static asio::awaitable<Guarded> run_guarded(Stage& s, MessageContext& ctx) {
  Guarded g;
  try {
    Verdict v = co_await s.run(ctx);
    g.verdict = std::move(v);
  } catch (const std::exception& e) {
    g.error = e.what();
  } catch (...) {
    g.error = "unknown exception";
  }
  co_return g;
}

// A run's outcome for sigil_stage_outcomes_total: `outcome` as recorded,
// `v` the verdict, `found` whether the stage added a finding.
static metrics::StageOutcome metric_outcome(const std::string& outcome, const Verdict& v,
                                            bool found) {
  if (outcome == "timeout" || outcome == "budget") return metrics::StageOutcome::Timeout;
  if (outcome == "error" || v.action == Action::TempFail) return metrics::StageOutcome::Error;
  if (found || v.action == Action::Reject || v.action == Action::Discard)
    return metrics::StageOutcome::Finding;
  return metrics::StageOutcome::Pass;
}

asio::awaitable<Verdict> Pipeline::run(MessageContext& ctx, std::vector<StageRecord>& records,
                                       Phase first, Phase last,
                                       std::optional<Verdict>* carried) const {
  auto ex = co_await asio::this_coro::executor;
  // Accept ends the checks but not the Seal phase: an accepted message is
  // still delivered, so it must still be signed (dkim-sign runs last over
  // what is sent).  Every other verdict ends the run.
  std::optional<Verdict> own;
  std::optional<Verdict>& accepted = carried ? *carried : own;
  for (const auto& stage : stages_) {
    if (stage->phase() < first || stage->phase() > last) continue;
    if (accepted && stage->phase() != Phase::Seal) continue;
    if (std::find(ctx.bypassed.begin(), ctx.bypassed.end(), stage->name()) != ctx.bypassed.end()) {
      records.push_back({std::string(stage->name()), "bypassed", std::chrono::microseconds(0)});
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    const std::size_t findings = ctx.findings.size();
    Verdict v;
    std::string outcome;
    // The listener's budget cuts the stage's own deadline (a budget spent
    // counts as a timeout, and the stage's on_error decides).
    auto deadline = std::chrono::steady_clock::duration(stage->deadline);
    bool cut = false;
    if (ctx.budget_end) {
      auto left = *ctx.budget_end - t0;
      if (left < deadline) {
        deadline = std::max(left, std::chrono::steady_clock::duration::zero());
        cut = true;
      }
    }
    if (cut && deadline == std::chrono::steady_clock::duration::zero()) {
      // Nothing left: the stage does not start at all.
      v = on_error_verdict(*stage, std::string(stage->name()) + " ran out of the listener's budget");
      outcome = "budget";
    } else {
      try {
        asio::steady_timer timer(ex, deadline);
        auto r = co_await (run_guarded(*stage, ctx) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
        // A stage that returns after its deadline timed out too, even when
        // it won the race: one that held the event loop (the timer could not
        // fire), or one whose pool job noticed the deadline as the timer did.
        // The outcome does not depend on which of the two came first.
        const bool late = std::chrono::steady_clock::now() - t0 >= deadline;
        if (r.index() == 1 || late) {
          v = on_error_verdict(*stage, std::string(stage->name()) +
                                           (cut ? " ran out of the listener's budget" : " timed out"));
          outcome = cut ? "budget" : "timeout";
        } else if (auto& g = std::get<0>(r); g.verdict) {
          v = std::move(*g.verdict);
          outcome = to_string(v.action);
        } else {
          v = on_error_verdict(*stage, std::string(stage->name()) + " failed: " + g.error);
          outcome = "error";
        }
      } catch (const std::exception& e) {
        v = on_error_verdict(*stage, std::string(stage->name()) + " failed: " + e.what());
        outcome = "error";
      }
    }
    records.push_back({std::string(stage->name()), outcome,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - t0)});
    metrics::stage(stage->name(), metric_outcome(outcome, v, ctx.findings.size() > findings),
                   records.back().time);
    if (v.action == Action::Accept && !accepted && stage->phase() != Phase::Seal) {
      accepted = std::move(v);
      continue;
    }
    if (v.action != Action::Continue) co_return v;
  }
  co_return accepted ? *accepted : Verdict{};
}

std::vector<std::string> Components::built() const {
  std::vector<std::string> out;
  for (auto& [k, v] : items_) out.push_back(k);
  return out;
}

const Finding* worst_finding(const MessageContext& ctx) {
  const Finding* w = nullptr;
  for (const auto& f : ctx.findings)
    if (!w || f.category > w->category) w = &f;
  return w;
}

}  // namespace sigil::filter
