#include "proxy/app/admin_http.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <exception>
#include <string_view>
#include <thread>
#include <vector>

namespace pgw {

namespace {

// civetweb's callbacks carry nothing of their caller's: the runtime whose health they report is
// found here while the listener runs.
std::atomic<Runtime*> g_runtime{nullptr};

// Runs `work` on a thread of ordinary stack size and returns what it returns: civetweb's worker
// threads have small stacks, too small for reading the metrics or committing to the store.
template <typename Work>
auto on_full_stack(Work work) {
  decltype(work()) result;
  std::thread([&] { result = work(); }).join();
  return result;
}

// Sends a whole response; returns the status, as civetweb expects of begin_request. Written out
// whole with one mg_write: civetweb's own response functions format on its worker thread's small
// stack.
int reply(mg_connection* conn, int status, const std::string& body,
          const char* type = "text/plain; charset=utf-8") {
  std::string response = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Service Unavailable") +
                         "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nCache-Control: no-store\r\n\r\n" + body;
  mg_write(conn, response.data(), response.size());
  return status;
}

// Answers /metrics (the counters in prometheus-cpp's text format), /healthz and /readyz; anything
// else (0) goes to civetweb, which answers 404.
int begin_request(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  std::string_view uri = request->local_uri ? request->local_uri : "";
  if (uri == "/healthz") return reply(conn, 200, "ok\n");
  if (uri != "/readyz" && uri != "/metrics") return 0;
  Runtime* runtime = g_runtime.load();
  if (!runtime) return reply(conn, 503, "not ready: stopping\n");
  if (uri == "/metrics") {
    std::string text = on_full_stack(
        [runtime] { return prometheus::TextSerializer().Serialize(metric_families(read_metrics(*runtime))); });
    return reply(conn, 200, text, "text/plain; version=0.0.4; charset=utf-8");
  }
  std::string why = on_full_stack([runtime] { return not_ready_reason(*runtime); });
  return why.empty() ? reply(conn, 200, "ready\n") : reply(conn, 503, "not ready: " + why + "\n");
}

}  // namespace

AdminHttp::~AdminHttp() {
  exposer.reset();
  g_runtime.store(nullptr);
}

std::unique_ptr<AdminHttp> admin_http_start(Runtime* runtime, const std::string& host, int port,
                                            std::string* error) {
  std::string address = host.find(':') == std::string::npos ? host : "[" + host + "]";
  address += ":" + std::to_string(port);
  CivetCallbacks callbacks;
  callbacks.begin_request = begin_request;
  auto admin = std::make_unique<AdminHttp>();
  g_runtime.store(runtime);
  try {
    admin->exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", address, "num_threads", "2"}, &callbacks);
  } catch (const std::exception& e) {
    *error = std::string("cannot listen on ") + address + ": " + e.what();
    return nullptr;
  }
  return admin;
}

}  // namespace pgw
