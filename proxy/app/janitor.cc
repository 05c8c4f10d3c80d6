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

void on_probe_closed(uv_handle_t* h) { static_cast<Janitor*>(h->data)->probing = false; }

void close_probe(Janitor* j) {
  auto* h = reinterpret_cast<uv_handle_t*>(&j->probe_tcp);
  if (!uv_is_closing(h)) uv_close(h, on_probe_closed);
}

void on_probe_connected(uv_connect_t* req, int status) {
  auto* j = static_cast<Janitor*>(req->data);
  j->workers[0]->runtime->metrics.upstream_up.store(status == 0, std::memory_order_relaxed);
  close_probe(j);
}

// Tries the upstream; an attempt still connecting since the last time failed, and is given up.
void probe_upstream_tick(uv_timer_t* t) {
  auto* j = static_cast<Janitor*>(t->data);
  Worker* w = j->workers[0];
  if (j->probing) {
    w->runtime->metrics.upstream_up.store(false, std::memory_order_relaxed);
    close_probe(j);
    return;
  }
  if (w->draining) return;
  uv_tcp_init(&w->loop, &j->probe_tcp);
  j->probe_tcp.data = j;
  j->probe_connect.data = j;
  j->probing = true;
  if (uv_tcp_connect(&j->probe_connect, &j->probe_tcp, reinterpret_cast<const sockaddr*>(&w->shared->upstream_addr),
                     on_probe_connected) != 0) {
    w->runtime->metrics.upstream_up.store(false, std::memory_order_relaxed);
    close_probe(j);
  }
}

void on_grace_over(uv_timer_t* t) {
  auto* j = static_cast<Janitor*>(t->data);
  log_event(LogLevel::warn, "shutdown_grace_over", {});
  j->workers[0]->runtime->grace_over = true;
  for (Worker* w : j->workers) uv_async_send(&w->wake);
}

}  // namespace

void janitor_start(Janitor* j, const std::vector<Worker*>& workers, bool probe_upstream) {
  j->workers = workers;
  uv_loop_t* main_loop = &workers[0]->loop;
  uv_timer_init(main_loop, &j->approvals);
  j->approvals.data = j;
  uv_timer_start(&j->approvals, expire_approvals, 200, 200);
  uv_timer_init(main_loop, &j->grace);
  j->grace.data = j;
  uv_unref(reinterpret_cast<uv_handle_t*>(&j->grace));
  if (probe_upstream) {
    uv_timer_init(main_loop, &j->upstream_probe);
    j->upstream_probe.data = j;
    uv_timer_start(&j->upstream_probe, probe_upstream_tick, 0, static_cast<uint64_t>(kUpstreamProbe.count()));
  }
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
