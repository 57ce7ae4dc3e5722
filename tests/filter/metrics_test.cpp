// tests/filter/metrics_test.cpp — filter/core/metrics: recording is a no-op
// until enable(); then the counters and the gauge read back through the
// registry's text exposition with their exact names, labels and values.
// The HTTP endpoint and sigild's wiring: tests/e2e/metrics.sh.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "filter/core/metrics.hpp"

namespace sigil::filter {
namespace {

using log::SummaryAction;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

// One test: the registry is process-wide and enable() cannot be undone.
TEST(Metrics, OffThenCounted) {
  EXPECT_FALSE(metrics::enabled());
  EXPECT_EQ(metrics::listener("in"), nullptr);
  metrics::message(nullptr, "default", SummaryAction::Relayed, 100);  // no-op, no crash
  metrics::config_reload(true, std::chrono::system_clock::now());
  metrics::session_opened(nullptr);
  metrics::session_refused(metrics::Refusal::MaxSessions);
  metrics::stage("av", metrics::StageOutcome::Pass, std::chrono::microseconds(1));
  metrics::dkim_signature("k", "rsa-sha256");
  metrics::dkim_verify("pass");
  EXPECT_EQ(metrics::text(), "");

  ASSERT_NE(metrics::enable(), nullptr);
  EXPECT_TRUE(metrics::enabled());
  EXPECT_EQ(metrics::enable(), metrics::enable());  // one registry
  metrics::Listener* in = metrics::listener("in");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(metrics::listener("in"), in);  // made once
  metrics::Listener* out = metrics::listener("out");
  metrics::message(in, "default", SummaryAction::Relayed, 100);
  metrics::message(in, "default", SummaryAction::Relayed, 50);
  metrics::message(in, "mynets", SummaryAction::TempFail, 7);
  metrics::message(out, "default", SummaryAction::Reject, 1);
  metrics::config_reload(true, std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
  metrics::config_reload(false, std::chrono::system_clock::now());
  metrics::session_opened(in);
  metrics::session_opened(in);
  metrics::session_opened(out);
  metrics::session_closed(in);
  metrics::session_refused(metrics::Refusal::MaxSessions);
  metrics::session_refused(metrics::Refusal::MaxSessionsPerClient);
  metrics::session_refused(metrics::Refusal::MaxSessionsPerClient);
  using std::chrono::microseconds;
  metrics::stage("av", metrics::StageOutcome::Pass, microseconds(700));      // <= 0.001
  metrics::stage("av", metrics::StageOutcome::Finding, microseconds(20000));  // <= 0.025
  metrics::stage("av", metrics::StageOutcome::Timeout, microseconds(40000000));  // > 30
  metrics::stage("spam", metrics::StageOutcome::Error, microseconds(100));
  metrics::dkim_signature("example-rsa", "rsa-sha256");
  metrics::dkim_signature("example-rsa", "rsa-sha256");
  metrics::dkim_signature("example-ed", "ed25519-sha256");
  metrics::dkim_verify("pass");
  metrics::dkim_verify("pass");
  metrics::dkim_verify("none");
  metrics::dkim_verify("bogus");  // not a result word: not counted

  std::string t = "\n" + metrics::text();
  EXPECT_TRUE(has_line(t, R"(sigil_messages_total{action="relayed",bank="default",listener="in"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_messages_total{action="tempfail",bank="mynets",listener="in"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_messages_total{action="reject",bank="default",listener="out"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_messages_total{action="relayed",bank="default",listener="out"} 0)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_received_bytes_total{listener="in"} 157)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_received_bytes_total{listener="out"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_config_reloads_total{result="success"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_config_reloads_total{result="failure"} 1)")) << t;
  EXPECT_TRUE(has_line(t, "sigil_config_last_reload_timestamp_seconds 1700000000")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_sessions_open{listener="in"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_sessions_open{listener="out"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_session_refusals_total{reason="max_sessions"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_session_refusals_total{reason="max_sessions_per_client"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_session_refusals_total{reason="milter_hosts"} 0)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_outcomes_total{outcome="pass",stage="av"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_outcomes_total{outcome="finding",stage="av"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_outcomes_total{outcome="timeout",stage="av"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_outcomes_total{outcome="error",stage="av"} 0)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_outcomes_total{outcome="error",stage="spam"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_count{stage="av"} 3)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_bucket{stage="av",le="0.0005"} 0)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_bucket{stage="av",le="0.001"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_bucket{stage="av",le="0.025"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_bucket{stage="av",le="30"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_bucket{stage="av",le="+Inf"} 3)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_stage_duration_seconds_sum{stage="av"} 40.0207)")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE sigil_stage_duration_seconds histogram")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_dkim_signatures_total{algorithm="rsa-sha256",key="example-rsa"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_dkim_signatures_total{algorithm="ed25519-sha256",key="example-ed"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_dkim_verify_results_total{result="pass"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_dkim_verify_results_total{result="none"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(sigil_dkim_verify_results_total{result="fail"} 0)")) << t;
  EXPECT_EQ(t.find("bogus"), std::string::npos) << t;
  EXPECT_TRUE(has_line(t, "# TYPE sigil_messages_total counter")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE sigil_config_last_reload_timestamp_seconds gauge")) << t;
}

}  // namespace
}  // namespace sigil::filter
