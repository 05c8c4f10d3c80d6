// A worker: one libuv loop with its listener and the sessions it accepted. pgwarden runs one or
// more workers (threads) that share the configuration, the TLS contexts, the rules and the audit
// store (the Runtime).
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/runtime/approvals.h"
#include "proxy/runtime/cancel.h"
#include "proxy/runtime/directory.h"
#include "proxy/runtime/metrics.h"
#include "proxy/net/tls.h"
#include "rules/rules.h"
#include "store/audit.h"
#include "store/shared_approvals.h"

namespace pgw {

struct Session;
struct ParseCache;  // proxy/judge/parse_cache.h

// Read-only state shared by all workers.
struct Shared {
  std::shared_ptr<const Config> config;
  SSL_CTX* client_tls = nullptr;    // nullptr when client TLS is disabled
  SSL_CTX* upstream_tls = nullptr;  // nullptr when upstream TLS is disabled
  std::string channel_binding;      // tls-server-end-point of client_tls's certificate
  sockaddr_storage upstream_addr{}; // resolved once at start
};

// Process-wide state, one owner: the rules in force (swapped whole on reload), the audit store,
// the books every worker shares (held statements, cancel keys, the session directory), the
// counters (metrics.h), and the shutdown's progress (SIGTERM: draining; then the grace period
// over).
struct Runtime {
  std::atomic<std::shared_ptr<const rules::RuleSet>> rules;
  std::unique_ptr<store::AuditStore> store;
  ApprovalBook approvals;
  CancelKeys cancel_keys;
  SessionDirectory sessions;
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::atomic<bool> grace_over{false};
  // With a PostgreSQL store: the requests of every instance, and votes cast on this one's.
  std::unique_ptr<store::SharedApprovals> shared_approvals;
};

// Work handed to a worker's loop from another thread: completions of audit records committed by
// the fsync writer thread or by another worker's loop, approvals settled elsewhere.
struct Inbox {
  std::mutex mu;
  std::vector<std::function<void()>> tasks;
  bool closed = false;  // the loop has stopped: posted work is dropped
  uv_async_t async;
};

struct Worker {
  int index = 0;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t wake;  // another thread asks this worker to drain or stop
  Inbox inbox;
  // Before the loop waits for I/O, the audit records queued during the iteration are committed
  // (store::Options::commit_on_flush); `audit_more` keeps the next wait from blocking while more
  // are queued. Outcomes alone wait for a record to go with, or for `audit_outcomes` (started
  // when the flush leaves some) to make them due (store::kOutcomeDelay), or for a session to end.
  uv_prepare_t audit_flush;
  uv_idle_t audit_more;
  uv_timer_t audit_outcomes;
  bool audit_outcomes_due = false;
  // The store's lane of this worker (store::AuditStore::add_lane): this loop commits what its
  // sessions append, and their callbacks run here.
  int audit_lane = 0;
  std::shared_ptr<const Shared> shared;
  Runtime* runtime = nullptr;
  WorkerStats* stats = nullptr;  // this worker's counters, in runtime->metrics
  std::set<Session*> sessions;
  std::unordered_map<uint64_t, Session*> by_uid;
  bool draining = false;
  // The SQL texts this loop's sessions parsed lately (made by the app, which knows its type).
  std::shared_ptr<ParseCache> parse_cache;

  rules::RuleSetPtr rules() const { return runtime->rules.load(std::memory_order_acquire); }
};

// Loads the configured rules again and puts them in force for every session; false (with the
// errors) leaves the previous rules in force. Either way it is counted.
bool reload_rules(Runtime* runtime, const Config& config, std::vector<std::string>* errors);

// Runs `task` on the worker's loop thread soon; callable from any thread.
void worker_post(Worker* w, std::function<void()> task);
// Runs everything posted so far (the inbox's async callback).
void worker_run_posted(uv_async_t* async);
// Runs `task` now when called on the worker's loop thread (an audit commit made by the loop
// itself), else posts it as worker_post does.
void worker_run(Worker* w, std::function<void()> task);
// Starts the worker's per-iteration audit commit; call on the loop's thread before uv_run.
void worker_start_audit_flush(Worker* w);
// Appends a record (an outcome) to the audit store in the worker's lane; call on its thread. A
// record is counted by its decision and rule.
void audit_append(Worker* w, store::AuditRecord record, std::function<void(store::AppendResult)> done);
void audit_outcome(Worker* w, store::Outcome outcome);
// Has the loop's next audit commit take the outcomes queued so far (a session ended: what its
// statements did is committed now rather than with a later record).
void worker_commit_outcomes(Worker* w);

}  // namespace pgw
