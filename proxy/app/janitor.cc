#include "proxy/app/janitor.h"

#include "proxy/runtime/clock.h"
#include "proxy/runtime/approvals.h"
#include "proxy/runtime/log.h"

namespace pgw {

namespace {

void close_handle(uv_handle_t* h, void*) {
  if (!uv_is_closing(h)) uv_close(h, nullptr);
}

void expire_approvals(uv_timer_t* t) {
  auto* j = static_cast<Janitor*>(t->data);
  approvals_expire(j->workers[0]->runtime->approvals, wall_us());
}

// A draining worker whose sessions are all gone stops taking posted work and closes its handles,
// which ends its loop.
void check_worker(uv_timer_t* t) {
  auto* w = static_cast<Worker*>(t->data);
  if (!w->draining || !w->sessions.empty()) return;
  {
    std::lock_guard<std::mutex> lock(w->inbox.mu);
    w->inbox.closed = true;
  }
  uv_walk(&w->loop, close_handle, nullptr);
}

void on_grace_over(uv_timer_t* t) {
  auto* j = static_cast<Janitor*>(t->data);
  log_event(LogLevel::warn, "shutdown_grace_over", {});
  j->workers[0]->runtime->grace_over = true;
  for (Worker* w : j->workers) uv_async_send(&w->wake);
}

}  // namespace

void janitor_start(Janitor* j, const std::vector<Worker*>& workers) {
  j->workers = workers;
  uv_loop_t* main_loop = &workers[0]->loop;
  uv_timer_init(main_loop, &j->approvals);
  j->approvals.data = j;
  uv_timer_start(&j->approvals, expire_approvals, 200, 200);
  uv_timer_init(main_loop, &j->grace);
  j->grace.data = j;
  uv_unref(reinterpret_cast<uv_handle_t*>(&j->grace));
  for (Worker* w : workers) {
    auto t = std::make_unique<uv_timer_t>();
    uv_timer_init(&w->loop, t.get());
    t->data = w;
    uv_timer_start(t.get(), check_worker, 100, 100);
    j->worker_checks.push_back(std::move(t));
  }
}

void janitor_start_grace(Janitor* j, std::chrono::milliseconds period) {
  uv_timer_start(&j->grace, on_grace_over, static_cast<uint64_t>(period.count()), 0);
}

}  // namespace pgw
