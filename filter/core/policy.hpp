// filter/core/policy.hpp — policy banks and the destiny of a message.
//
// Policy banks are overlays.  The effective Policy of a transaction is:
// built-in defaults, then the listener's bank, then the bank of the first
// [[network]] rule matching the client IP (from XFORWARD ADDR or the socket),
// then, after the Verify phase, the banks a DKIM-whitelisting match loads.
// Pipelines are built once per distinct policy at load/reload; a stage that
// is not listed in a policy is never constructed.
//
// Does not: run the stages (pipeline.hpp), or decide what a front replies
// (outcome.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "conf/result.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

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
