#include "proxy/app/admin_http.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <atomic>
#include <exception>
#include <string_view>
#include <vector>

namespace pgw {

namespace {

// civetweb's callbacks carry nothing of their caller's: the runtime whose health they report is
// found here while the listener runs.
std::atomic<Runtime*> g_runtime{nullptr};

class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(Runtime* runtime) : runtime_(runtime) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return metric_families(read_metrics(*runtime_)); }

 private:
  Runtime* runtime_;
};

// Sends a whole plain-text response; returns the status, as civetweb expects of begin_request.
int reply(mg_connection* conn, int status, const std::string& body) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  mg_write(conn, body.data(), body.size());
  return status;
}

// Answers /healthz and /readyz itself; anything else (0) goes to the Exposer's handlers.
int begin_request(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  std::string_view uri = request->local_uri ? request->local_uri : "";
  if (uri == "/healthz") return reply(conn, 200, "ok\n");
  if (uri != "/readyz") return 0;
  Runtime* runtime = g_runtime.load();
  std::string why = runtime ? not_ready_reason(*runtime) : "stopping";
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
  admin->collector = std::make_shared<Collector>(runtime);
  g_runtime.store(runtime);
  try {
    admin->exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", address, "num_threads", "2"}, &callbacks);
  } catch (const std::exception& e) {
    *error = std::string("cannot listen on ") + address + ": " + e.what();
    return nullptr;
  }
  admin->exposer->RegisterCollectable(admin->collector);
  return admin;
}

}  // namespace pgw
