// filter/stages/dkim_verify_stage.cpp — see dkim_verify_stage.hpp.
#include "filter/stages/dkim_verify_stage.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "conf/ascii.hpp"
#include "dns/resolver.hpp"
#include "filter/core/log.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/metrics.hpp"
#include "filter/stages/crypto_pool.hpp"
#include "keys/signing_table.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

namespace {

bool within(std::string_view sub, std::string_view domain) {
  return sub == domain || (sub.size() > domain.size() && sub.ends_with(domain) &&
                           sub[sub.size() - domain.size() - 1] == '.');
}

// An author-domain signature (Amavis's sense): d= is the author's domain or a
// parent of it with at least two labels.
bool author_signature(std::string_view author_domain, std::string_view d) {
  if (d.find('.') == std::string_view::npos) return false;
  return within(author_domain, d);
}

bool counts(const dkim::SignatureResult& r, unsigned min_bits) {
  if (r.result != dkim::AuthResult::Pass) return false;
  if (r.algorithm.starts_with("rsa")) return r.key_bits >= min_bits;
  return true;  // Ed25519: a 256-bit key is full strength
}

std::string describe(const dkim::SignatureResult& r) {
  std::string s = std::string(dkim::to_string(r.result)) + " d=" + r.domain + " s=" + r.selector +
                  " a=" + r.algorithm;
  if (r.key_bits) s += " " + std::to_string(r.key_bits) + "-bit";
  if (!r.reason.empty()) s += " (" + r.reason + ")";
  return s;
}

// Looks up every key in `wanted` at once (concurrently) and gives `v` the
// answers.  The lookups own their state: if this stage is cancelled (the
// deadline), they finish into a result nobody reads.
asio::awaitable<void> fetch_keys(asio::any_io_executor ex,
                                 std::shared_ptr<dns::Resolver> resolver, dkim::Verification& v,
                                 const std::vector<dkim::KeyRequest>& wanted) {
  struct Fetch {
    explicit Fetch(asio::any_io_executor e, std::size_t n)
        : answers(n), left(n), done(e, asio::steady_timer::time_point::max()) {}
    std::vector<dns::TxtAnswer> answers;
    std::size_t left;
    asio::steady_timer done;
  };
  auto st = std::make_shared<Fetch>(ex, wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    asio::co_spawn(
        ex,
        [st, i, res = resolver, name = wanted[i].qname(), domain = wanted[i].domain]() -> asio::awaitable<void> {
          dns::TxtAnswer a = co_await res->txt(name, domain);
          st->answers[i] = std::move(a);
          if (--st->left == 0) st->done.cancel();
        },
        asio::detached);
  }
  while (st->left > 0) co_await st->done.async_wait(asio::as_tuple(asio::use_awaitable));
  for (std::size_t i = 0; i < wanted.size(); ++i)
    v.provide_key(wanted[i], key_answer(st->answers[i]));
}

// Feeds up to `budget` bytes of the body to `v`; false once it is all fed.
// Failure: Io (spool read).
Result<bool> feed_some(ChunkReader& chunks, dkim::Verification& v, std::uint64_t budget) {
  for (std::uint64_t fed = 0; fed < budget;) {
    auto piece = chunks.next();
    if (!piece) return piece.error();
    if (piece->empty()) return false;
    v.body(*piece);
    fed += piece->size();
  }
  return true;
}

// Feeds the body to `v`.  A body up to kLoopBody is hashed on the event loop
// (a few hashes of 256 KiB take about a millisecond).  A larger one is
// hashed on the crypto pool, kSlice at a time: up to max_signatures hashes
// of it (one per distinct c=/l=) would hold the loop, and every other
// session, for tens of milliseconds per MB; a slice at a time, signing jobs
// queued behind it wait for one slice at most.  The loop's coroutine waits
// while a pool thread feeds, so `v` and the reader are never used by two
// threads at once.  Failure: Io (spool read).
asio::awaitable<Status> feed_body(asio::thread_pool* pool, dkim::Verification& v,
                                  const MessageStore& message) {
  constexpr std::uint64_t kLoopBody = 256 << 10, kSlice = 256 << 10;
  ChunkReader chunks(message, message.headers().body_offset());
  const std::uint64_t body = message.size() - message.headers().body_offset();
  if (!pool || body <= kLoopBody) {
    auto r = feed_some(chunks, v, UINT64_MAX);
    if (!r) co_return r.error();
    co_return Ok{};
  }
  Result<bool> more = true;
  while (more && *more) {
    metrics::pool_queued(metrics::Pool::Crypto);
    co_await asio::co_spawn(
        pool->get_executor(),
        [&]() -> asio::awaitable<void> {
          metrics::pool_started(metrics::Pool::Crypto);
          more = feed_some(chunks, v, kSlice);
          co_return;
        },
        asio::use_awaitable);
  }
  if (!more) co_return more.error();
  co_return Ok{};
}

// Our Authentication-Results replaces any that claims our authserv-id
// (removed from the message).  Returns how many were removed.
std::size_t replace_authentication_results(MessageContext& ctx, const std::string& authserv_id,
                                           const std::vector<dkim::SignatureResult>& results) {
  const auto& idx = ctx.message.headers();
  const auto& fs = idx.fields();
  std::size_t forged = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    auto f = idx.field(fs[i]);
    if (field_is_named(f, "Authentication-Results") && dkim::claims_authserv_id(f, authserv_id)) {
      ctx.edits.remove.push_back(i);
      ++forged;
    }
  }
  ctx.edits.prepend.push_back(dkim::authentication_results(authserv_id, results));
  return forged;
}

