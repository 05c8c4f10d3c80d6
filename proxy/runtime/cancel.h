// Cancel keys. pgwarden gives each client its own BackendKeyData (a positive pid and a random
// secret) and remembers which upstream backend it stands for, so a CancelRequest arriving on a
// new connection, on any worker, is mapped to the upstream backend's key and forwarded.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace pgw {

struct CancelKey {
  int32_t pid = 0;
  int32_t secret = 0;
};

// Where a cancel for a client key goes.
struct CancelTarget {
  sockaddr_storage addr{};
  CancelKey upstream;
};

// The keys handed out, shared by every worker (Runtime owns them); locked inside.
struct CancelKeys {
  std::mutex mu;
  std::map<std::pair<int32_t, int32_t>, CancelTarget> targets;  // by (pid, secret)
  std::map<int32_t, int> pids;                                   // pids in use
};

// A fresh key, unique among registered ones, with a positive pid.
CancelKey cancel_new_key(CancelKeys& keys);
void cancel_register(CancelKeys& keys, CancelKey ours, const CancelTarget& target);
void cancel_unregister(CancelKeys& keys, CancelKey ours);
bool cancel_lookup(CancelKeys& keys, CancelKey ours, CancelTarget* target);

// Opens a connection to the target and sends a CancelRequest with its upstream key.
void send_cancel(uv_loop_t* loop, const CancelTarget& target);

}  // namespace pgw
