// filter/core/metrics.cpp — the registry, its families and the label
// children the recording calls use (see metrics.hpp).
//
// Does not: serve HTTP, or remove a label child (a listener or bank that a
// reload dropped keeps its last values until restart, as counters should).
#include "filter/core/metrics.hpp"

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace sigil::filter::metrics {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// SummaryAction's values, in order (log.hpp); one counter child each.
constexpr std::array kActions = {
    log::SummaryAction::Relayed,  log::SummaryAction::Partial,
    log::SummaryAction::Hold,     log::SummaryAction::Discard,
    log::SummaryAction::Reject,   log::SummaryAction::TempFail,
    log::SummaryAction::TempFailPartial, log::SummaryAction::Refused,
    log::SummaryAction::Aborted,  log::SummaryAction::TimeoutInData};
using ActionCounters = std::array<Counter*, kActions.size()>;

std::size_t action_index(log::SummaryAction a) noexcept {
  for (std::size_t i = 0; i < kActions.size(); ++i)
    if (kActions[i] == a) return i;
  return 0;
}

// One stage's children: a counter per StageOutcome (in its order) and the histogram.
struct StageChildren {
  std::array<Counter*, 4> outcomes{};
  Histogram* seconds = nullptr;
};
constexpr std::array<const char*, 4> kStageOutcomes = {"pass", "finding", "timeout", "error"};

// From 0.5 ms (a header check) to 30 s (the default stage deadline).
const Histogram::BucketBoundaries& stage_buckets() {
  static const Histogram::BucketBoundaries b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                5,      10,    30};
  return b;
}

// The Authentication-Results words of DKIM (RFC 8601 §2.7.1), in dkim::AuthResult's order.
constexpr std::array<std::string_view, 7> kVerifyResults = {
    "none", "pass", "fail", "policy", "neutral", "temperror", "permerror"};

// Counters of a family with one label, made the first time a value is seen
// (then found by a short linear search: a few banks).
class Named {
 public:
  Counter& get(Family<Counter>& family, const char* label, const std::string& value) {
    std::lock_guard lock(mu_);
    for (auto& [v, c] : children_)
      if (v == value) return *c;
    Counter* c = &family.Add({{label, value}});
    children_.emplace_back(value, c);
    return *c;
  }

 private:
  std::mutex mu_;
  std::deque<std::pair<std::string, Counter*>> children_;
};

