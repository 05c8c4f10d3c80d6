#include "proxy/app/serve.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include "proxy/app/admin_http.h"
#include "proxy/app/janitor.h"
#include "proxy/app/retention.h"
#include "proxy/runtime/log.h"
#include "proxy/identity/oidc.h"
#include "proxy/judge/parse_cache.h"
#include "proxy/notify/notify.h"
#include "proxy/session/session.h"

namespace pgw {

namespace {

bool resolve(const std::string& host, int port, sockaddr_storage* out, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

void on_connection(uv_stream_t* listener, int status) {
  auto* w = static_cast<Worker*>(listener->data);
  if (status < 0 || w->draining) return;
  session_accept(w);
}

// A listening socket of its own for each worker; SO_REUSEPORT lets the kernel spread connections.
bool listen_on(Worker* w, const sockaddr_storage& addr, std::string* error) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    *error = std::string("cannot listen: ") + std::strerror(errno);
    close(fd);
    return false;
  }
  uv_tcp_init(&w->loop, &w->listener);
  w->listener.data = w;
  uv_tcp_open(&w->listener, fd);
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&w->listener), 1024, on_connection);
  if (rc != 0) {
    *error = std::string("cannot listen: ") + uv_strerror(rc);
    return false;
  }
  return true;
}

// Stops accepting, asks idle sessions to finish; the loop ends when the last session is gone.
void drain(Worker* w) {
  if (w->draining) return;
  w->draining = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->listener), nullptr);
  std::vector<Session*> all(w->sessions.begin(), w->sessions.end());
  for (Session* s : all) session_drain(s);
}

void on_wake(uv_async_t* a) {
  auto* w = static_cast<Worker*>(a->data);
  if (w->runtime->draining) drain(w);
  if (!w->runtime->grace_over) return;
  std::vector<Session*> all(w->sessions.begin(), w->sessions.end());
  for (Session* s : all) session_fatal(s, "57P01", "terminating connection due to administrator command");
}

struct MainHandles {
  uv_signal_t term, intr, hup;
  Janitor janitor;
  std::vector<Worker*> workers;
  std::chrono::milliseconds grace_period;
};

// SIGHUP: a valid rules file replaces the rules for every session; an invalid one changes nothing.
// Reloads the rules and the OIDC key sets; what fails to load keeps its previous version.
void on_sighup(MainHandles* m) {
  const Config& config = *m->workers[0]->shared->config;
  std::vector<std::string> errors;
  if (reload_rules(m->workers[0]->runtime, config, &errors)) {
    log_event(LogLevel::info, "rules_reloaded", {});
  } else {
    for (const auto& e : errors) log_event(LogLevel::error, "reload_failed", {{"error", e}});
    log_event(LogLevel::warn, "reload_failed", {{"reason", "the rules are invalid; the previous rules stay in force"}});
  }
  errors.clear();
  if (!reload_oidc_keys(config.oidc_identities, &errors)) {
    for (const auto& e : errors) log_event(LogLevel::error, "reload_failed", {{"error", e}});
    log_event(LogLevel::warn, "reload_failed", {{"reason", "a JWKS file is invalid; its previous keys stay in force"}});
  }
}

void on_signal(uv_signal_t* sig, int signum) {
  auto* m = static_cast<MainHandles*>(sig->data);
  if (signum == SIGHUP) {
    on_sighup(m);
    return;
  }
  Runtime* runtime = m->workers[0]->runtime;
  if (runtime->draining) return;
  log_event(LogLevel::info, "shutdown_requested", {{"signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"}});
  runtime->draining = true;
  for (Worker* w : m->workers) uv_async_send(&w->wake);
  janitor_start_grace(&m->janitor, m->grace_period);
}

