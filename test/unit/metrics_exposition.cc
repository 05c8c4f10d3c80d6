// The counters as an operator reads them: histogram buckets, statements by decision and rule, the
// Prometheus text of a known reading, and SHOW STATS's rows of the same families.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>

#include <sstream>

#include "proxy/runtime/metrics.h"

using namespace pgw;

namespace {

std::string exposition(const MetricsReading& r) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, metric_families(r));
  return out.str();
}

MetricsReading known_reading() {
  MetricsReading r;
  r.statements[{"allow", ""}] = 3;
  r.statements[{"deny", "no-drops"}] = 1;
  r.statement_latency.buckets[2] = 2;   // le 100us
  r.statement_latency.buckets[14] = 1;  // above 10s
  r.statement_latency.sum_us = 12'000'150;
  r.audit_commit_latency.buckets[0] = 3;
  r.audit_commit_latency.sum_us = 60;
  r.sessions_starting = 1;
  r.sessions_ready = 2;
  r.sessions_console = 1;
  r.logins = {4, 1, 0, 2};
  r.approvals_pending = 5;
  r.upstream_connect_errors = 6;
  r.upstream_up = false;
  r.store_failures = 7;
  r.reloads_ok = 8;
  r.reloads_failed = 9;
  r.bytes_from_client = 1000;
  r.bytes_from_upstream = 123456789;
  return r;
}

}  // namespace

TEST_CASE("a latency lands in the first bucket whose bound it does not exceed") {
  LatencyHistogram h;
  for (int64_t us : {0, 25, 26, 50, 10'000'000, 10'000'001}) h.observe(us);
  CHECK(h.buckets[0].get() == 2);  // 0 and 25 (le 0.000025)
  CHECK(h.buckets[1].get() == 2);  // 26 and 50
  CHECK(h.buckets[13].get() == 1);  // 10s
  CHECK(h.buckets[14].get() == 1);  // above every bound
  CHECK(h.sum_us.get() == 20'000'102);
  h.observe(-5);  // a clock that stepped back counts as 0
  CHECK(h.buckets[0].get() == 3);
  CHECK(h.sum_us.get() == 20'000'102);
}

TEST_CASE("statements are counted by decision and rule") {
  StatementCounts c;
  c.add("allow", "");
  c.add("deny", "no-drops");
  c.add("allow", "");
  c.add("allow", "reads-ok");
  std::map<std::pair<std::string, std::string>, uint64_t> want = {
      {{"allow", ""}, 2}, {{"allow", "reads-ok"}, 1}, {{"deny", "no-drops"}, 1}};
  CHECK(c.read() == want);
}

TEST_CASE("a reading is exposed in the Prometheus text format") {
  std::string text = exposition(known_reading());
  INFO(text);
  for (const char* line : {
           "# HELP pgwarden_statements_total Statements recorded in the audit, by decision and by the rule that decided (empty: the default)\n"
           "# TYPE pgwarden_statements_total counter\n"
           "pgwarden_statements_total{decision=\"allow\",rule=\"\"} 3\n"
           "pgwarden_statements_total{decision=\"deny\",rule=\"no-drops\"} 1\n",
           "# TYPE pgwarden_statement_duration_seconds histogram\n"
           "pgwarden_statement_duration_seconds_count 3\n"
           "pgwarden_statement_duration_seconds_sum 12.00015\n"
           "pgwarden_statement_duration_seconds_bucket{le=\"2.5e-05\"} 0\n"
           "pgwarden_statement_duration_seconds_bucket{le=\"5e-05\"} 0\n"
           "pgwarden_statement_duration_seconds_bucket{le=\"0.0001\"} 2\n",
           "pgwarden_statement_duration_seconds_bucket{le=\"10\"} 2\n"
           "pgwarden_statement_duration_seconds_bucket{le=\"+Inf\"} 3\n",
           "pgwarden_audit_commit_duration_seconds_count 3\n"
           "pgwarden_audit_commit_duration_seconds_sum 6e-05\n",
           "pgwarden_sessions{state=\"starting\"} 1\n"
           "pgwarden_sessions{state=\"ready\"} 2\n"
           "pgwarden_sessions{state=\"held\"} 0\n"
           "pgwarden_sessions{state=\"console\"} 1\n",
           "pgwarden_logins_total{method=\"scram\",result=\"ok\"} 4\n"
           "pgwarden_logins_total{method=\"scram\",result=\"failed\"} 1\n"
           "pgwarden_logins_total{method=\"oidc\",result=\"ok\"} 0\n"
           "pgwarden_logins_total{method=\"oidc\",result=\"failed\"} 2\n",
           "# TYPE pgwarden_approvals_pending gauge\npgwarden_approvals_pending 5\n",
           "pgwarden_upstream_connect_errors_total 6\n",
           "pgwarden_upstream_up 0\n",
           "pgwarden_audit_store_failures_total 7\n",
           "pgwarden_rules_reloads_total{result=\"success\"} 8\n"
           "pgwarden_rules_reloads_total{result=\"failure\"} 9\n",
           "pgwarden_relayed_bytes_total{from=\"client\"} 1000\n"
           "pgwarden_relayed_bytes_total{from=\"upstream\"} 123456789\n",
       }) {
    CHECK(text.find(line) != std::string::npos);
  }
}

TEST_CASE("SHOW STATS lists every sample of the families") {
  std::vector<StatRow> rows = stat_rows(metric_families(known_reading()));
  auto find = [&](const std::string& name, const std::string& labels) -> std::string {
    for (const auto& r : rows)
      if (r.name == name && r.labels == labels) return r.value;
    return "(none)";
  };
  CHECK(find("pgwarden_statements_total", "decision=deny,rule=no-drops") == "1");
  CHECK(find("pgwarden_statements_total", "decision=allow,rule=") == "3");
  CHECK(find("pgwarden_statement_duration_seconds_bucket", "le=0.0001") == "2");
  CHECK(find("pgwarden_statement_duration_seconds_bucket", "le=+Inf") == "3");
  CHECK(find("pgwarden_statement_duration_seconds_sum", "") == "12.00015");
  CHECK(find("pgwarden_statement_duration_seconds_count", "") == "3");
  CHECK(find("pgwarden_sessions", "state=ready") == "2");
  CHECK(find("pgwarden_logins_total", "method=oidc,result=failed") == "2");
  CHECK(find("pgwarden_upstream_up", "") == "0");
  CHECK(find("pgwarden_relayed_bytes_total", "from=upstream") == "123456789");
  // Two statement series, 17 samples per histogram, 4 session states, 4 login series, 2 reloads,
  // 2 byte counters, and 4 single samples.
  CHECK(rows.size() == 2 + 17 + 17 + 4 + 4 + 2 + 2 + 4);
}
