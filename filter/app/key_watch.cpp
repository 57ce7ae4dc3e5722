// filter/app/key_watch.cpp — see key_watch.hpp.
#include "filter/app/key_watch.hpp"

#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dns/resolver.hpp"
#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"
#include "dkim/key_publication.hpp"
#include "filter/stages/dkim_verify_stage.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

// One watched configuration: its table, its resolver, its interval.
struct KeyWatch::Round {
  std::shared_ptr<const keys::SigningTable> table;
  std::shared_ptr<const conf::Config> cfg;
  std::shared_ptr<dns::Resolver> resolver;  // null when no key has a successor
  std::shared_ptr<asio::steady_timer> timer;
};

namespace {

// What identifies a verdict across reloads: the key's name, where it is
// published and what it publishes.
std::string link_id(const keys::SigningTable::KeyEntry& k) {
  return k.name + '\n' + k.selector + "._domainkey." + k.domain + '\n' +
         (k.key ? k.key->public_key_base64() : std::string());
}

// Which keys are some key's successor.
std::vector<bool> successor_flags(const keys::SigningTable& t) {
  std::vector<bool> named(t.keys().size(), false);
  for (const auto& k : t.keys())
    if (k.successor < named.size()) named[k.successor] = true;
  return named;
}

// now - mtime of each key file (a file that cannot be stat'ed is left out).
std::vector<std::pair<std::string, double>> key_ages(const keys::SigningTable& t) {
  std::vector<std::pair<std::string, double>> ages;
  std::time_t now = std::time(nullptr);
  for (const auto& k : t.keys()) {
    struct stat st {};
    if (::stat(k.file.c_str(), &st) == 0)
      ages.emplace_back(k.name, static_cast<double>(now - st.st_mtime));
  }
  return ages;
}

}  // namespace

void KeyWatch::watch(std::shared_ptr<const keys::SigningTable> table,
                     std::shared_ptr<const conf::Config> cfg) {
  stop();
  if (!table || !cfg) {
    metrics::dkim_key_ages({});
    metrics::dkim_keys_unpublished(0);
    return;
  }
  auto round = std::make_shared<Round>();
  round->table = std::move(table);
  round->cfg = std::move(cfg);
  for (const auto& k : round->table->keys())
    if (k.successor != keys::SigningTable::kNoSuccessor) {
      round->resolver = std::make_shared<dns::Resolver>(ex_, round->cfg->dns);
      break;
    }
  round->timer = std::make_shared<asio::steady_timer>(ex_);
  timer_ = round->timer;
  apply(*round->table);
  asio::co_spawn(ex_, run(generation_, std::move(round)), asio::detached);
}

void KeyWatch::stop() {
  ++generation_;
  if (timer_) timer_->cancel();
  timer_.reset();
}

asio::awaitable<void> KeyWatch::run(std::uint64_t generation, std::shared_ptr<Round> round) {
  for (;;) {
    co_await check(generation, round);
    if (generation != generation_) co_return;
    apply(*round->table);
    round->timer->expires_after(round->cfg->dkim_sign.key_check_interval);
    co_await round->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (generation != generation_) co_return;
  }
}

// Looks up every successor's record, one after the other (a few keys), and
// records the conclusive verdicts; logs a link's verdict when it changes.
// Stops as soon as a newer watch (reload) or stop() has begun.
asio::awaitable<void> KeyWatch::check(std::uint64_t generation, std::shared_ptr<Round> round) {
  if (!round->resolver) co_return;
  const auto& keys = round->table->keys();
  auto named = successor_flags(*round->table);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!named[i] || !keys[i].key) continue;
    const auto& k = keys[i];
    std::string name = k.selector + "._domainkey." + k.domain;
    auto answer = co_await round->resolver->txt(name, k.domain);
    if (generation != generation_) co_return;  // reloaded or stopping meanwhile
    auto verdict = dkim::check_publication(*k.key, key_answer(answer));
    std::string id = link_id(k);
    if (verdict.state != dkim::Publication::State::DnsError) matches_[id] = verdict.matches();
    std::string text = verdict.text();
    if (said_[id] != text) {
      said_[id] = text;
      if (verdict.matches())
        log::main().info("dkim key {}: {} is published and matches", k.name, name);
      else if (verdict.state == dkim::Publication::State::NotPublished)
        log::main().info("dkim key {}: {}: {}; it does not sign yet", k.name, name, text);
      else
        log::main().warn("dkim key {}: {}: {}{}", k.name, name, text,
                         verdict.state == dkim::Publication::State::DnsError
                             ? "; the previous verdict holds"
                             : "; it does not sign");
    }
  }
}

void KeyWatch::apply(const keys::SigningTable& t) {
  const auto& keys = t.keys();
  auto named = successor_flags(t);
  auto matches = [&](std::size_t i) {
    auto it = matches_.find(link_id(keys[i]));
    return it != matches_.end() && it->second;
  };
  auto successors = t.successors();
  auto snapshot = std::make_shared<keys::InEffect>(keys.size());
  std::size_t unpublished = 0;
  std::map<std::string, std::string> signer;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    (*snapshot)[i] = keys::key_in_effect(i, successors, matches);
    if (named[i] && !matches(i)) ++unpublished;
    const auto& now = keys[(*snapshot)[i]];
    signer[keys[i].name] = now.name;
    // Switches are told for the keys the rules name: the heads of chains.
    auto before = signer_.find(keys[i].name);
    std::string was = before == signer_.end() ? keys[i].name : before->second;
    if (named[i] || was == now.name) continue;
    metrics::dkim_key_switch(keys[i].name);
    if (now.name == keys[i].name)
      log::main().warn("dkim key {} signs with itself again (s={}): {} no longer matches",
                       keys[i].name, now.selector, was);
    else
      log::main().info("dkim key {} now signs with {} (s={}, d={}): its record is published "
                       "and matches",
                       keys[i].name, now.name, now.selector, now.domain);
  }
  signer_ = std::move(signer);
  t.in_effect().set(std::move(snapshot));
  metrics::dkim_key_ages(key_ages(t));
  metrics::dkim_keys_unpublished(unpublished);
}

}  // namespace sigil::filter