// The summary's dkim_verify note: each signature's result, or "none".
std::string verify_note(const std::vector<dkim::SignatureResult>& results, std::size_t ignored,
                        std::size_t forged, const std::string& authserv_id) {
  std::string note;
  for (const auto& r : results) note += (note.empty() ? "" : "; ") + describe(r);
  if (note.empty()) note = "none";
  if (ignored) note += "; " + std::to_string(ignored) + " more not verified (max_signatures)";
  if (forged)
    note += "; removed " + std::to_string(forged) + " Authentication-Results claiming " +
            authserv_id;
  return note;
}

// The address of the message's From field.  Exactly one From (RFC 5322
// §3.6): with two, which one a mail reader shows is anyone's guess, so the
// author is "" and nobody is whitelisted.
std::string sole_author(const HeaderIndex& idx) {
  std::string author;
  std::size_t froms = 0;
  for (const auto& f : idx.fields()) {
    auto field = idx.field(f);
    if (!field_is_named(field, "From")) continue;
    ++froms;
    author = keys::parse_address(field.substr(field.find(':') + 1));
  }
  return froms == 1 ? author : std::string();
}

// The note for the banks a whitelist match loads:
// "rule N 'pattern' d=.. s=..; ... -> bank,bank".
std::string whitelist_note(const std::vector<WhitelistMatch>& why,
                           const std::vector<std::string>& banks) {
  std::string w;
  for (const auto& m : why)
    w += (w.empty() ? "" : "; ") + std::string("rule ") + std::to_string(m.rule) + " '" +
         m.pattern + "' " + m.signature;
  w += " -> ";
  for (std::size_t i = 0; i < banks.size(); ++i) w += (i ? "," : "") + banks[i];
  return w;
}

}  // namespace

dkim::KeyAnswer key_answer(const dns::TxtAnswer& a) {
  dkim::KeyAnswer k;
  switch (a.status) {
    case dns::Status::Ok:
      k.kind = dkim::KeyAnswer::Kind::Ok;
      k.records = a.records;
      break;
    case dns::Status::NotFound:
      k.kind = dkim::KeyAnswer::Kind::NotFound;
      break;
    // A reply we could not use (FORMERR, NOTIMP, unparsable) is DNS trouble,
    // not a statement that the key does not exist: temperror.
    case dns::Status::Retry:
    case dns::Status::Fail:
      k.kind = dkim::KeyAnswer::Kind::TempFail;
      break;
  }
  k.reason = a.reason;
  return k;
}

