// filter/pipeline.hpp — stages, verdicts, policy banks and the pipeline.
//
// A Stage runs in one of four phases, always in the order
// Verify → Inspect → Modify → Seal (DESIGN.md §2).  Each returns a Verdict;
// the first verdict other than Continue ends the run, except Accept, which
// skips the remaining checks but still runs the Seal phase (an accepted
// message is delivered, so it is still signed).  Every stage has a
// deadline; on timeout or an internal error its `on_error` decides.
// Stages never rewrite raw bytes: they record HeaderEdits, applied on output.
//
// Policy banks (DESIGN.md §3) are overlays.  The effective Policy of a
// transaction is: built-in defaults, then the listener's bank, then the bank
// of the first [[network]] rule matching the client IP (from XFORWARD ADDR or
// the socket).  Pipelines are built once per distinct policy at load/reload;
// a stage that is not listed in a policy is never constructed, and heavy
// shared objects (resolver, scanner clients, MIME parser) are built only on
// request through Components, so a signing-only bank builds none of them.
//
// Does not: talk SMTP or forward anything (session.cpp, backend.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "conf/config.hpp"
#include "filter/envelope.hpp"
#include "filter/message_store.hpp"

namespace sigil::filter {

enum class Phase { Verify = 0, Inspect = 1, Modify = 2, Seal = 3 };
enum class Action { Continue, Accept, Reject, TempFail, Discard };
enum class OnError { TempFail, Continue, Reject };

const char* to_string(Action a) noexcept;

struct Verdict {
  Action action = Action::Continue;
  std::string reason;  // for logs and the reply text
};

// What a checking stage found (issue 5): the message's worst finding picks
// the destiny of the policy (conf::Category, conf::Destiny).
struct Finding {
  conf::Category category = conf::Category::Clean;
  std::string reason;  // "Eicar-Test-Signature", "banned name foo.exe", ...
  std::string stage;   // who found it
};

// Header edits recorded by stages and applied when the message is sent on.
struct HeaderEdits {
  std::vector<std::string> prepend;  // complete fields, each ending in CRLF, in order
  // Indices into the message's HeaderIndex::fields() that are not sent on
  // (e.g. a forged Authentication-Results claiming our authserv-id).
  std::vector<std::size_t> remove;
  bool removed(std::size_t i) const;
};

// The header fields as they will be sent: the prepended ones, then the
// message's own minus the removed ones.  Views into `edits` and `headers`.
std::vector<std::string_view> output_fields(const HeaderEdits& edits, const HeaderIndex& headers);
// The message offset from which the stored bytes are sent unchanged: 0 when
// no field is removed, else the end of the last header field (so the header
// section is written field by field, then the separator and the body).
std::uint64_t passthrough_offset(const HeaderEdits& edits, const HeaderIndex& headers);

struct Policy;
struct SpamResult;  // filter/spam_stage.hpp

// Not an aggregate on purpose: built from the four facts every message has,
// the rest starts empty (adding a member never touches the callers).
struct MessageContext {
  MessageContext(std::string id, const ClientInfo& c, const Envelope& e, const MessageStore& m)
      : log_id(std::move(id)), client(c), envelope(e), message(m) {}
  std::string log_id;
  const ClientInfo& client;
  const Envelope& envelope;
  const MessageStore& message;
  HeaderEdits edits;
  bool originating = false;  // the policy's (listener/network bank) setting
  // Banks a Verify-phase stage asks to load on top of the policy (DKIM
  // whitelisting); the session switches to that policy after the Verify phase.
  std::vector<std::string> load_banks;
  // key=value facts for the summary line ("dkim" → "signed ..."), in order.
  std::vector<std::pair<std::string, std::string>> notes;
  // Set by dkim-verify: the d= (lower case) of every signature that passed.
  // dkim-sign's sign_if_signed = false consults it (unset: presence only).
  std::optional<std::vector<std::string>> dkim_valid_domains;
  std::vector<Finding> findings;
  // The effective policy of the Inspect phase on (set by the session after
  // the whitelisting bank switch): the spam stage reads its levels here.
  // Null in the Verify phase and in tests that need no bank settings.
  const Policy* policy = nullptr;
  // Stages every recipient bypasses ([[recipient]] bypass): skipped, with
  // the outcome "bypassed" (set by the session before the Inspect phase).
  std::vector<std::string> bypassed;
  // Edits only local recipients get ([recipients] local_domains): the spam
  // stage's X-Spam-* fields and subject tag.  Applied after `edits`.
  HeaderEdits local_edits;
  // The spam stage's score (after the bank's offset), when it scored the
  // message: the bounce guard's spam cutoff reads it.
  std::optional<double> spam_score;
  // The spam stage's whole result (per-recipient levels reuse it).
  std::shared_ptr<const SpamResult> spam;
  // The listener's budget (proxy, milter): every stage's deadline is cut to
  // what is left of it, so all of them together end before this point.
  std::optional<std::chrono::steady_clock::time_point> budget_end;
};

// The worst finding (highest category), or nullptr when none.
const Finding* worst_finding(const MessageContext& ctx);

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual Phase phase() const = 0;
  // Must not throw for expected failures; return TempFail with a reason.
  virtual boost::asio::awaitable<Verdict> run(MessageContext& ctx) = 0;

