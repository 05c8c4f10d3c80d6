// Every periodic chore of the process in one place (as pgbouncer's janitor.c): approvals past
// their deadline expire (on the first worker's loop, every 200 ms); a draining worker whose last
// session is gone closes its loop (on each worker's loop, every 100 ms); after SIGTERM, the end of
// the shutdown grace period closes what is left; with admin_http, the upstream is tried (a TCP
// connection, opened and closed) every kUpstreamProbe, so that /readyz follows it while no
// session connects.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <vector>

#include "proxy/runtime/worker.h"

namespace pgw {

// How often the upstream is tried; an attempt still connecting after this long counts as failed.
inline constexpr std::chrono::milliseconds kUpstreamProbe{2000};

struct Janitor {
  std::vector<Worker*> workers;
  uv_timer_t approvals;
  uv_timer_t grace;
  std::vector<std::unique_ptr<uv_timer_t>> worker_checks;
  uv_timer_t upstream_probe;
  uv_tcp_t probe_tcp;
  uv_connect_t probe_connect;
  bool probing = false;  // probe_tcp is open
};

// Starts the chores; the first worker's loop runs the process-wide ones. `probe_upstream`: with
// admin_http, whose /readyz reports whether the upstream can be reached.
void janitor_start(Janitor* j, const std::vector<Worker*>& workers, bool probe_upstream);
// Shutdown began: when `period` has passed, every session still open is closed (SQLSTATE 57P01).
void janitor_start_grace(Janitor* j, std::chrono::milliseconds period);

}  // namespace pgw
