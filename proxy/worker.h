// A worker: one libuv loop with its listener and the sessions it accepted. pgwarden runs one or
// more workers (threads) that share the configuration and the TLS contexts.
#pragma once

#include <uv.h>

#include <memory>
#include <set>
#include <string>

#include "proxy/config.h"
#include "proxy/tls.h"

namespace pgw {

struct Session;

// Read-only state shared by all workers, swapped whole on reload.
struct Shared {
  std::shared_ptr<const Config> config;
  SSL_CTX* client_tls = nullptr;    // nullptr when client TLS is disabled
  SSL_CTX* upstream_tls = nullptr;  // nullptr when upstream TLS is disabled
  std::string channel_binding;      // tls-server-end-point of client_tls's certificate
  sockaddr_storage upstream_addr{}; // resolved once at start
};

struct Worker {
  int index = 0;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t wake;  // another thread asks this worker to drain or stop
  std::shared_ptr<const Shared> shared;
  std::set<Session*> sessions;
  bool draining = false;
};

}  // namespace pgw