struct State {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  // A family of one unlabelled series.
  Counter& counter(const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  }
  Gauge& gauge(const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry).Add({});
  }
  // A family labelled scanner="clamd"|"spamd"|"rspamd", in Scanner's order.
  std::array<Counter*, 3> scanner_counters(const char* name, const char* help) {
    auto& f = prometheus::BuildCounter().Name(name).Help(help).Register(*registry);
    return {&f.Add({{"scanner", "clamd"}}), &f.Add({{"scanner", "spamd"}}),
            &f.Add({{"scanner", "rspamd"}})};
  }
  Family<Counter>& messages =
      prometheus::BuildCounter()
          .Name("sigil_messages_total")
          .Help("Messages by listener, policy bank and summary action")
          .Register(*registry);
  Family<Counter>& bytes = prometheus::BuildCounter()
                               .Name("sigil_received_bytes_total")
                               .Help("Bytes of the messages received, by listener")
                               .Register(*registry);
  Family<Counter>& reloads = prometheus::BuildCounter()
                                 .Name("sigil_config_reloads_total")
                                 .Help("SIGHUP configuration reloads by result")
                                 .Register(*registry);
  Counter& reload_ok = reloads.Add({{"result", "success"}});
  Counter& reload_failed = reloads.Add({{"result", "failure"}});
  Family<Gauge>& sessions = prometheus::BuildGauge()
                                .Name("sigil_sessions_open")
                                .Help("Front connections open, by listener")
                                .Register(*registry);
  Family<Counter>& refusals_family =
      prometheus::BuildCounter()
          .Name("sigil_session_refusals_total")
          .Help("Connections refused at accept, by reason")
          .Register(*registry);
  // In Refusal's order.
  std::array<Counter*, 3> refusals = {&refusals_family.Add({{"reason", "max_sessions"}}),
                                      &refusals_family.Add({{"reason", "max_sessions_per_client"}}),
                                      &refusals_family.Add({{"reason", "milter_hosts"}})};
  Family<Counter>& stage_outcomes = prometheus::BuildCounter()
                                        .Name("sigil_stage_outcomes_total")
                                        .Help("Stage runs by stage and outcome")
                                        .Register(*registry);
  Family<Histogram>& stage_seconds = prometheus::BuildHistogram()
                                         .Name("sigil_stage_duration_seconds")
                                         .Help("Time a stage took, by stage")
                                         .Register(*registry);
  std::mutex stages_mu;  // guards `stages`
  std::deque<std::pair<std::string, StageChildren>> stages;  // stable addresses
  Family<Counter>& signatures = prometheus::BuildCounter()
                                    .Name("sigil_dkim_signatures_total")
                                    .Help("DKIM signatures made, by key and algorithm")
                                    .Register(*registry);
  std::mutex signatures_mu;  // guards `signers`
  std::deque<std::pair<std::string, Counter*>> signers;  // "key\0algorithm"
  Family<Counter>& verify_family =
      prometheus::BuildCounter()
          .Name("sigil_dkim_verify_results_total")
          .Help("DKIM signatures verified, by result (none: a message without one)")
          .Register(*registry);
  std::array<Counter*, kVerifyResults.size()> verify = [this] {
    std::array<Counter*, kVerifyResults.size()> a{};
    for (std::size_t i = 0; i < a.size(); ++i)
      a[i] = &verify_family.Add({{"result", std::string(kVerifyResults[i])}});
    return a;
  }();
  Family<Counter>& whitelist_hits =
      prometheus::BuildCounter()
          .Name("sigil_dkim_whitelist_hits_total")
          .Help("Policy banks loaded by dkim-verify's whitelist, by bank")
          .Register(*registry);
  Named whitelist_banks;
  // In Dns's order; the last two drive the gauge.
  std::array<Counter*, 4> dns = {
      &counter("sigil_dns_queries_total", "DNS query packets sent (UDP, and TCP after TC=1)"),
      &counter("sigil_dns_cache_hits_total", "DNS lookups answered from the cache"),
      &counter("sigil_dns_timeouts_total", "DNS query attempts that got no answer in time"),
      &counter("sigil_dns_servfails_total", "DNS query attempts answered SERVFAIL")};
  Gauge& dns_in_flight = gauge("sigil_dns_queries_in_flight", "DNS lookups waiting for a server");
  Family<Counter>& backend_replies_family =
      prometheus::BuildCounter()
          .Name("sigil_backend_replies_total")
          .Help("Back-end replies that decided a message or recipient, by class")
          .Register(*registry);
  std::array<Counter*, 3> backend_replies = {&backend_replies_family.Add({{"class", "2xx"}}),
                                             &backend_replies_family.Add({{"class", "4xx"}}),
                                             &backend_replies_family.Add({{"class", "5xx"}})};
  Counter& backend_connect_failures =
      counter("sigil_backend_connect_failures_total",
              "Back-end connections that failed (connect, greeting or EHLO)");
  Gauge& backend_idle = gauge("sigil_backend_idle_connections",
                              "Back-end connections kept open for reuse");
  Family<Counter>& dsns_family = prometheus::BuildCounter()
                                     .Name("sigil_dsns_total")
                                     .Help("DSNs handed to the back-end, by its answer")
                                     .Register(*registry);
  // In DsnResult's order.
  std::array<Counter*, 3> dsns = {&dsns_family.Add({{"result", "sent"}}),
                                  &dsns_family.Add({{"result", "tempfail"}}),
                                  &dsns_family.Add({{"result", "refused"}})};
  Family<Counter>& suppressed_family =
      prometheus::BuildCounter()
          .Name("sigil_dsn_suppressed_recipients_total")
          .Help("Recipients a backscatter guard kept out of a DSN, by reason")
          .Register(*registry);
  // In DsnSuppressed's order.
  std::array<Counter*, 6> suppressed = {&suppressed_family.Add({{"reason", "null_sender"}}),
                                        &suppressed_family.Add({{"reason", "virus"}}),
                                        &suppressed_family.Add({{"reason", "spam"}}),
                                        &suppressed_family.Add({{"reason", "precedence"}}),
                                        &suppressed_family.Add({{"reason", "list_id"}}),
                                        &suppressed_family.Add({{"reason", "notify"}})};
  Gauge& spool = gauge("sigil_spool_bytes", "Bytes in the spool files of the messages open");
  Family<Gauge>& pool_family = prometheus::BuildGauge()
                                   .Name("sigil_pool_queued_jobs")
                                   .Help("Jobs waiting for a thread of a pool, by pool")
                                   .Register(*registry);
  // In Pool's order.
  std::array<Gauge*, 2> pools = {&pool_family.Add({{"pool", "crypto"}}),
                                 &pool_family.Add({{"pool", "decode"}})};
  // [ScanEvent][Scanner].
  std::array<std::array<Counter*, 3>, 3> scanners = {
      scanner_counters("sigil_scanner_calls_total", "Requests to a content scanner"),
      scanner_counters("sigil_scanner_failures_total",
                       "Scanner requests that failed (connection, timeout, protocol)"),
      scanner_counters("sigil_scanner_failovers_total",
                       "Scanner failures after which the next scanner was asked")};
  Gauge& last_reload =
      prometheus::BuildGauge()
          .Name("sigil_config_last_reload_timestamp_seconds")
          .Help("Unix time the running configuration was loaded (start or last good reload)")
          .Register(*registry)
          .Add({});
  std::mutex mu;  // guards `listeners`
  std::map<std::string, std::unique_ptr<Listener>> listeners;
};