std::vector<std::string> whitelist_banks(const std::vector<conf::WhitelistRule>& rules,
                                         std::string_view author,
                                         const std::vector<dkim::SignatureResult>& results,
                                         unsigned min_key_bits, std::vector<WhitelistMatch>* why) {
  std::vector<std::string> banks;
  if (author.empty()) return banks;
  std::string addr = ascii::lower(author);
  auto at = addr.rfind('@');
  if (at == std::string::npos) return banks;
  std::string adom = addr.substr(at + 1);
  using A = conf::WhitelistPattern::Author;
  for (const auto& rule : rules) {
    const conf::WhitelistPattern* hit = nullptr;
    const dkim::SignatureResult* by = nullptr;
    for (const auto& p : rule.match) {
      bool author_ok = false;
      switch (p.author) {
        case A::Any: author_ok = true; break;
        case A::Domain: author_ok = adom == p.author_value; break;
        case A::DomainTree: author_ok = within(adom, p.author_value); break;
        case A::Address: author_ok = addr == p.author_value; break;
      }
      if (!author_ok) continue;
      for (const auto& r : results) {
        if (!counts(r, min_key_bits)) continue;
        std::string d = ascii::lower(r.domain);
        bool signer_ok = p.signer.empty() ? author_signature(adom, d)
                                          : (d == p.signer || (p.signer_tree && within(d, p.signer)));
        if (signer_ok) {
          hit = &p;
          by = &r;
          break;
        }
      }
      if (hit) break;
    }
    if (!hit) continue;
    for (const auto& b : rule.banks)
      if (std::find(banks.begin(), banks.end(), b) == banks.end()) banks.push_back(b);
    if (why) why->push_back({rule.index, hit->text, "d=" + by->domain + " s=" + by->selector});
  }
  return banks;
}

DkimVerifyStage::DkimVerifyStage(std::shared_ptr<const dkim::VerifierLib> lib,
                                 std::shared_ptr<dns::Resolver> resolver, conf::VerifyConfig cfg,
                                 std::vector<conf::WhitelistRule> whitelist,
                                 std::size_t crypto_threads)
    : lib_(std::move(lib)),
      resolver_(std::move(resolver)),
      cfg_(std::move(cfg)),
      whitelist_(std::move(whitelist)),
      crypto_threads_(crypto_threads) {}

asio::awaitable<Verdict> DkimVerifyStage::run(MessageContext& ctx) {
  if (!resolver_ || !lib_) co_return Verdict{Action::TempFail, "dkim-verify has no resolver"};
  auto ex = co_await asio::this_coro::executor;
  const auto& idx = ctx.message.headers();

  dkim::Verification v(lib_, ctx.log_id);
  for (const auto& f : idx.fields()) v.header(idx.field(f));
  if (auto wanted = v.end_of_headers(); !wanted.empty())
    co_await fetch_keys(ex, resolver_, v, wanted);
  if (auto st = co_await feed_body(crypto_threads_ ? crypto_pool(crypto_threads_) : nullptr, v,
                                   ctx.message);
      !st)
    co_return Verdict{Action::TempFail, "dkim-verify: " + st.error().message};
  // On the event loop, not the crypto pool: measured in bench/verify on 2
  // cores, handing this 0.2 ms step to a pool thread and back cost more CPU
  // than it spared (0.475 against 0.278 ms per message) and lengthened the
  // tail of the cold-cache test (p99 5.7 against 4.0 ms).
  auto results = v.finish();

  std::size_t forged = replace_authentication_results(ctx, cfg_.authserv_id, results);
  for (const auto& r : results) metrics::dkim_verify(dkim::to_string(r.result));
  if (results.empty()) metrics::dkim_verify(dkim::to_string(dkim::AuthResult::None));
  std::vector<std::string> valid;
  for (const auto& r : results)
    if (r.result == dkim::AuthResult::Pass) valid.push_back(ascii::lower(r.domain));
  ctx.dkim_valid_domains = std::move(valid);
  ctx.notes.emplace_back("dkim_verify",
                         verify_note(results, v.ignored_signatures(), forged, cfg_.authserv_id));

  if (!whitelist_.empty() && !results.empty()) {
    std::vector<WhitelistMatch> why;
    auto banks = whitelist_banks(whitelist_, sole_author(idx), results,
                                 cfg_.whitelist_min_key_bits, &why);
    if (!banks.empty()) {
      ctx.notes.emplace_back("whitelist", whitelist_note(why, banks));
      for (const auto& b : banks) metrics::dkim_whitelist_hit(b);
      ctx.load_banks.insert(ctx.load_banks.end(), banks.begin(), banks.end());
    }
  }
  co_return Verdict{};
}

}  // namespace sigil::filter