void run_worker(Worker* w) {
  worker_start_audit_flush(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

std::shared_ptr<const Shared> make_shared_state(const std::string& path, std::vector<std::string>* errors) {
  auto cfg = std::make_shared<Config>();
  if (!load_config(path, cfg.get(), errors)) return nullptr;
  auto sh = std::make_shared<Shared>();
  std::string error;
  if (!resolve(cfg->upstream_host, cfg->upstream_port, &sh->upstream_addr, &error)) {
    errors->push_back(path + ": upstream.host: " + error);
    return nullptr;
  }
  if (cfg->client_tls != TlsMode::disable) {
    sh->client_tls = make_server_tls(cfg->cert_file, cfg->key_file, &error);
    if (!sh->client_tls) {
      errors->push_back(path + ": tls: " + error);
      return nullptr;
    }
    sh->channel_binding = server_end_point(sh->client_tls);
  }
  if (cfg->upstream_tls != TlsMode::disable) {
    sh->upstream_tls = make_client_tls(cfg->upstream_ca_file, cfg->upstream_tls == TlsMode::verify_full, &error);
    if (!sh->upstream_tls) {
      errors->push_back(path + ": upstream.ca_file: " + error);
      return nullptr;
    }
  }
  sh->config = std::move(cfg);
  return sh;
}

// A vote cast on another instance on a statement held here: taken as if given on this console.
void take_vote(Runtime* rt, const store::Vote& v) {
  ApprovalError e;
  if (v.verdict == "approve") e = approvals_approve(rt->approvals, v.approval_id, v.principal);
  else if (v.verdict == "reject") e = approvals_reject(rt->approvals, v.approval_id, v.principal, v.reason);
  else if (!approvals_settle_withdrawn(rt->approvals, v.approval_id, v.reason)) e.message = "not pending here";
  log_event(e.message.empty() ? LogLevel::info : LogLevel::warn, "approval_vote",
            {{"id", std::to_string(v.approval_id)}, {"verdict", v.verdict}, {"by", v.principal},
             {"from_instance", v.from_instance}, {"refused", e.message}});
}

// Statements this instance held when its previous run ended: nobody will run them now.
void settle_orphaned(Runtime* rt) {
  for (int64_t seq : rt->shared_approvals->orphaned()) {
    store::Outcome o;
    o.seq = seq;
    o.decision = "withdrawn";
    o.sqlstate = "42501";
    o.error = "pgwarden stopped while the statement waited for approval";
    rt->store->append_outcome(o);
  }
  rt->store->flush();
}

bool open_runtime(const Config& cfg, Runtime* rt) {
  std::vector<std::string> errors;
  rules::RuleSetPtr rules = load_configured_rules(cfg, &errors);
  if (!rules) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return false;
  }
  rt->rules.store(std::move(rules));
  store::Options opts;
  opts.backend = cfg.audit_backend == "postgresql" ? store::Backend::postgresql : store::Backend::sqlite;
  opts.path = cfg.audit_path;
  opts.dsn = cfg.audit_pg_dsn;
  opts.schema = cfg.audit_pg_schema;
  opts.instance = cfg.audit_instance;
  opts.durability = cfg.audit_fsync ? store::Durability::fsync : store::Durability::commit;
  // An fsync takes long enough to stall a loop: with it, a writer thread commits.
  opts.commit_on_flush = !cfg.audit_fsync;
  std::string error;
  if (!load_hmac_key(cfg, &opts.hmac_key, &error)) {
    std::fprintf(stderr, "%s: %s\n", cfg.file.c_str(), error.c_str());
    return false;
  }
  rt->store = store::AuditStore::open(opts, &error);
  if (rt->store && opts.backend == store::Backend::postgresql) {
    rt->shared_approvals = store::SharedApprovals::open(
        opts, [rt](const store::Vote& v) { take_vote(rt, v); }, &error);
    if (rt->shared_approvals) settle_orphaned(rt);
  }
  if (!rt->store || (opts.backend == store::Backend::postgresql && !rt->shared_approvals)) {
    std::fprintf(stderr, "%s: %s: %s\n", cfg.file.c_str(),
                 opts.backend == store::Backend::postgresql ? "audit.postgresql" : "audit.path", error.c_str());
    return false;
  }
  return true;
}

// With approvals.notify configured: a notifier told of every request the book holds or settles.
std::unique_ptr<Notifier> start_notifier(const Config& cfg, Runtime* rt) {
  if (cfg.approval_notify.empty()) return nullptr;
  auto notifier = std::make_unique<Notifier>(cfg.approval_notify);
  rt->approvals.observer = [n = notifier.get(), instance = cfg.audit_instance](const Approval& a) {
    n->post(approval_notice(a, instance));
  };
  return notifier;
}

// With audit.retention: the thread that prunes the store (the key was read by open_runtime).
std::unique_ptr<Retention> start_retention(const Config& cfg) {
  if (cfg.audit_retention.count() <= 0) return nullptr;
  RetentionPolicy policy;
  policy.store.backend =
      cfg.audit_backend == "postgresql" ? store::Backend::postgresql : store::Backend::sqlite;
  policy.store.path = cfg.audit_path;
  policy.store.dsn = cfg.audit_pg_dsn;
  policy.store.schema = cfg.audit_pg_schema;
  policy.instance = cfg.audit_instance;
  policy.keep = cfg.audit_retention;
  std::string error;
  load_hmac_key(cfg, &policy.hmac_key, &error);
  return std::make_unique<Retention>(std::move(policy));
}

}  // namespace

