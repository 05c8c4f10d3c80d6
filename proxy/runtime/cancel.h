// Cancel keys. pgwarden gives each client its own BackendKeyData (a positive pid and a random
// secret) and remembers which upstream backend it stands for, so a CancelRequest arriving on a
// new connection, on any worker, is mapped to the upstream backend's key and forwarded.
#pragma once

#include <uv.h>

#include <cstdint>
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

// A fresh key, unique among registered ones, with a positive pid.
CancelKey cancel_new_key();
void cancel_register(CancelKey ours, const CancelTarget& target);
void cancel_unregister(CancelKey ours);
bool cancel_lookup(CancelKey ours, CancelTarget* target);

// Opens a connection to the target and sends a CancelRequest with its upstream key.
void send_cancel(uv_loop_t* loop, const CancelTarget& target);

}  // namespace pgw