std::atomic<State*> g_state{nullptr};

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

class Listener {
 public:
  Listener(State& s, std::string name)
      : state_(s),
        name_(std::move(name)),
        bytes_(s.bytes.Add({{"listener", name_}})),
        sessions_(s.sessions.Add({{"listener", name_}})) {}

  Gauge& sessions() { return sessions_; }

  void message(const std::string& bank, log::SummaryAction a, std::uint64_t n) {
    counters(bank)[action_index(a)]->Increment();
    bytes_.Increment(static_cast<double>(n));
  }

 private:
  // The bank's counters, made the first time the bank is seen here.
  const ActionCounters& counters(const std::string& bank) {
    std::lock_guard lock(mu_);
    for (auto& [b, cs] : banks_)
      if (b == bank) return cs;
    ActionCounters cs{};
    for (std::size_t i = 0; i < kActions.size(); ++i)
      cs[i] = &state_.messages.Add({{"listener", name_},
                                    {"bank", bank},
                                    {"action", std::string(log::to_string(kActions[i]))}});
    return banks_.emplace_back(bank, cs).second;
  }

  State& state_;
  std::string name_;
  Counter& bytes_;
  Gauge& sessions_;
  std::mutex mu_;  // guards banks_ (a few banks: a linear search)
  std::deque<std::pair<std::string, ActionCounters>> banks_;  // stable addresses
};

std::shared_ptr<prometheus::Registry> enable() {
  static State* const state = [] {
    auto* s = new State;  // never freed: the exposer's thread may scrape until exit
    s->last_reload.Set(unix_seconds(std::chrono::system_clock::now()));
    g_state.store(s, std::memory_order_release);
    return s;
  }();
  return state->registry;
}

bool enabled() noexcept { return g_state.load(std::memory_order_acquire) != nullptr; }

std::string text() {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return {};
  return prometheus::TextSerializer().Serialize(s->registry->Collect());
}

Listener* listener(const std::string& name) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return nullptr;
  std::lock_guard lock(s->mu);
  auto& l = s->listeners[name];
  if (!l) l = std::make_unique<Listener>(*s, name);
  return l.get();
}

void message(Listener* l, const std::string& bank, log::SummaryAction action,
             std::uint64_t bytes) {
  if (l) l->message(bank, action, bytes);
}

void session_opened(Listener* l) {
  if (l) l->sessions().Increment();
}

void session_closed(Listener* l) {
  if (l) l->sessions().Decrement();
}

void session_refused(Refusal r) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->refusals[static_cast<std::size_t>(r)]->Increment();
}

void stage(std::string_view name, StageOutcome outcome, std::chrono::microseconds time) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  StageChildren* c = nullptr;
  {
    std::lock_guard lock(s->stages_mu);
    for (auto& [n, cs] : s->stages)
      if (n == name) c = &cs;
    if (!c) {
      StageChildren cs;
      std::string n(name);
      for (std::size_t i = 0; i < kStageOutcomes.size(); ++i)
        cs.outcomes[i] = &s->stage_outcomes.Add({{"stage", n}, {"outcome", kStageOutcomes[i]}});
      cs.seconds = &s->stage_seconds.Add({{"stage", n}}, stage_buckets());
      c = &s->stages.emplace_back(std::move(n), cs).second;
    }
  }
  c->outcomes[static_cast<std::size_t>(outcome)]->Increment();
  c->seconds->Observe(std::chrono::duration<double>(time).count());
}

void dkim_signature(const std::string& key, const char* algorithm) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  std::string id = key + '\0' + algorithm;
  Counter* c = nullptr;
  {
    std::lock_guard lock(s->signatures_mu);
    for (auto& [k, counter] : s->signers)
      if (k == id) c = counter;
    if (!c) {
      c = &s->signatures.Add({{"key", key}, {"algorithm", algorithm}});
      s->signers.emplace_back(std::move(id), c);
    }
  }
  c->Increment();
}