int serve(const std::string& config_path) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> errors;
  auto shared = make_shared_state(config_path, &errors);
  if (!shared) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 2;
  }
  const Config& cfg = *shared->config;
  sockaddr_storage listen_addr{};
  std::string error;
  if (!resolve(cfg.listen_host, cfg.listen_port, &listen_addr, &error)) {
    std::fprintf(stderr, "%s: listen: %s\n", config_path.c_str(), error.c_str());
    return 2;
  }
  Runtime runtime;
  if (!open_runtime(cfg, &runtime)) return 2;
  std::unique_ptr<Notifier> notifier = start_notifier(cfg, &runtime);
  std::unique_ptr<Retention> retention = start_retention(cfg);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < cfg.workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->shared = shared;
    w->runtime = &runtime;
    w->stats = &runtime.metrics.workers.emplace_back();
    w->parse_cache = std::make_shared<ParseCache>();
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->inbox.async, worker_run_posted);
    w->inbox.async.data = w.get();
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w.get();
    if (!listen_on(w.get(), listen_addr, &error)) {
      std::fprintf(stderr, "%s: listen %s:%d: %s\n", config_path.c_str(), cfg.listen_host.c_str(), cfg.listen_port,
                   error.c_str());
      return 2;
    }
    workers.push_back(std::move(w));
  }
  MainHandles m;
  m.grace_period = cfg.shutdown_grace;
  for (auto& w : workers) m.workers.push_back(w.get());
  uv_loop_t* main_loop = &workers[0]->loop;
  for (auto [sig, num] : {std::pair{&m.term, SIGTERM}, {&m.intr, SIGINT}, {&m.hup, SIGHUP}}) {
    uv_signal_init(main_loop, sig);
    sig->data = &m;
    uv_signal_start(sig, on_signal, num);
  }
  janitor_start(&m.janitor, m.workers, cfg.admin_http_port != 0);
  std::unique_ptr<AdminHttp> admin;
  if (cfg.admin_http_port != 0) {
    admin = admin_http_start(&runtime, cfg.admin_http_host, cfg.admin_http_port, &error);
    if (!admin) {
      std::fprintf(stderr, "%s: admin_http.listen: %s\n", config_path.c_str(), error.c_str());
      return 2;
    }
    log_event(LogLevel::info, "admin_http_listening",
              {{"address", cfg.admin_http_host + ":" + std::to_string(cfg.admin_http_port)}});
  }
  log_event(LogLevel::info, "listening",
            {{"address", cfg.listen_host + ":" + std::to_string(cfg.listen_port)},
             {"workers", std::to_string(cfg.workers)},
             {"upstream", cfg.upstream_host + ":" + std::to_string(cfg.upstream_port)}});
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers.size(); ++i) threads.emplace_back(run_worker, workers[i].get());
  run_worker(workers[0].get());
  for (auto& t : threads) t.join();
  admin.reset();  // /readyz reads the store: stopped before it is closed
  runtime.shared_approvals.reset();  // it may tell workers of votes: stopped before they go
  if (notifier) notifier->stop();  // the sessions' last settlements are given the grace to go out
  // Each loop's handles are closed by now (the janitor closes a drained worker's); closing the
  // loops frees what libuv allocated for them.
  for (auto& w : workers) uv_loop_close(&w->loop);
  retention.reset();
  runtime.store->close();
  log_event(LogLevel::info, "stopped", {});
  return 0;
}

}  // namespace pgw