  std::chrono::milliseconds deadline{30000};
  OnError on_error = OnError::TempFail;
};

struct StageRecord {
  std::string name;
  std::string outcome;  // "continue", "tempfail", "timeout", ...
  std::chrono::microseconds time{0};
};

class Pipeline {
 public:
  explicit Pipeline(std::vector<std::shared_ptr<Stage>> stages);
  bool empty() const { return stages_.empty(); }
  const std::vector<std::shared_ptr<Stage>>& stages() const { return stages_; }
  // Runs the stages of phases first..last in order; records one StageRecord
  // each.  `accepted`, when given, carries an Accept verdict between calls
  // (a run split at a bank switch): the later calls then run only Seal.
  boost::asio::awaitable<Verdict> run(MessageContext& ctx, std::vector<StageRecord>& records,
                                      Phase first = Phase::Verify, Phase last = Phase::Seal,
                                      std::optional<Verdict>* accepted = nullptr) const;

 private:
  std::vector<std::shared_ptr<Stage>> stages_;
};

// Shared heavy objects, built on first request by a stage factory.
class Components {
 public:
  template <typename T>
  std::shared_ptr<T> get_or_create(const std::string& kind,
                                   const std::function<std::shared_ptr<T>()>& make) {
    auto it = items_.find(kind);
    if (it != items_.end()) return std::static_pointer_cast<T>(it->second);
    auto p = make();
    items_.emplace(kind, p);
    return p;
  }
  // Kinds built so far ("resolver", "scanner", "mime", ...).
  std::vector<std::string> built() const;

  // `sigil check-config --no-keys`: stages must not read key files.
  bool load_keys = true;
  // The daemon's event loop, for objects doing I/O (the DNS resolver).
  // Unset in configuration checks: such stages are built without them.
  std::optional<boost::asio::any_io_executor> executor;

 private:
  std::map<std::string, std::shared_ptr<void>> items_;
};

using StageMaker =
    std::function<std::shared_ptr<Stage>(const conf::Config&, Components&)>;
using StageFactory = std::map<std::string, StageMaker, std::less<>>;

// The stages this build provides: dkim-sign (issue 3) and dkim-verify
// (issue 4), decode, av and spam (issue 5).  Tests pass their own factory.  A maker may throw
// (e.g. a key file that does not load): PolicyTable::build turns that into a
// Config error, so the load or reload is refused.
const StageFactory& builtin_stages();

struct Policy {
  std::string banks;  // "default" or "default+mynets"
  bool originating = false;
  std::vector<std::string> stage_names;
  std::vector<std::string> add_header;  // fields the banks add (without CRLF)
  std::map<conf::Category, conf::Destiny> destiny;  // set by banks; else default_destiny()
  conf::Destiny destiny_for(conf::Category c) const;
  conf::SpamLevels spam;  // the banks' spam_* settings over the defaults
  std::string banned_rules = "default";  // the decode stage's [banned.NAME] set; "none": off
  std::vector<conf::Category> quarantine;  // categories quarantined (banks' `quarantine`)
  std::shared_ptr<const Pipeline> pipeline;
  std::string key;  // the table's key for this policy
};

// After the pipeline: the worst finding's destiny under `pol` turns a
// Continue/Accept verdict into Discard/Reject/TempFail (Pass keeps it), and
// adds a `category` note ("virus (av: Eicar-Test-Signature) destiny=discard").
// Other verdicts are returned unchanged.
Verdict apply_destiny(MessageContext& ctx, const Policy& pol, Verdict v);
// The same for a given deciding finding `w` (null: v unchanged) and destiny
// (per-recipient dispositions, filter/recipients.hpp).  Bounce gives Discard:
// the session sends the DSN.
Verdict apply_destiny(MessageContext& ctx, const Finding* w, conf::Destiny d, Verdict v);

class PolicyTable {
 public:
  // Builds one Policy per (listener bank, network bank) pair.
  // Failure (Config): a bank names a stage the factory does not provide.
  static Result<PolicyTable> build(const conf::Config& cfg, const StageFactory& factory,
                                   Components& components);
  // The policy for a listener's bank and a client IP.
  const Policy& select(const std::string& listener_bank,
                       const std::optional<std::array<std::uint8_t, 16>>& ip) const;
  // `base` with more banks overlaid in order (DKIM whitelisting, DESIGN.md
  // §3 step 3).  Banks already in `base` or unknown are skipped.  Built on
  // first use and kept: every stage any bank names was built at load, so this
  // constructs no stage and cannot fail.
  const Policy& with_banks(const Policy& base, const std::vector<std::string>& banks);

 private:
  std::vector<conf::NetworkRule> networks_;
  std::map<std::string, Policy> policies_;  // key: "listenerbank\0networkbank"
  std::map<std::string, conf::BankConfig> banks_;
  std::map<std::string, std::shared_ptr<Stage>> stages_;  // every stage any bank names
  std::map<std::string, Policy> overlays_;  // key: base key + "\0+bank..."
};

}  // namespace sigil::filter
