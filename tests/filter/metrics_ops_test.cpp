// tests/filter/metrics_ops_test.cpp — filter/core/metrics' operational
// series (whitelist hits, DNS, back-end, DSNs, spool, pools, scanners):
// no-ops until enable(), then each call reads back through the registry's
// text exposition with its exact name, labels and value.  Its own process:
// enable() is for good.  The wiring into the resolver, the back-end and the
// stages: tests/dns/resolver_test.cpp, tests/e2e/metrics.sh.
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "filter/core/metrics.hpp"

namespace sigil::filter {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

void record_some() {
  metrics::dkim_whitelist_hit("trusted");
  metrics::dkim_whitelist_hit("trusted");
  metrics::dkim_whitelist_hit("lists");
  metrics::dns(metrics::Dns::QuerySent);
  metrics::dns(metrics::Dns::QuerySent);
  metrics::dns(metrics::Dns::CacheHit);
  metrics::dns(metrics::Dns::Timeout);
  metrics::dns(metrics::Dns::ServFail);
  metrics::dns(metrics::Dns::Started);
  metrics::dns(metrics::Dns::Started);
  metrics::dns(metrics::Dns::Finished);
  metrics::backend_reply(250);
  metrics::backend_reply(250);
  metrics::backend_reply(451);
  metrics::backend_reply(550);
  metrics::backend_reply(354);  // not a deciding class: not counted
  metrics::backend_connect_failure();
  metrics::backend_idle(3);
  metrics::backend_idle(-1);
  metrics::dsn(metrics::DsnResult::Sent);
  metrics::dsn(metrics::DsnResult::Refused);
  metrics::dsn_suppressed(metrics::DsnSuppressed::NullSender);
  metrics::dsn_suppressed(metrics::DsnSuppressed::Notify);
  metrics::dsn_suppressed(metrics::DsnSuppressed::Notify);
  metrics::spool_bytes(70000);
  metrics::spool_bytes(-30000);
  metrics::pool_queued(metrics::Pool::Crypto);
  metrics::pool_queued(metrics::Pool::Crypto);
  metrics::pool_started(metrics::Pool::Crypto);
  metrics::pool_queued(metrics::Pool::Decode);
  metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Call);
  metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Failure);
  metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Failover);
  metrics::scanner(metrics::Scanner::Clamd, metrics::ScanEvent::Call);
  metrics::scanner(metrics::Scanner::Rspamd, metrics::ScanEvent::Call);
}

TEST(MetricsOps, OffThenCounted) {
  record_some();  // off: every call returns at once
  EXPECT_EQ(metrics::text(), "");
  ASSERT_NE(metrics::enable(), nullptr);
  record_some();
  const std::string t = "\n" + metrics::text();
  const char* want[] = {
      R"(sigil_dkim_whitelist_hits_total{bank="trusted"} 2)",
      R"(sigil_dkim_whitelist_hits_total{bank="lists"} 1)",
      "sigil_dns_queries_total 2",
      "sigil_dns_cache_hits_total 1",
      "sigil_dns_timeouts_total 1",
      "sigil_dns_servfails_total 1",
      "sigil_dns_queries_in_flight 1",
      R"(sigil_backend_replies_total{class="2xx"} 2)",
      R"(sigil_backend_replies_total{class="4xx"} 1)",
      R"(sigil_backend_replies_total{class="5xx"} 1)",
      "sigil_backend_connect_failures_total 1",
      "sigil_backend_idle_connections 2",
      R"(sigil_dsns_total{result="sent"} 1)",
      R"(sigil_dsns_total{result="tempfail"} 0)",
      R"(sigil_dsns_total{result="refused"} 1)",
      R"(sigil_dsn_suppressed_recipients_total{reason="null_sender"} 1)",
      R"(sigil_dsn_suppressed_recipients_total{reason="notify"} 2)",
      R"(sigil_dsn_suppressed_recipients_total{reason="virus"} 0)",
      "sigil_spool_bytes 40000",
      R"(sigil_pool_queued_jobs{pool="crypto"} 1)",
      R"(sigil_pool_queued_jobs{pool="decode"} 1)",
      R"(sigil_scanner_calls_total{scanner="clamd"} 2)",
      R"(sigil_scanner_calls_total{scanner="spamd"} 0)",
      R"(sigil_scanner_calls_total{scanner="rspamd"} 1)",
      R"(sigil_scanner_failures_total{scanner="clamd"} 1)",
      R"(sigil_scanner_failovers_total{scanner="clamd"} 1)",
      R"(sigil_scanner_failovers_total{scanner="rspamd"} 0)",
  };
  for (const char* w : want) EXPECT_TRUE(has_line(t, w)) << "want: " << w << "\n" << t;
  EXPECT_EQ(t.find("sigil_backend_replies_total{class=\"3xx\"}"), std::string::npos);
}

// Every family the registry has (this file's and metrics_test's, the key
// rotation's included) has its row in docs/metrics.md.
TEST(MetricsOps, EveryFamilyDocumented) {
  ASSERT_NE(metrics::enable(), nullptr);
  // A family shows once it has a series: give the labelled ones one each.
  metrics::message(metrics::listener("in"), "default", log::SummaryAction::Relayed, 1);
  metrics::stage("av", metrics::StageOutcome::Pass, std::chrono::microseconds(1));
  metrics::dkim_signature("k", "rsa-sha256");
  metrics::dkim_whitelist_hit("trusted");
  std::ifstream in(std::string(SIGIL_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md";
  std::stringstream doc;
  doc << in.rdbuf();
  std::istringstream text(metrics::text());
  int families = 0;
  for (std::string line; std::getline(text, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::string name = line.substr(7, line.find(' ', 7) - 7);
    ++families;
    EXPECT_NE(doc.str().find("| `" + name + "` |"), std::string::npos)
        << name << " has no row in docs/metrics.md";
  }
  EXPECT_GE(families, 25);  // the 25 before the key rotation's
}

}  // namespace
}  // namespace sigil::filter
