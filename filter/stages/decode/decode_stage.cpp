// filter/stages/decode/decode_stage.cpp — see decode_stage.hpp.
#include "filter/stages/decode/decode_stage.hpp"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "filter/core/metrics.hpp"
#include "filter/core/policy.hpp"
#include "filter/net/thread_pool.hpp"
#include "filter/stages/decode/display.hpp"
#include "filter/stages/decode/header_checks.hpp"
#include "filter/stages/decode/walker.hpp"

namespace sigil::filter {

namespace {

constexpr std::size_t kNamesShown = 20;

// decode="N parts; names: a.pdf, invoice.zip/x.exe[, ... (M names)][; incomplete]".
std::string make_note(const DecodeResult& r) {
  std::string s = std::to_string(r.parts.size()) + (r.parts.size() == 1 ? " part" : " parts");
  std::vector<std::string> names;
  for (const auto& p : r.parts)
    if (!p.name.empty()) names.push_back(p.path.size() > 1 ? decode::display(p.path) : decode::shown(p.name));
  if (!names.empty()) {
    s += "; names: " + decode::join(names, kNamesShown, ", ");
    if (names.size() > kNamesShown) s += ", ... (" + std::to_string(names.size()) + " names)";
  }
  if (!r.complete) s += "; incomplete";
  return s;
}

struct DecodePoolTag;

struct DecodeJob {
  const MessageStore* message;
  const Envelope* envelope;
  const conf::DecodeConfig* cfg;
  const BannedRules* banned;
  std::chrono::steady_clock::time_point stop_at;
};

// Runs on the decode pool.  What it points to lives on: the pipeline waits
// for the stage even past its deadline (operator|| waits for both sides),
// and the walk stops itself at stop_at.
boost::asio::awaitable<DecodeResult> decode_on_pool(DecodeJob j) {
  metrics::pool_started(metrics::Pool::Decode);
  co_return decode_message(*j.message, *j.envelope, *j.cfg, j.banned, j.stop_at);
}

}  // namespace

DecodeResult decode_message(const MessageStore& message, const Envelope& envelope,
                            const conf::DecodeConfig& cfg, const BannedRules* banned,
                            std::optional<std::chrono::steady_clock::time_point> stop_at) {
  DecodeResult out;
  decode::header_checks(message, envelope, out);
  decode::walk_message(message, cfg, stop_at, out);
  if (banned) decode::check_banned(out, *banned);
  out.note = make_note(out);
  return out;
}

DecodeStage::DecodeStage(conf::DecodeConfig cfg, BannedSets sets)
    : cfg_(std::move(cfg)), sets_(std::move(sets)) {
  threads_ = cfg_.threads.value_or(std::max(1u, std::thread::hardware_concurrency()));
  deadline = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.timeout);
}

boost::asio::awaitable<Verdict> DecodeStage::run(MessageContext& ctx) {
  const BannedRules* rules = nullptr;
  std::string_view set = ctx.policy ? std::string_view(ctx.policy->banned_rules) : "default";
  if (set != "none") {
    auto it = sets_.find(set);
    if (it == sets_.end()) it = sets_.find("default");  // the loader refuses unknown names
    if (it != sets_.end()) rules = it->second.get();
  }
  auto stop_at = std::chrono::steady_clock::now() + deadline;
  if (ctx.budget_end && *ctx.budget_end < stop_at) stop_at = *ctx.budget_end;
  DecodeResult r;
  if (threads_ > 0) {
    DecodeJob job{&ctx.message, &ctx.envelope, &cfg_, rules, stop_at};
    metrics::pool_queued(metrics::Pool::Decode);
    r = co_await boost::asio::co_spawn(process_pool<DecodePoolTag>(threads_)->get_executor(), decode_on_pool(job),
                                       boost::asio::use_awaitable);
  } else {
    r = decode_message(ctx.message, ctx.envelope, cfg_, rules, stop_at);
  }
  for (auto& f : r.findings) ctx.findings.push_back(std::move(f));
  ctx.notes.emplace_back("decode", r.note);
  co_return Verdict{};
}

}  // namespace sigil::filter
