// filter/pipeline.cpp — see pipeline.hpp.
#include "filter/pipeline.hpp"

#include <set>
#include <stdexcept>
#include <thread>

#include "dns/resolver.hpp"
#include "filter/av_stage.hpp"
#include "filter/decode_stage.hpp"
#include "filter/dkim_sign_stage.hpp"
#include "filter/dkim_verify_stage.hpp"
#include "filter/log.hpp"
#include "filter/spam_stage.hpp"

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

const StageFactory& builtin_stages() {
  static const StageFactory f = {
      // Sockets come from the executor the stage runs on (this_coro), so
      // the av stage needs nothing from Components and builds no client
      // until a message is scanned.
      {"av",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         if (cfg.av.scanners.empty())
           throw std::runtime_error("the av stage needs [av] scanners");
         return std::make_shared<AvStage>(cfg.av);
       }},
      {"decode",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         // Every banned rule set is compiled here, once (the policy picks
         // one per message); temp_dir defaults to the spool directory.
         conf::DecodeConfig d = cfg.decode;
         if (d.temp_dir.empty()) d.temp_dir = cfg.daemon.spool_dir;
         return std::make_shared<DecodeStage>(std::move(d), compile_banned(cfg.banned));
       }},
      {"dkim-sign",
       [](const conf::Config& cfg, Components& c) -> std::shared_ptr<Stage> {
         std::shared_ptr<const keys::SigningTable> table;
         if (c.load_keys) {
           // Components holds shared_ptr<void>; the table stays immutable.
           table = c.get_or_create<keys::SigningTable>(
               "signing-table", [&]() -> std::shared_ptr<keys::SigningTable> {
                 auto t = keys::SigningTable::load(cfg);
                 if (!t) throw std::runtime_error(t.error().message);
                 return std::const_pointer_cast<keys::SigningTable>(*t);
               });
           for (const auto& w : table->warnings()) log::main().warn("dkim-sign: {}", w);
         }
         std::size_t threads = cfg.daemon.crypto_threads.value_or(
             std::max(1u, std::thread::hardware_concurrency()));
         return std::make_shared<DkimSignStage>(std::move(table), threads);
       }},
      {"dkim-verify",
       [](const conf::Config& cfg, Components& c) -> std::shared_ptr<Stage> {
         auto lib = c.get_or_create<dkim::VerifierLib>(
             "dkim-verifier", [&]() -> std::shared_ptr<dkim::VerifierLib> {
               dkim::VerifyOptions o;
               o.max_signatures = cfg.verify.max_signatures;
               o.min_key_bits = cfg.verify.min_key_bits;
               o.accept_partial_body = cfg.verify.accept_partial_body;
               o.clock_drift = cfg.verify.clock_drift;
               auto l = dkim::VerifierLib::create(o);
               if (!l) throw std::runtime_error(l.error().message);
               return std::const_pointer_cast<dkim::VerifierLib>(*l);
             });
         std::shared_ptr<dns::Resolver> resolver;
         if (c.executor)
           resolver = c.get_or_create<dns::Resolver>("resolver", [&] {
             return std::make_shared<dns::Resolver>(*c.executor, cfg.dns);
           });
         return std::make_shared<DkimVerifyStage>(std::move(lib), std::move(resolver), cfg.verify,
                                                  cfg.whitelist);
       }},
      // Like av: sockets come from the executor the stage runs on, so
      // nothing is built until a message is scanned.
      {"spam",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         if (cfg.spam.scanners.empty())
           throw std::runtime_error("the spam stage needs [spam] scanners");
         return std::make_shared<SpamStage>(cfg.spam);
       }},
  };
  return f;
}

const Finding* worst_finding(const MessageContext& ctx) {
  const Finding* w = nullptr;
  for (const auto& f : ctx.findings)
    if (!w || f.category > w->category) w = &f;
  return w;
}

conf::Destiny Policy::destiny_for(conf::Category c) const {
  auto it = destiny.find(c);
  return it != destiny.end() ? it->second : conf::default_destiny(c);
}

Verdict apply_destiny(MessageContext& ctx, const Policy& pol, Verdict v) {
  const Finding* w = worst_finding(ctx);
  if (!w) return v;
  return apply_destiny(ctx, w, pol.destiny_for(w->category), std::move(v));
}

Verdict apply_destiny(MessageContext& ctx, const Finding* w, conf::Destiny d, Verdict v) {
  if (!w || (v.action != Action::Continue && v.action != Action::Accept)) return v;
  ctx.notes.emplace_back("category", std::string(conf::to_string(w->category)) + " (" + w->stage +
                                         ": " + w->reason + ") destiny=" + conf::to_string(d));
  std::string why = std::string(conf::to_string(w->category)) + ": " + w->reason;
  switch (d) {
    case conf::Destiny::Pass: break;
    case conf::Destiny::Discard: return {Action::Discard, why};
    case conf::Destiny::Reject: return {Action::Reject, why};
    case conf::Destiny::TempFail: return {Action::TempFail, why};
    // The session sends the DSN (filter/dsn.hpp), then answers as for a discard.
    case conf::Destiny::Bounce: return {Action::Discard, why};
  }
  return v;
}

