// filter/core/metrics.hpp — the Prometheus metrics: one registry and its
// metric families (prometheus-cpp core), and the recording calls the fronts,
// the stages, the back-end client, the message store and sigild make (the
// resolver's through stages/dns_metrics.hpp).
//
// Off until enable() (sigild calls it when [metrics] address is set): every
// recording call is then a test of one pointer and returns.  On, a call
// increments counters that already exist: the label children of a listener
// are made once (listener(), at session start), those of a bank, a stage or
// a signing key the first time it is seen (then found by a short linear
// search), so no event costs a string-keyed lookup in the registry.
// The names follow the Prometheus conventions (sigil_ prefix, _total
// counters, base units); docs/metrics.md lists them.
//
// Does not: serve HTTP (filter/app/metrics_endpoint.hpp starts prometheus-
// cpp's pull exposer on this registry), or decide anything it counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filter/core/log.hpp"

namespace prometheus {
class Registry;
}

namespace sigil::filter::metrics {

// Creates the registry and the metric families (once; later calls return the
// same registry).  Recording counts from here on.
std::shared_ptr<prometheus::Registry> enable();
bool enabled() noexcept;
// The registry's current values in the text exposition format ("" when off);
// for tests and diagnostics.
std::string text();

// One listener's label children; nullptr when metrics are off.  Made once
// per listener name and kept for the life of the process.
class Listener;
Listener* listener(const std::string& name);

// A message's summary line was written: sigil_messages_total{listener,bank,
// action} and sigil_received_bytes_total{listener} (`bytes`: its size).
void message(Listener* l, const std::string& bank, log::SummaryAction action,
             std::uint64_t bytes);

// A front connection was accepted / closed: sigil_sessions_open{listener}.
void session_opened(Listener* l);
void session_closed(Listener* l);

// A connection refused at accept: sigil_session_refusals_total{reason}.
enum class Refusal {
  MaxSessions,           // "max_sessions": smtp.max_sessions open in all
  MaxSessionsPerClient,  // "max_sessions_per_client": from that address
  MilterHosts,           // "milter_hosts": not a milter listener's MTA
};
void session_refused(Refusal r);

// A stage ran (core/pipeline.cpp): sigil_stage_outcomes_total{stage,outcome}
// and sigil_stage_duration_seconds{stage}.  A bypassed stage did not run and
// is not counted.
enum class StageOutcome {
  Pass,     // "pass": continue or accept, nothing found
  Finding,  // "finding": it added a finding, or rejected or discarded
  Timeout,  // "timeout": its deadline or the listener's budget ran out
  Error,    // "error": it failed, threw, or returned tempfail
};
void stage(std::string_view name, StageOutcome outcome, std::chrono::microseconds time);

// dkim-sign made a signature with [[key]] `key` (`algorithm`: "rsa-sha256",
// "ed25519-sha256"): sigil_dkim_signatures_total{key,algorithm}.
void dkim_signature(const std::string& key, const char* algorithm);
// dkim-verify judged a signature (`result`: the Authentication-Results word,
// "pass", "fail", ...; "none" once for a message with no signature):
// sigil_dkim_verify_results_total{result}.
void dkim_verify(const char* result);
// dkim-verify's whitelist loaded policy bank `bank` for a message:
// sigil_dkim_whitelist_hits_total{bank}.
void dkim_whitelist_hit(const std::string& bank);

// The resolver's events (dns::Resolver::Observer; stages/dns_metrics.hpp
// forwards them here).
enum class Dns {
  QuerySent,  // sigil_dns_queries_total: a packet sent (UDP, or TCP after TC=1)
  CacheHit,   // sigil_dns_cache_hits_total: answered from the cache
  Timeout,    // sigil_dns_timeouts_total: an attempt got no answer in time
  ServFail,   // sigil_dns_servfails_total: an attempt got SERVFAIL
  Started,    // sigil_dns_queries_in_flight + 1: a lookup took a slot
  Finished,   // sigil_dns_queries_in_flight - 1: and gave it back
};
void dns(Dns event);

// The SMTP/LMTP back-end (delivery/backend.cpp).  A reply that decided a
// message or a recipient (the final reply after the data; a refusal at
// MAIL, RCPT or DATA): sigil_backend_replies_total{class} ("2xx", "4xx",
// "5xx"; other codes are not counted).
void backend_reply(int code);
// No usable connection (connect, greeting or EHLO failed):
// sigil_backend_connect_failures_total.
void backend_connect_failure();
// Connections kept idle for reuse went up or down by `delta`:
// sigil_backend_idle_connections.
void backend_idle(int delta);

// A DSN was handed to the back-end (delivery/dsn.cpp) and got a positive,
// temporary or permanent reply: sigil_dsns_total{result}.
enum class DsnResult { Sent, TempFail, Refused };
void dsn(DsnResult result);
// A backscatter guard (core/bounce_guard.hpp) kept a recipient out of a DSN:
// sigil_dsn_suppressed_recipients_total{reason} ("null_sender", "virus",
// "spam", "precedence", "list_id", "notify").
enum class DsnSuppressed { NullSender, Virus, Spam, Precedence, ListId, Notify };
void dsn_suppressed(DsnSuppressed reason);

// Spool files (core/message_store.cpp) grew, or were dropped: the bytes
// written to spool files now open, sigil_spool_bytes.
void spool_bytes(std::int64_t delta);

// The process pools (net/thread_pool.hpp): a job was handed to a pool /
// began to run there; sigil_pool_queued_jobs{pool} is the difference.
enum class Pool { Crypto, Decode };
void pool_queued(Pool p);
void pool_started(Pool p);

// The content scanners (stages/av_stage.cpp, spam_stage.cpp):
// sigil_scanner_calls_total{scanner}, sigil_scanner_failures_total{scanner}
// (the call failed: connection, timeout, protocol), and
// sigil_scanner_failovers_total{scanner} (after the failure the next
// configured scanner was asked).
enum class Scanner { Clamd, Spamd, Rspamd };
enum class ScanEvent { Call, Failure, Failover };
void scanner(Scanner s, ScanEvent e);

// A SIGHUP reload ended: sigil_config_reloads_total{result} and, on success,
// sigil_config_last_reload_timestamp_seconds = `when`.
void config_reload(bool ok, std::chrono::system_clock::time_point when);

// ------------------------------------------------------------- DKIM keys
// Key rotation (filter/app/key_watch.hpp).
// A key's signatures are now made with another key (its successor, or back
// to itself): sigil_dkim_key_switches_total{key} (`key`: the [[key]] the
// signing rules name).
void dkim_key_switch(const std::string& key);
// The age of each [[key]]'s file (now - mtime): sigil_dkim_key_age_seconds{key};
// a key not listed any more (a reload dropped it) loses its series.
void dkim_key_ages(const std::vector<std::pair<std::string, double>>& ages);
// Successor keys whose record is not published or does not match:
// sigil_dkim_keys_unpublished.
void dkim_keys_unpublished(std::size_t n);

}  // namespace sigil::filter::metrics
