// filter/stages/dkim_verify_stage.hpp — the `dkim-verify` stage (Verify phase) and
// DKIM whitelisting (DESIGN.md §3; Amavis's @author_to_policy_bank_maps).
//
// For each message:
//   1. the header fields go to a dkim::Verification as received;
//   2. the keys its signatures need are looked up through dns/ all at once
//      (concurrently; identical names across sessions share one query and
//      the cache), while the event loop serves other sessions;
//   3. the body is fed from the store (memory or spool) in 64 KiB chunks,
//      yielding to the event loop every 1 MiB so a large message does not
//      hold up other sessions; libopendkim's end-of-message then verifies
//      with the keys fetched (it never does DNS itself), on the event loop
//      (0.2 ms; a hand-off to the crypto pool measured dearer, see run());
//   4. Authentication-Results fields that claim our authserv-id are removed
//      (RFC 8601 §5: nobody outside may forge our results) and ours is
//      prepended, one field with every signature's result;
//   5. whitelisting: the rules of [[dkim_whitelist]] are matched against the
//      author (the first address of From) and each `pass` signature whose key
//      is at least whitelist_min_key_bits (RSA; Ed25519 keys always count);
//      every rule that matches adds its banks, in rule order, and the session
//      runs the rest of the pipeline with them (ctx.load_banks).
// Author-domain signature: d= equals the author's domain or is a parent of
// it with at least two labels (mail.example.com signed by example.com), as
// Amavis counts it; "/@signer" patterns name a third-party signer.
//
// The summary line gets `dkim_verify="pass d=.. s=.. a=.. 2048-bit; ..."`
// (or "none") and, on a match, `whitelist="rule N 'pattern' d=.. s=.. ->
// bank,bank"`.  The stage never rejects by itself: a failed signature is a
// fact for later stages and the mailbox side (DMARC is not done here).
//
// Implements: DKIM verification (RFC 6376, through libopendkim; RSA key
// sizes as RFC 8301) and Authentication-Results (RFC 8601).
//
// Does not: DMARC/ARC/SPF, or verify DomainKeys signatures.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "dkim/verifier.hpp"
#include "dns/resolver.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::dns {
class Resolver;
}

namespace sigil::filter {

// A resolver's answer as the verifier takes it.  A reply we could not use
// (FORMERR, NOTIMP, unparsable) is DNS trouble, not a statement that the key
// does not exist: temperror (RFC 6376 §6.1.2).
dkim::KeyAnswer key_answer(const dns::TxtAnswer& a);

class DkimVerifyStage : public Stage {
 public:
  // `resolver` may be null only for configuration checks (run() then
  // tempfails).  crypto_threads > 0: the body of a large message is hashed
  // on the crypto pool (crypto_pool.hpp), off the event loop.
  DkimVerifyStage(std::shared_ptr<const dkim::VerifierLib> lib,
                  std::shared_ptr<dns::Resolver> resolver, conf::VerifyConfig cfg,
                  std::vector<conf::WhitelistRule> whitelist, std::size_t crypto_threads = 0);
  std::string_view name() const override { return "dkim-verify"; }
  Phase phase() const override { return Phase::Verify; }
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

 private:
  std::shared_ptr<const dkim::VerifierLib> lib_;
  std::shared_ptr<dns::Resolver> resolver_;
  conf::VerifyConfig cfg_;
  std::vector<conf::WhitelistRule> whitelist_;
  std::size_t crypto_threads_ = 0;
};

struct WhitelistMatch {
  std::size_t rule = 0;    // index among [[dkim_whitelist]]
  std::string pattern;     // as written
  std::string signature;   // "d=example.com s=sel"
};

// The banks the whitelist loads for this author and these results, in rule
// order without repeats; `why` (optional) gets one entry per matching rule.
// `author` is an addr-spec (keys::parse_address); "" matches nothing.
std::vector<std::string> whitelist_banks(const std::vector<conf::WhitelistRule>& rules,
                                         std::string_view author,
                                         const std::vector<dkim::SignatureResult>& results,
                                         unsigned min_key_bits,
                                         std::vector<WhitelistMatch>* why = nullptr);

}  // namespace sigil::filter