static void overlay(Policy& p, const conf::BankConfig& b) {
  for (const auto& [c, d] : b.destiny) p.destiny[c] = d;
  if (b.stages) p.stage_names = *b.stages;
  if (b.skip_stages)
    std::erase_if(p.stage_names, [&](const std::string& s) {
      return std::find(b.skip_stages->begin(), b.skip_stages->end(), s) != b.skip_stages->end();
    });
  if (b.originating) p.originating = *b.originating;
  if (b.quarantine) p.quarantine = *b.quarantine;
  if (b.banned_rules) p.banned_rules = *b.banned_rules;
  if (b.spam.tag_level) p.spam.tag_level = *b.spam.tag_level;
  if (b.spam.tag2_level) p.spam.tag2_level = *b.spam.tag2_level;
  if (b.spam.kill_level) p.spam.kill_level = *b.spam.kill_level;
  if (b.spam.subject_tag) p.spam.subject_tag = *b.spam.subject_tag;
  if (b.spam.score_offset) p.spam.score_offset = *b.spam.score_offset;
  p.add_header.insert(p.add_header.end(), b.add_header.begin(), b.add_header.end());
  p.banks = p.banks.empty() ? b.name : p.banks + "+" + b.name;
}

Result<PolicyTable> PolicyTable::build(const conf::Config& cfg, const StageFactory& factory,
                                       Components& components) {
  for (auto& [name, bank] : cfg.banks) {
    if (!bank.stages) continue;
    for (auto& s : *bank.stages)
      if (factory.find(s) == factory.end())
        return make_error(ErrorKind::Config,
                          cfg.source + ": bank." + name + ".stages: stage '" + s +
                              "' is not available in this build yet");
  }
  PolicyTable t;
  t.networks_ = cfg.networks;
  t.banks_ = cfg.banks;
  // Every stage a bank in use names is built here, once, and shared by the
  // policies that list it (banks loaded by whitelisting included, so a
  // later switch builds nothing).  Banks nobody uses build nothing.
  std::set<std::string> used;
  for (auto& l : cfg.listeners) used.insert(l.bank);
  for (auto& n : cfg.networks) used.insert(n.bank);
  for (auto& w : cfg.whitelist) used.insert(w.banks.begin(), w.banks.end());
  try {
    for (auto& b : used) {
      auto it = cfg.banks.find(b);
      if (it == cfg.banks.end() || !it->second.stages) continue;
      for (auto& s : *it->second.stages) {
        auto& slot = t.stages_[s];
        if (!slot) slot = factory.find(s)->second(cfg, components);  // may throw
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Config, cfg.source + ": " + e.what());
  }
  auto pipeline_for = [&t](const std::vector<std::string>& names) {
    std::vector<std::shared_ptr<Stage>> stages;
    for (auto& s : names) {
      auto it = t.stages_.find(s);
      if (it != t.stages_.end()) stages.push_back(it->second);
    }
    return std::make_shared<const Pipeline>(std::move(stages));
  };
  auto make_policy = [&](const std::string& lb, const std::string& nb) {
    Policy p;
    overlay(p, cfg.banks.at(lb));
    if (!nb.empty() && nb != lb) overlay(p, cfg.banks.at(nb));
    p.pipeline = pipeline_for(p.stage_names);
    p.key = lb + '\0' + nb;
    t.policies_[p.key] = std::move(p);
  };
  for (auto& l : cfg.listeners) {
    if (t.policies_.count(l.bank + '\0')) continue;
    make_policy(l.bank, "");
    for (auto& n : cfg.networks) make_policy(l.bank, n.bank);
  }
  return t;
}

const Policy& PolicyTable::with_banks(const Policy& base, const std::vector<std::string>& banks) {
  std::string key = base.key;
  for (auto& b : banks) key += "\0+" + b;
  if (auto it = overlays_.find(key); it != overlays_.end()) return it->second;
  Policy p = base;
  std::vector<std::string> in_base;
  for (std::size_t pos = 0; pos <= base.banks.size();) {
    auto plus = base.banks.find('+', pos);
    if (plus == std::string::npos) plus = base.banks.size();
    in_base.push_back(base.banks.substr(pos, plus - pos));
    pos = plus + 1;
  }
  for (auto& b : banks) {
    if (std::find(in_base.begin(), in_base.end(), b) != in_base.end()) continue;
    auto it = banks_.find(b);
    if (it == banks_.end()) continue;
    overlay(p, it->second);
    in_base.push_back(b);
  }
  std::vector<std::shared_ptr<Stage>> stages;
  for (auto& s : p.stage_names)
    if (auto it = stages_.find(s); it != stages_.end()) stages.push_back(it->second);
  p.pipeline = std::make_shared<const Pipeline>(std::move(stages));
  p.key = key;
  return overlays_.emplace(key, std::move(p)).first->second;
}

const Policy& PolicyTable::select(const std::string& listener_bank,
                                  const std::optional<std::array<std::uint8_t, 16>>& ip) const {
  if (ip) {
    for (auto& n : networks_) {
      for (auto& c : n.cidrs) {
        if (c.contains(*ip)) {
          auto it = policies_.find(listener_bank + '\0' + n.bank);
          if (it != policies_.end()) return it->second;
        }
      }
    }
  }
  return policies_.at(listener_bank + '\0');
}

}  // namespace sigil::filter
