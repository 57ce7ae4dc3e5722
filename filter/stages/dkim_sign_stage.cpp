// filter/stages/dkim_sign_stage.cpp — see dkim_sign_stage.hpp.
#include "filter/stages/dkim_sign_stage.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <mutex>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "conf/ascii.hpp"
#include "dkim/signer.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/metrics.hpp"
#include "filter/core/smtp_text.hpp"
#include "filter/stages/crypto_pool.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

namespace {

// The value of a header field (after the colon), with its CRLF.
std::string_view field_value(std::string_view field) {
  auto colon = field.find(':');
  return colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1);
}

// d= of a DKIM-Signature field, lower-cased ("" if none).
std::string signature_domain(std::string_view field) {
  auto v = field_value(field);
  std::size_t pos = 0;
  while (pos < v.size()) {
    auto semi = v.find(';', pos);
    auto tag = v.substr(pos, semi == std::string_view::npos ? v.size() - pos : semi - pos);
    std::string t;
    for (char c : tag)
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') t += c;
    if (t.size() > 2 && t[0] == 'd' && t[1] == '=') return ascii::lower(t.substr(2));
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return {};
}

// Whether the message is signed at all: the listener's bank says
// originating, or XFORWARD PROTO says the client authenticated.
bool is_originating(const MessageContext& ctx) {
  if (ctx.originating) return true;
  for (const auto& [k, v] : ctx.envelope.xforward)
    if (k == "PROTO" && authenticated_proto(xtext_decode(v).value_or(""))) return true;
  return false;
}

// The body hashes (bh=) of one message, at most one per canonicalization,
// over the stored body read in chunks.
class BodyHashes {
 public:
  explicit BodyHashes(const MessageStore& message) : message_(message) {}
  // Failure: Io (spool read); not kept, so the next call reads again.
  Result<std::string> get(conf::Canon c) {
    auto& slot = c == conf::Canon::Simple ? simple_ : relaxed_;
    if (slot) return *slot;
    dkim::BodyHasher h(c);
    ChunkReader chunks(message_, message_.headers().body_offset());
    for (;;) {
      auto piece = chunks.next();
      if (!piece) return piece.error();
      if (piece->empty()) break;
      h.update(*piece);
    }
    slot = h.finish();
    return *slot;
  }

 private:
  const MessageStore& message_;
  std::optional<std::string> simple_, relaxed_;
};

// Why a signature with sign_if_signed = false is left out, or "" when it is
// not: with dkim-verify earlier in the pipeline, only a signature with its
// d= that verified counts; without it, any DKIM-Signature with that d=.
std::string already_signed(const MessageContext& ctx, const dkim::FieldList& fields,
                           const std::string& domain) {
  const std::string d = ascii::lower(domain);
  bool present = false;
  if (ctx.dkim_valid_domains) {
    const auto& v = *ctx.dkim_valid_domains;
    present = std::find(v.begin(), v.end(), d) != v.end();
  } else {
    for (auto f : fields)
      if (field_is_named(f, "DKIM-Signature") && signature_domain(f) == d) present = true;
  }
  if (!present) return {};
  return std::string(ctx.dkim_valid_domains ? "already validly signed" : "already signed") +
         " by d=" + domain;
}

dkim::SignatureSpec signature_spec(const keys::ResolvedSignature& s, std::int64_t now) {
  dkim::SignatureSpec spec;
  spec.key = s.key;
  spec.domain = s.domain;
  spec.selector = s.selector;
  spec.header_canon = s.header_canon;
  spec.body_canon = s.body_canon;
  spec.headers = s.headers;
  spec.oversign = s.oversign;
  spec.identity = s.identity;
  spec.timestamp = now;
  spec.expire_after = s.expire.count();
  return spec;
}

using Signatures = std::vector<Result<std::string>>;

// One private-key operation: all a pool thread needs, owned.
struct KeyJob {
  keys::KeyPtr key;
  std::array<unsigned char, 32> digest;
};

std::vector<KeyJob> key_jobs(const std::vector<dkim::Prepared>& prepared) {
  std::vector<KeyJob> jobs;
  jobs.reserve(prepared.size());
  for (const auto& p : prepared) jobs.push_back({p.key, p.digest});
  return jobs;
}

Signatures sign_now(const std::vector<KeyJob>& jobs) {
  Signatures out;
  out.reserve(jobs.size());
  for (const auto& j : jobs) out.push_back(j.key->sign_digest(j.digest.data(), j.digest.size()));
  return out;
}

// Whether the private-key work is worth a hop to the crypto pool: an RSA
// signature is 0.26 ms (RSA-2048) to 2 ms (RSA-4096) of the event loop's
// time; an Ed25519 one is 0.03 ms, less than the hop itself costs (two
// thread wake-ups; measured behind Postfix in bench/postfix --key ed25519).
bool worth_a_pool_thread(const std::vector<KeyJob>& jobs) {
  return std::any_of(jobs.begin(), jobs.end(),
                     [](const KeyJob& j) { return j.key->type() != keys::KeyType::Ed25519; });
}

// Runs on the crypto pool; owns everything it touches.
asio::awaitable<Signatures> sign_on_pool(std::vector<KeyJob> jobs) {
  metrics::pool_started(metrics::Pool::Crypto);
  co_return sign_now(jobs);
}

}  // namespace

bool authenticated_proto(std::string_view proto) {
  auto p = ascii::upper(proto);
  return p == "ESMTPA" || p == "ESMTPSA" || p == "LMTPA" || p == "LMTPSA" || p == "UTF8SMTPA" ||
         p == "UTF8SMTPSA" || p == "UTF8LMTPA" || p == "UTF8LMTPSA";
}

