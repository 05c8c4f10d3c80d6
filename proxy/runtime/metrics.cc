#include "proxy/runtime/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "proxy/runtime/worker.h"

namespace pgw {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kLoginMethods[] = {"scram", "oidc"};
constexpr const char* kLoginResults[] = {"ok", "failed"};

void add_reading(const LatencyHistogram& h, HistogramReading* out) {
  for (size_t i = 0; i < h.buckets.size(); ++i) out->buckets[i] += h.buckets[i].get();
  out->sum_us += h.sum_us.get();
}

void read_workers(const Metrics& m, MetricsReading* r) {
  for (const WorkerStats& w : m.workers) {
    for (const auto& [key, n] : w.statements.read()) r->statements[key] += n;
    add_reading(w.statement_latency, &r->statement_latency);
    add_reading(w.audit_commit_latency, &r->audit_commit_latency);
    for (size_t i = 0; i < r->logins.size(); ++i) r->logins[i] += w.logins[i].get();
    r->upstream_connect_errors += w.upstream_connect_errors.get();
    r->bytes_from_client += w.bytes_from_client.get();
    r->bytes_from_upstream += w.bytes_from_upstream.get();
    r->sessions_starting += w.sessions_open.load(std::memory_order_relaxed);
  }
}

// The directory lists the sessions past their login; the others are starting.
void read_sessions(SessionDirectory& dir, MetricsReading* r) {
  for (const SessionInfo& s : session_directory(dir)) {
    if (s.state == "console") ++r->sessions_console;
    else if (s.state == "held") ++r->sessions_held;
    else ++r->sessions_ready;
  }
  r->sessions_starting = std::max<int64_t>(0, r->sessions_starting - r->sessions_console - r->sessions_held -
                                                  r->sessions_ready);
}

ClientMetric::Label label(const char* name, std::string value) { return {name, std::move(value)}; }

ClientMetric counter(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

ClientMetric histogram(const HistogramReading& h) {
  ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    double bound = i < kLatencyBoundsUs.size() ? static_cast<double>(kLatencyBoundsUs[i]) / 1e6
                                               : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(h.sum_us) / 1e6;
  return m;
}

MetricFamily family(const char* name, const char* help, MetricType type, std::vector<ClientMetric> metrics) {
  return MetricFamily{std::string("pgwarden_") + name, help, type, std::move(metrics)};
}

std::vector<ClientMetric> statement_metrics(const MetricsReading& r) {
  std::vector<ClientMetric> out;
  for (const auto& [key, n] : r.statements)
    out.push_back(counter(static_cast<double>(n), {label("decision", key.first), label("rule", key.second)}));
  return out;
}

std::vector<ClientMetric> login_metrics(const MetricsReading& r) {
  std::vector<ClientMetric> out;
  for (size_t m = 0; m < 2; ++m)
    for (size_t res = 0; res < 2; ++res)
      out.push_back(counter(static_cast<double>(r.logins[m * 2 + res]),
                            {label("method", kLoginMethods[m]), label("result", kLoginResults[res])}));
  return out;
}

std::vector<ClientMetric> session_metrics(const MetricsReading& r) {
  std::vector<ClientMetric> out;
  for (auto [state, n] : {std::pair{"starting", r.sessions_starting}, {"ready", r.sessions_ready},
                          {"held", r.sessions_held}, {"console", r.sessions_console}})
    out.push_back(gauge(static_cast<double>(n), {label("state", state)}));
  return out;
}

std::string number(double v) {
  if (v == std::numeric_limits<double>::infinity()) return "+Inf";
  return fmt::format("{}", v);
}

std::string joined(const std::vector<ClientMetric::Label>& labels) {
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : ",") + l.name + "=" + l.value;
  return out;
}

void histogram_rows(const std::string& name, const ClientMetric& m, std::vector<StatRow>* rows) {
  for (const auto& b : m.histogram.bucket) {
    std::vector<ClientMetric::Label> labels = m.label;
    labels.push_back({"le", number(b.upper_bound)});
    rows->push_back({name + "_bucket", joined(labels), std::to_string(b.cumulative_count)});
  }
  rows->push_back({name + "_sum", joined(m.label), number(m.histogram.sample_sum)});
  rows->push_back({name + "_count", joined(m.label), std::to_string(m.histogram.sample_count)});
}

}  // namespace

void LatencyHistogram::observe(int64_t us) {
  size_t i = static_cast<size_t>(std::lower_bound(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), us) -
                                 kLatencyBoundsUs.begin());
  buckets[i].add();
  sum_us.add(static_cast<uint64_t>(std::max<int64_t>(us, 0)));
}

