// What an operator watches (SPEC section 12): counters each worker keeps for itself as it goes,
// added up only when somebody reads them (a Prometheus scrape of admin_http's /metrics, or the
// console's SHOW STATS), so that counting costs a statement no lock and no shared cache line.
// The same readings give the Prometheus metric families and the console's rows.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace pgw {

struct Runtime;  // worker.h

// A count one thread mostly adds to and any thread reads (relaxed: a reading is a snapshot).
struct Counter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

// Upper bounds, in microseconds, of the latency histograms' buckets (Prometheus' `le`), from
// 25 microseconds (an audit commit without fsync) to 10 seconds.
inline constexpr std::array<int64_t, 14> kLatencyBoundsUs = {25,   50,    100,   250,   500,    1000,    2500,
                                                             5000, 10000, 25000, 50000, 100000, 1000000, 10000000};

// A latency histogram: a count per bucket (the last for what is above every bound) and the sum.
struct LatencyHistogram {
  std::array<Counter, kLatencyBoundsUs.size() + 1> buckets;
  Counter sum_us;
  void observe(int64_t us);
};

// How a client logged in (identities.static by SCRAM, identities.oidc by token), and whether it did.
enum class LoginMethod { scram, oidc };
enum class LoginResult { ok, failed };

// Statements recorded, by decision and rule. The worker that owns it adds; readers take a copy.
class StatementCounts {
 public:
  // On the owning worker's thread only.
  void add(std::string_view decision, std::string_view rule);
  // From any thread.
  std::map<std::pair<std::string, std::string>, uint64_t> read() const;

 private:
  struct Key {
    std::string decision, rule;
  };
  struct KeyView {
    std::string_view decision, rule;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(const KeyView& k) const;
    size_t operator()(const Key& k) const { return (*this)(KeyView{k.decision, k.rule}); }
  };
  struct Equal {
    using is_transparent = void;
    static KeyView view(const Key& k) { return {k.decision, k.rule}; }
    static KeyView view(const KeyView& k) { return k; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return view(a).decision == view(b).decision && view(a).rule == view(b).rule;
    }
  };
  // Taken to insert a key (the owning worker) and to read (anyone); the owner finds keys without
  // it, since nobody else changes the map.
  mutable std::mutex mu_;
  std::unordered_map<Key, Counter, Hash, Equal> counts_;
};

// One worker's counters; only its own thread adds to them, but for the audit commit latency,
// which the thread that commits its records observes.
struct alignas(64) WorkerStats {
  StatementCounts statements;
  LatencyHistogram statement_latency;     // forwarded to answered (ReadyForQuery or the last reply)
  LatencyHistogram audit_commit_latency;  // a record queued to its commit
  std::array<Counter, 4> logins;          // by LoginMethod * 2 + LoginResult
  Counter upstream_connect_errors;
  Counter bytes_from_client;
  Counter bytes_from_upstream;
  std::atomic<int64_t> sessions_open{0};  // accepted and not yet freed

  void login(LoginMethod m, LoginResult r) { logins[static_cast<size_t>(m) * 2 + static_cast<size_t>(r)].add(); }
};

// The process's counters: one WorkerStats per worker (made before the workers start, never
// moved), and what is not any worker's.
struct Metrics {
  std::deque<WorkerStats> workers;
  Counter reloads_ok;
  Counter reloads_failed;
  // The latest attempt to reach the upstream server (a session's connection, or the readiness
  // probe's) succeeded; true until one fails.
  std::atomic<bool> upstream_up{true};
};

// A reading of every counter, added up over the workers: plain values.
struct HistogramReading {
  std::array<uint64_t, kLatencyBoundsUs.size() + 1> buckets{};
  uint64_t sum_us = 0;
};
struct MetricsReading {
  std::map<std::pair<std::string, std::string>, uint64_t> statements;  // by (decision, rule)
  HistogramReading statement_latency;
  HistogramReading audit_commit_latency;
  // Sessions by state: starting (TLS, login, connecting upstream), ready, held (a statement
  // waits for approval), console.
  int64_t sessions_starting = 0, sessions_ready = 0, sessions_held = 0, sessions_console = 0;
  std::array<uint64_t, 4> logins{};  // by LoginMethod * 2 + LoginResult
  uint64_t approvals_pending = 0;
  uint64_t upstream_connect_errors = 0;
  bool upstream_up = true;
  uint64_t store_failures = 0;
  uint64_t reloads_ok = 0, reloads_failed = 0;
  uint64_t bytes_from_client = 0, bytes_from_upstream = 0;
};

// Reads every counter of the runtime, its session directory, approval book and store.
MetricsReading read_metrics(Runtime& runtime);

// The reading as Prometheus metric families, every name prefixed `pgwarden_`.
std::vector<prometheus::MetricFamily> metric_families(const MetricsReading& reading);

// One sample of a family, as the console's SHOW STATS lists it: the sample's name (with
// _bucket, _sum, _count for a histogram), its labels as name=value joined by commas, the value.
struct StatRow {
  std::string name;
  std::string labels;
  std::string value;
};
std::vector<StatRow> stat_rows(const std::vector<prometheus::MetricFamily>& families);

// Why the process should not be sent new work (/readyz), or empty when it is ready: it is
// draining after SIGTERM, the audit store cannot be written (tried again here if its latest
// commit failed, which may take as long as a commit), or the upstream cannot be reached.
std::string not_ready_reason(Runtime& runtime);

}  // namespace pgw
