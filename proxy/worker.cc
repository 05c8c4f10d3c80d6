#include "proxy/worker.h"

namespace pgw {

bool reload_rules(Runtime* runtime, const Config& config, std::vector<std::string>* errors) {
  rules::RuleSetPtr rules = load_configured_rules(config, errors);
  if (!rules) return false;
  runtime->rules.store(std::move(rules), std::memory_order_release);
  return true;
}

void worker_post(Worker* w, std::function<void()> task) {
  std::lock_guard<std::mutex> lock(w->inbox.mu);
  if (w->inbox.closed) return;
  w->inbox.tasks.push_back(std::move(task));
  uv_async_send(&w->inbox.async);
}

void worker_run_posted(uv_async_t* async) {
  auto* w = static_cast<Worker*>(async->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(w->inbox.mu);
    tasks.swap(w->inbox.tasks);
  }
  for (auto& t : tasks) t();
}

}  // namespace pgw