DkimSignStage::DkimSignStage(std::shared_ptr<const keys::SigningTable> table,
                             std::size_t crypto_threads)
    : table_(std::move(table)), crypto_threads_(crypto_threads) {}

asio::awaitable<Verdict> DkimSignStage::run(MessageContext& ctx) {
  Plan plan = plan_signatures(ctx);
  if (plan.done) co_return plan.verdict;
  Signatures raw;
  auto jobs = key_jobs(plan.prepared);
  if (crypto_threads_ > 0 && worth_a_pool_thread(jobs)) {
    // The event loop goes on serving other sessions meanwhile.  The job is
    // not cancellable, so the pipeline's deadline waits for it (a signature
    // takes a millisecond); nothing of the session is touched off-thread.
    metrics::pool_queued(metrics::Pool::Crypto);
    raw = co_await asio::co_spawn(crypto_pool(crypto_threads_)->get_executor(),
                                  sign_on_pool(std::move(jobs)), asio::use_awaitable);
  } else {
    raw = sign_now(jobs);
  }
  co_return complete(ctx, plan, raw);
}

Verdict DkimSignStage::sign(MessageContext& ctx) const {
  Plan plan = plan_signatures(ctx);
  if (plan.done) return plan.verdict;
  auto raw = sign_now(key_jobs(plan.prepared));
  return complete(ctx, plan, raw);
}

DkimSignStage::Plan DkimSignStage::plan_signatures(MessageContext& ctx) const {
  Plan plan;
  auto note = [&](std::string v) { ctx.notes.emplace_back("dkim", std::move(v)); };
  auto done = [&](Verdict v = {}) {
    plan.done = true;
    plan.verdict = std::move(v);
    return std::move(plan);
  };
  if (!is_originating(ctx)) {
    note("unsigned: not originating");
    return done();
  }

  // The header fields as the back-end will receive them.
  dkim::FieldList fields;
  for (auto f : output_fields(ctx.edits, ctx.message.headers())) fields.push_back(f);

  auto first_value = [&](std::string_view name) -> std::string_view {
    for (auto f : fields)
      if (field_is_named(f, name)) return field_value(f);
    return {};
  };
  std::string author = keys::parse_address(first_value("From"));
  std::string sender = keys::parse_address(first_value("Sender"));
  std::string which;
  const keys::SigningRuleView* rule =
      table_ ? table_->match(author, sender, ctx.envelope.sender, &which) : nullptr;
  if (!rule) {
    note("unsigned: no signing rule for author <" + author + "> sender <" + sender +
         "> envelope <" + ctx.envelope.sender + ">");
    return done();
  }
  plan.rule = rule;
  plan.which = which;

  BodyHashes body_hashes(ctx.message);
  std::int64_t now = std::time(nullptr);
  // Which key signs for each [[key]] now (a successor whose record is
  // published): one snapshot for the whole message, never a DNS wait.
  auto in_effect = table_->in_effect().get();
  for (const auto& s : rule->signatures) {
    if (!s.sign_if_signed) {
      if (auto why = already_signed(ctx, fields, s.domain); !why.empty()) {
        plan.skipped.push_back(std::move(why));
        continue;
      }
    }
    auto bh = body_hashes.get(s.body_canon);
    if (!bh) {
      plan.errors.push_back("spool read failed: " + bh.error().message);
      continue;
    }
    const auto& signer = table_->signer_for(s.key_index, in_effect.get());
    auto spec = signature_spec(s, now);
    spec.key = signer.key;  // the same d= (conf/ checks that a successor keeps it)
    spec.selector = signer.selector;
    auto p = dkim::prepare(spec, fields, *bh);
    if (!p) {
      plan.errors.push_back(p.error().message + " (key " + signer.name + ")");
      continue;
    }
    plan.prepared.push_back(std::move(*p));
    const char* a = dkim::algorithm(signer.key->type());
    plan.names.push_back({"d=" + s.domain + " s=" + signer.selector + " a=" + a, signer.name, a});
  }
  if (plan.prepared.empty()) {
    // Nothing to sign: report why (complete() does the same with no jobs).
    auto v = complete(ctx, plan, {});
    return done(std::move(v));
  }
  return plan;
}

Verdict DkimSignStage::complete(MessageContext& ctx, const Plan& plan,
                                const std::vector<Result<std::string>>& raw) const {
  auto note = [&](std::string v) { ctx.notes.emplace_back("dkim", std::move(v)); };
  std::vector<std::string> errors = plan.errors, made, fields;
  for (std::size_t i = 0; i < raw.size() && i < plan.prepared.size(); ++i) {
    if (!raw[i]) {
      errors.push_back("key unavailable: " + raw[i].error().message + " (key " +
                       plan.names[i].key_name + ")");
      continue;
    }
    fields.push_back(dkim::finish(plan.prepared[i], *raw[i]));
    made.push_back(plan.names[i].what);
    metrics::dkim_signature(plan.names[i].key_name, plan.names[i].algorithm);
  }
  if (!errors.empty()) {
    note("unsigned: " + errors.front());
    if (on_error != OnError::Continue)
      return {on_error == OnError::Reject ? Action::Reject : Action::TempFail,
              "DKIM signing failed: " + errors.front()};
    // on_error = continue: sign with what worked.
  }
  if (made.empty()) {
    if (errors.empty())
      note("unsigned: " + (plan.skipped.empty() ? std::string("no signature") : plan.skipped.front()));
    return {};
  }
  std::string v = "signed (" + plan.which + " rule " + plan.rule->pattern + ")";
  for (const auto& m : made) v += "; " + m;
  for (const auto& m : plan.skipped) v += "; " + m;
  note(v);
  ctx.edits.prepend.insert(ctx.edits.prepend.begin(), fields.begin(), fields.end());
  return {};
}

}  // namespace sigil::filter
