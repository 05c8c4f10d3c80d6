// admin_http (SPEC section 12): an HTTP listener beside the proxy's, for monitoring, served by
// civetweb's threads (prometheus-cpp's Exposer). GET /metrics gives the counters
// (runtime/metrics.h) in the Prometheus text format, written by prometheus-cpp; /healthz answers 200 while the process lives; /readyz
// answers 200, or 503 with the reason while the process should get no new work (draining, the
// audit store or the upstream unreachable).
#pragma once

#include <memory>
#include <string>

#include <prometheus/exposer.h>

#include "proxy/runtime/worker.h"

namespace pgw {

// The running listener; it stops when destroyed, which must come before the runtime's store is
// closed. One per process.
struct AdminHttp {
  std::unique_ptr<prometheus::Exposer> exposer;
  ~AdminHttp();
};

// Listens on host:port (an IPv6 host without brackets); nullptr and `error` when it cannot.
std::unique_ptr<AdminHttp> admin_http_start(Runtime* runtime, const std::string& host, int port,
                                            std::string* error);

}  // namespace pgw
