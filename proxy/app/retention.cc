#include "proxy/app/retention.h"

#include "proxy/runtime/log.h"

namespace pgw {

Retention::Retention(RetentionPolicy policy) : policy_(std::move(policy)) {
  thread_ = std::thread([this] { run(); });
}

Retention::~Retention() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void Retention::run() {
  std::unique_lock lock(mu_);
  std::chrono::milliseconds wait = kRetentionFirstRun;
  while (!stop_cv_.wait_for(lock, wait, [this] { return stopping_; })) {
    lock.unlock();
    prune_once();
    lock.lock();
    wait = kRetentionPeriod;
  }
}

void Retention::prune_once() {
  auto now = std::chrono::system_clock::now();
  auto us = [](auto t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  };
  store::PruneRequest request{.before_us = us(now - policy_.keep), .now_us = us(now),
                              .hmac_key = policy_.hmac_key};
  if (policy_.store.backend == store::Backend::postgresql) request.instance = policy_.instance;
  store::PruneResult result;
  std::string error;
  auto started = std::chrono::steady_clock::now();
  if (!store::prune_audit(policy_.store, request, &result, &error)) {
    log_event(LogLevel::error, "audit_prune_failed", {{"error", error}});
    return;
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  for (const store::Anchor& a : result.anchors) {
    log_event(LogLevel::info, "audit_pruned",
              {{"anchor", store::describe_anchor(a)}, {"instance", a.instance},
               {"duration_ms", std::to_string(took.count())}});
  }
  for (const std::string& note : result.notes) {
    log_event(LogLevel::info, "audit_prune_note", {{"note", note}});
  }
}

}  // namespace pgw
