#include "proxy/runtime/worker.h"

namespace pgw {
namespace {

// The worker whose loop runs on this thread.
thread_local Worker* t_worker = nullptr;

void flush_audit(uv_prepare_t* prepare) {
  auto* w = static_cast<Worker*>(prepare->data);
  store::AuditStore* st = w->runtime->store.get();
  bool outcomes_due = w->audit_outcomes_due;
  w->audit_outcomes_due = false;
  if (st->flush(outcomes_due, w->audit_lane)) {
    uv_idle_start(&w->audit_more, [](uv_idle_t*) {});
  } else {
    uv_idle_stop(&w->audit_more);
  }
  if (!st->outcomes_waiting(w->audit_lane)) {
    uv_timer_stop(&w->audit_outcomes);
  } else if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&w->audit_outcomes))) {
    uv_timer_start(&w->audit_outcomes, [](uv_timer_t* t) { worker_commit_outcomes(static_cast<Worker*>(t->data)); },
                   store::kOutcomeDelay.count(), 0);
  }
}

}  // namespace

bool reload_rules(Runtime* runtime, const Config& config, std::vector<std::string>* errors) {
  rules::RuleSetPtr rules = load_configured_rules(config, errors);
  if (!rules) {
    runtime->metrics.reloads_failed.add();
    return false;
  }
  runtime->rules.store(std::move(rules), std::memory_order_release);
  runtime->metrics.reloads_ok.add();
  return true;
}

void worker_post(Worker* w, std::function<void()> task) {
  std::lock_guard<std::mutex> lock(w->inbox.mu);
  if (w->inbox.closed) return;
  w->inbox.tasks.push_back(std::move(task));
  uv_async_send(&w->inbox.async);
}

void worker_run_posted(uv_async_t* async) {
  auto* w = static_cast<Worker*>(async->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(w->inbox.mu);
    tasks.swap(w->inbox.tasks);
  }
  for (auto& t : tasks) t();
}

void worker_run(Worker* w, std::function<void()> task) {
  if (t_worker != w) {
    worker_post(w, std::move(task));
    return;
  }
  bool closed;
  {
    std::lock_guard<std::mutex> lock(w->inbox.mu);
    closed = w->inbox.closed;
  }
  if (!closed) task();
}

void worker_start_audit_flush(Worker* w) {
  t_worker = w;
  w->audit_lane = w->runtime->store->add_lane();
  uv_prepare_init(&w->loop, &w->audit_flush);
  w->audit_flush.data = w;
  uv_prepare_start(&w->audit_flush, flush_audit);
  uv_idle_init(&w->loop, &w->audit_more);
  uv_timer_init(&w->loop, &w->audit_outcomes);
  w->audit_outcomes.data = w;
}

void worker_commit_outcomes(Worker* w) { w->audit_outcomes_due = true; }

void audit_append(Worker* w, store::AuditRecord record, std::function<void(store::AppendResult)> done) {
  w->stats->statements.add(record.decision, record.rule);
  w->runtime->store->append(std::move(record), std::move(done), w->audit_lane);
}

void audit_outcome(Worker* w, store::Outcome outcome) {
  w->runtime->store->append_outcome(std::move(outcome), w->audit_lane);
}

}  // namespace pgw
