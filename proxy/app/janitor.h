// Every periodic chore of the process in one place (as pgbouncer's janitor.c): approvals past
// their deadline expire (on the first worker's loop, every 200 ms); a draining worker whose last
// session is gone closes its loop (on each worker's loop, every 100 ms); after SIGTERM, the end of
// the shutdown grace period closes what is left.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <vector>

#include "proxy/runtime/worker.h"

namespace pgw {

struct Janitor {
  std::vector<Worker*> workers;
  uv_timer_t approvals;
  uv_timer_t grace;
  std::vector<std::unique_ptr<uv_timer_t>> worker_checks;
};

// Starts the chores; the first worker's loop runs the process-wide ones.
void janitor_start(Janitor* j, const std::vector<Worker*>& workers);
// Shutdown began: when `period` has passed, every session still open is closed (SQLSTATE 57P01).
void janitor_start_grace(Janitor* j, std::chrono::milliseconds period);

}  // namespace pgw