size_t StatementCounts::Hash::operator()(const KeyView& k) const {
  return std::hash<std::string_view>()(k.decision) * 31 + std::hash<std::string_view>()(k.rule);
}

void StatementCounts::add(std::string_view decision, std::string_view rule) {
  auto it = counts_.find(KeyView{decision, rule});
  if (it == counts_.end()) {
    std::lock_guard lock(mu_);
    it = counts_.try_emplace(Key{std::string(decision), std::string(rule)}).first;
  }
  it->second.add();
}

std::map<std::pair<std::string, std::string>, uint64_t> StatementCounts::read() const {
  std::lock_guard lock(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> out;
  for (const auto& [key, n] : counts_) out[{key.decision, key.rule}] = n.get();
  return out;
}

MetricsReading read_metrics(Runtime& rt) {
  MetricsReading r;
  read_workers(rt.metrics, &r);
  read_sessions(rt.sessions, &r);
  for (const Approval& a : approvals_list(rt.approvals))
    if (a.state == "pending") ++r.approvals_pending;
  r.upstream_up = rt.metrics.upstream_up.load(std::memory_order_relaxed);
  r.store_failures = rt.store->failed_commits();
  r.reloads_ok = rt.metrics.reloads_ok.get();
  r.reloads_failed = rt.metrics.reloads_failed.get();
  return r;
}

std::vector<MetricFamily> metric_families(const MetricsReading& r) {
  auto n = [](uint64_t v) { return static_cast<double>(v); };
  return {
      family("statements_total", "Statements recorded in the audit, by decision and by the rule that decided (empty: the default)",
             MetricType::Counter, statement_metrics(r)),
      family("statement_duration_seconds", "Statements from forwarded upstream to answered",
             MetricType::Histogram, {histogram(r.statement_latency)}),
      family("audit_commit_duration_seconds", "Audit records from queued to committed, which a statement waits before it is forwarded",
             MetricType::Histogram, {histogram(r.audit_commit_latency)}),
      family("sessions", "Client sessions by state: starting (TLS, login, connecting upstream), ready, held (a statement awaits approval), console",
             MetricType::Gauge, session_metrics(r)),
      family("logins_total", "Client logins by method (scram: a static identity, oidc: a token) and result",
             MetricType::Counter, login_metrics(r)),
      family("approvals_pending", "Statements held on this instance awaiting approval", MetricType::Gauge,
             {gauge(n(r.approvals_pending))}),
      family("upstream_connect_errors_total", "Sessions whose connection to the upstream server failed (connect, TLS or pgwarden's credential)",
             MetricType::Counter, {counter(n(r.upstream_connect_errors))}),
      family("upstream_up", "1 if the latest attempt to reach the upstream server (a session's or the readiness probe's) succeeded",
             MetricType::Gauge, {gauge(r.upstream_up ? 1 : 0)}),
      family("audit_store_failures_total", "Audit store commits that failed (their statements were refused)",
             MetricType::Counter, {counter(n(r.store_failures))}),
      family("rules_reloads_total", "Rules reloads (SIGHUP or the console's RELOAD) by result", MetricType::Counter,
             {counter(n(r.reloads_ok), {label("result", "success")}),
              counter(n(r.reloads_failed), {label("result", "failure")})}),
      family("relayed_bytes_total", "Bytes read from clients and from the upstream server, by where they came from",
             MetricType::Counter,
             {counter(n(r.bytes_from_client), {label("from", "client")}),
              counter(n(r.bytes_from_upstream), {label("from", "upstream")})}),
  };
}

std::vector<StatRow> stat_rows(const std::vector<MetricFamily>& families) {
  std::vector<StatRow> rows;
  for (const MetricFamily& f : families) {
    for (const ClientMetric& m : f.metric) {
      if (f.type == MetricType::Histogram) histogram_rows(f.name, m, &rows);
      else rows.push_back({f.name, joined(m.label), number(f.type == MetricType::Counter ? m.counter.value : m.gauge.value)});
    }
  }
  return rows;
}

std::string not_ready_reason(Runtime& rt) {
  if (rt.draining.load()) return "draining: shutting down after SIGTERM";
  if (!rt.store->writable()) return "the audit store cannot be written";
  if (!rt.metrics.upstream_up.load(std::memory_order_relaxed)) return "the upstream server cannot be reached";
  return "";
}

}  // namespace pgw
