// filter/stages/dkim_sign_stage.hpp — the `dkim-sign` stage (Seal phase, always last).
//
// Who is signed: only mail from an originating source —
//   - a listener bank or client-network bank with `originating = true`
//     (Amavis's ORIGINATING policy bank / @mynetworks), or
//   - a client the front MTA reports as SASL-authenticated through XFORWARD
//     PROTO (the RFC 3848 protocol types ESMTPA, ESMTPSA, LMTPA, LMTPSA and
//     their UTF8 forms, RFC 6531), when the listener trusts XFORWARD.
// The signing table (keys/signing_table.hpp) picks the rule from the author
// (From), then Sender, then the envelope sender.
//
// What is signed: the exact bytes the back-end receives — the header fields
// other stages prepend, then the message's own header and body as stored.
// DKIM-Signature fields are prepended on top of everything.
//
// Never silent: every message gets a `dkim=` note in the summary line, either
// the signatures made ("signed d=example.com s=sel a=rsa-sha256") or why
// none was ("unsigned: not originating", "unsigned: no signing rule for
// <addr>", "unsigned: key unavailable: ...", "unsigned: already signed by
// d=...").  A key that cannot sign (OpenSSL error) applies the stage's
// on_error: tempfail by default, so mail of a domain that publishes a strict
// DMARC policy is not sent out unsigned by accident.
//
// sign_if_signed = false skips a key when the message already carries a
// signature with its d= that dkim-verify (earlier in the pipeline) found
// valid; without dkim-verify in the pipeline, any DKIM-Signature with that d=
// counts.
//
// Implements: DKIM signing (RFC 6376, with Ed25519 keys as RFC 8463; the
// signer is dkim/), the body hashed from the store through ChunkReader.
//
// Key rotation: a signature whose [[key]] has a successor in effect (the
// table's in_effect() slot, which sigild's key watch fills once the
// successor's record is published and matches) is made with the successor's
// key and selector, same d=.
//
// Does not: load keys (the table is a snapshot built at load/reload; a broken
// key refuses the load and keeps the old snapshot), or look at DNS.
#pragma once

#include <memory>

#include <boost/asio/thread_pool.hpp>

#include "dkim/signer.hpp"
#include "filter/core/pipeline.hpp"
#include "keys/signing_table.hpp"

namespace sigil::filter {

class DkimSignStage : public Stage {
 public:
  // crypto_threads > 0: private-key operations run on a process-wide pool of
  // that many threads ([daemon] crypto_threads), off the event loop.
  DkimSignStage(std::shared_ptr<const keys::SigningTable> table, std::size_t crypto_threads);
  std::string_view name() const override { return "dkim-sign"; }
  Phase phase() const override { return Phase::Seal; }
  boost::asio::awaitable<Verdict> run(MessageContext& ctx) override;

  // The same, all on the calling thread (tests).
  Verdict sign(MessageContext& ctx) const;

 private:
  // On the event loop: who is signed, canonicalization, hashing, each
  // signature prepared up to its digest.  `done` when nothing is to sign.
  struct Plan {
    bool done = false;
    Verdict verdict;
    const keys::SigningRuleView* rule = nullptr;
    std::string which;
    std::vector<dkim::Prepared> prepared;
    struct Name {
      std::string what;      // "d=example.com s=sel a=rsa-sha256", for the log
      std::string key_name;  // the [[key]]
      const char* algorithm;  // "rsa-sha256", "ed25519-sha256" (the metrics' label)
    };
    std::vector<Name> names;  // one per prepared
    std::vector<std::string> skipped, errors;
  };
  Plan plan_signatures(MessageContext& ctx) const;
  // Back on the event loop: the fields, the note, the verdict.
  Verdict complete(MessageContext& ctx, const Plan& plan,
                   const std::vector<Result<std::string>>& raw) const;

  std::shared_ptr<const keys::SigningTable> table_;
  std::size_t crypto_threads_ = 0;
};

// True when XFORWARD PROTO says the client authenticated (RFC 3848/6531).
bool authenticated_proto(std::string_view proto);

}  // namespace sigil::filter
