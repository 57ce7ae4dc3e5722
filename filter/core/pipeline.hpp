// filter/core/pipeline.hpp — stages, verdicts, the message context they
// share, and the pipeline that runs them.
//
// A Stage runs in one of four phases, always in the order
// Verify → Inspect → Modify → Seal (DESIGN.md §2).  Each returns a Verdict;
// the first verdict other than Continue ends the run, except Accept, which
// skips the remaining checks but still runs the Seal phase (an accepted
// message is delivered, so it is still signed).  Every stage has a
// deadline; on timeout or an internal error its `on_error` decides.
// Stages never rewrite raw bytes: they record HeaderEdits, applied on output.
// Heavy shared objects (resolver, scanner clients, MIME parser) are built
// only on request through Components.
//
// Does not: choose the policy (policy.hpp), know any stage by name
// (stages/registry.hpp), talk SMTP or forward anything (the fronts, delivery/).
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
#include "filter/core/envelope.hpp"
#include "filter/core/message_store.hpp"

namespace sigil::filter {

enum class Phase { Verify = 0, Inspect = 1, Modify = 2, Seal = 3 };
enum class Action { Continue, Accept, Reject, TempFail, Discard };
enum class OnError { TempFail, Continue, Reject };

const char* to_string(Action a) noexcept;

struct Verdict {
  Action action = Action::Continue;
  std::string reason;  // for logs and the reply text
};

// What a checking stage found: the message's worst finding picks
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

// A scanner's score that recipients with spam levels of their own
// ([[recipient]] spam_*_level) judge again, without a second scan: the spam
// stage leaves one in MessageContext::spam, and the core asks it per
// recipient (recipients.hpp, checks.hpp).  The core's view of a stage's
// result: it never sees the scanner's reply itself.
class ScanScore {
 public:
  virtual ~ScanScore() = default;
  // The score after the bank's offset.
  virtual double value() const = 0;
  // The stage whose findings this score made ("spam").
  virtual std::string_view stage() const = 0;
  // The finding under `lv`: spam at kill_level, spammy at tag2_level, or none.
  virtual std::optional<Finding> finding(const conf::SpamLevels& lv) const = 0;
  // The edits a local recipient with levels `lv` gets (X-Spam-* fields, the
  // subject tag).
  virtual HeaderEdits local_edits(const conf::SpamLevels& lv, const HeaderIndex& headers) const = 0;
};

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
  // The spam stage's score, when it scored the message: per-recipient
  // levels judge it again, and the bounce guard's spam cutoff reads it.
  std::shared_ptr<const ScanScore> spam;
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
  // The object of `kind` built so far, or nullptr (nothing built).
  template <typename T>
  std::shared_ptr<T> find(const std::string& kind) const {
    auto it = items_.find(kind);
    return it == items_.end() ? nullptr : std::static_pointer_cast<T>(it->second);
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


}  // namespace sigil::filter