void dkim_verify(const char* result) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  for (std::size_t i = 0; i < kVerifyResults.size(); ++i)
    if (kVerifyResults[i] == result) return s->verify[i]->Increment();
}

void dkim_whitelist_hit(const std::string& bank) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->whitelist_banks.get(s->whitelist_hits, "bank", bank).Increment();
}

void dns(Dns event) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  if (event == Dns::Started) return s->dns_in_flight.Increment();
  if (event == Dns::Finished) return s->dns_in_flight.Decrement();
  s->dns[static_cast<std::size_t>(event)]->Increment();
}

void backend_reply(int code) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  int c = code / 100;
  if (c == 2) s->backend_replies[0]->Increment();
  else if (c == 4) s->backend_replies[1]->Increment();
  else if (c == 5) s->backend_replies[2]->Increment();
}

void backend_connect_failure() {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->backend_connect_failures.Increment();
}

void backend_idle(int delta) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->backend_idle.Increment(delta);
}

void dsn(DsnResult result) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->dsns[static_cast<std::size_t>(result)]->Increment();
}

void dsn_suppressed(DsnSuppressed reason) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->suppressed[static_cast<std::size_t>(reason)]->Increment();
}

void spool_bytes(std::int64_t delta) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->spool.Increment(static_cast<double>(delta));
}

void pool_queued(Pool p) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->pools[static_cast<std::size_t>(p)]->Increment();
}

void pool_started(Pool p) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->pools[static_cast<std::size_t>(p)]->Decrement();
}

void scanner(Scanner sc, ScanEvent e) {
  State* s = g_state.load(std::memory_order_acquire);
  if (s) s->scanners[static_cast<std::size_t>(e)][static_cast<std::size_t>(sc)]->Increment();
}

void config_reload(bool ok, std::chrono::system_clock::time_point when) {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return;
  (ok ? s->reload_ok : s->reload_failed).Increment();
  if (ok) s->last_reload.Set(unix_seconds(when));
}

// ------------------------------------------------------------- DKIM keys

namespace {

// Made the first time the key watch records something (metrics on).
struct KeyMetrics {
  explicit KeyMetrics(prometheus::Registry& r)
      : switches(prometheus::BuildCounter()
                     .Name("sigil_dkim_key_switches_total")
                     .Help("DKIM key switches: a key's signatures now made by its successor "
                           "(or by itself again), by the key signing rules name")
                     .Register(r)),
        ages(prometheus::BuildGauge()
                 .Name("sigil_dkim_key_age_seconds")
                 .Help("Age of each DKIM key file (from its modification time)")
                 .Register(r)),
        unpublished(prometheus::BuildGauge()
                        .Name("sigil_dkim_keys_unpublished")
                        .Help("Successor DKIM keys whose DNS record is not published or "
                              "does not match the key")
                        .Register(r)
                        .Add({})) {}
  Family<Counter>& switches;
  Family<Gauge>& ages;
  Gauge& unpublished;
  std::mutex mu;  // guards the maps
  std::map<std::string, Counter*> switch_children;
  std::map<std::string, Gauge*> age_children;
};

KeyMetrics* key_metrics() {
  State* s = g_state.load(std::memory_order_acquire);
  if (!s) return nullptr;
  static KeyMetrics* const k = new KeyMetrics(*s->registry);  // never freed, like State
  return k;
}

}  // namespace

void dkim_key_switch(const std::string& key) {
  KeyMetrics* k = key_metrics();
  if (!k) return;
  std::lock_guard lock(k->mu);
  auto& c = k->switch_children[key];
  if (!c) c = &k->switches.Add({{"key", key}});
  c->Increment();
}

void dkim_key_ages(const std::vector<std::pair<std::string, double>>& ages) {
  KeyMetrics* k = key_metrics();
  if (!k) return;
  std::lock_guard lock(k->mu);
  std::map<std::string, Gauge*> kept;
  for (const auto& [key, seconds] : ages) {
    auto it = k->age_children.find(key);
    Gauge* g = it != k->age_children.end() ? it->second : &k->ages.Add({{"key", key}});
    if (it != k->age_children.end()) k->age_children.erase(it);
    g->Set(seconds);
    kept.emplace(key, g);
  }
  for (auto& [key, g] : k->age_children) k->ages.Remove(g);
  k->age_children = std::move(kept);
}

void dkim_keys_unpublished(std::size_t n) {
  if (KeyMetrics* k = key_metrics()) k->unpublished.Set(static_cast<double>(n));
}

}  // namespace sigil::filter::metrics
