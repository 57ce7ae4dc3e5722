// filter/app/key_watch.hpp — sigild's watch over successor keys (key
// rotation): which [[key]] signs for which, decided from DNS.
//
// For every [[key]] that is some key's successor, the watch looks up
// selector._domainkey.domain TXT through Sigil's own resolver (dns/, built
// from [dns]) at start, after each successful reload and every
// [dkim_sign] key_check_interval.  The key in effect for a key `a` is the
// furthest link of a's successor chain whose record matches its private key
// (dkim/key_publication.hpp): a record that exists but does not match
// (another p=, another k=, several records, revoked) never takes over.  A
// DNS error (timeout, SERVFAIL) keeps the previous verdict on that link;
// NXDOMAIN or no TXT record means not published.  The decision goes into the
// signing table's in_effect() slot, which dkim-sign reads per message:
// signing never waits for DNS.  Verdicts are kept across reloads (by key
// name, record name and public key), so a reload does not go back to the
// old key while its first lookups run.
//
// A switch (a key now signed with another) is logged at info (back to an
// earlier key: warn) and counted (metrics::dkim_key_switch); each check also
// sets the key file ages and the number of unpublished successors.
// Keys nobody names as successor are never looked up.
//
// Does not: edit configuration or key files (`sigil keys rotate`), or make a
// reload wait for DNS.  Runs on the daemon's event loop (one thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conf/config.hpp"
#include "keys/signing_table.hpp"

namespace sigil::dns {
class Resolver;
}

namespace sigil::filter {

class KeyWatch {
 public:
  explicit KeyWatch(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

  // At start and after each successful reload: watch `table` (nullptr when
  // no bank signs: nothing to watch) with `cfg`'s [dns] and
  // key_check_interval.  Sets the table's slot at once from the verdicts
  // already known, then checks in the background.
  void watch(std::shared_ptr<const keys::SigningTable> table,
             std::shared_ptr<const conf::Config> cfg);
  // Stops the periodic checks (draining: the event loop may then end).
  void stop();

 private:
  struct Round;
  boost::asio::awaitable<void> run(std::uint64_t generation, std::shared_ptr<Round> round);
  boost::asio::awaitable<void> check(std::uint64_t generation, std::shared_ptr<Round> round);
  // Computes the key in effect for every key from the verdicts, sets the
  // slot, logs and counts the switches, sets the gauges.
  void apply(const keys::SigningTable& table);

  boost::asio::any_io_executor ex_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<boost::asio::steady_timer> timer_;
  std::map<std::string, bool> matches_;       // link id -> its record matched (last conclusive)
  std::map<std::string, std::string> said_;   // link id -> the last verdict logged
  std::map<std::string, std::string> signer_; // key name -> the name of the key in effect
};

}  // namespace sigil::filter
