// audit.retention (SPEC section 13): a thread that prunes the audit store off the event loops,
// once shortly after start and then once a day, logging what it pruned. With a PostgreSQL store
// each instance prunes its own chains.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "store/audit.h"

namespace pgw {

// When the first prune runs after start, and how often after that.
inline constexpr std::chrono::seconds kRetentionFirstRun{5};
inline constexpr std::chrono::hours kRetentionPeriod{24};

struct RetentionPolicy {
  store::StoreLocation store;
  std::string hmac_key;
  std::string instance;  // the chains pruned, in a PostgreSQL store
  std::chrono::milliseconds keep{0};  // records older than this are pruned
};

// Prunes on its own thread from construction until destruction (which waits for a prune under
// way to finish).
class Retention {
 public:
  explicit Retention(RetentionPolicy policy);
  ~Retention();
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

 private:
  void run();
  void prune_once();

  RetentionPolicy policy_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pgw
