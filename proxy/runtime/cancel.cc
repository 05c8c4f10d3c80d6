#include "proxy/runtime/cancel.h"

#include <map>
#include <mutex>

#include "proxy/runtime/log.h"
#include "proxy/identity/scram.h"
#include "proxy/wire/wire.h"

namespace pgw {

namespace {

struct CancelConn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  std::string packet;
};

void on_cancel_closed(uv_handle_t* h) { delete static_cast<CancelConn*>(h->data); }

void on_cancel_written(uv_write_t* req, int) {
  auto* c = static_cast<CancelConn*>(req->data);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_cancel_closed);
}

void on_cancel_connected(uv_connect_t* req, int status) {
  auto* c = static_cast<CancelConn*>(req->data);
  if (status < 0) {
    log_event(LogLevel::warn, "cancel_failed", {{"reason", uv_strerror(status)}});
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_cancel_closed);
    return;
  }
  uv_buf_t b = uv_buf_init(c->packet.data(), static_cast<unsigned>(c->packet.size()));
  if (uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, on_cancel_written) != 0)
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_cancel_closed);
}

int32_t random_i31() {
  std::string b = random_bytes(4);
  uint32_t v = (static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24) |
               (static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 16) |
               (static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 8) | static_cast<uint8_t>(b[3]);
  return static_cast<int32_t>(v & 0x7fffffff);
}

}  // namespace

CancelKey cancel_new_key(CancelKeys& keys) {
  std::lock_guard<std::mutex> lock(keys.mu);
  CancelKey k;
  do {
    k.pid = random_i31();
  } while (k.pid == 0 || keys.pids.count(k.pid));
  k.secret = random_i31() ^ static_cast<int32_t>(random_i31() << 1);
  keys.pids[k.pid] = 1;
  return k;
}

void cancel_register(CancelKeys& keys, CancelKey ours, const CancelTarget& target) {
  std::lock_guard<std::mutex> lock(keys.mu);
  keys.targets[{ours.pid, ours.secret}] = target;
  keys.pids[ours.pid] = 1;
}

void cancel_unregister(CancelKeys& keys, CancelKey ours) {
  std::lock_guard<std::mutex> lock(keys.mu);
  keys.targets.erase({ours.pid, ours.secret});
  keys.pids.erase(ours.pid);
}

bool cancel_lookup(CancelKeys& keys, CancelKey ours, CancelTarget* target) {
  std::lock_guard<std::mutex> lock(keys.mu);
  auto it = keys.targets.find({ours.pid, ours.secret});
  if (it == keys.targets.end()) return false;
  *target = it->second;
  return true;
}

void send_cancel(uv_loop_t* loop, const CancelTarget& target) {
  auto* c = new CancelConn;
  c->tcp.data = c;
  c->connect.data = c;
  c->write.data = c;
  Writer(c->packet).begin_untyped().i32(kCancelRequestCode).i32(target.upstream.pid).i32(target.upstream.secret).end();
  uv_tcp_init(loop, &c->tcp);
  if (uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&target.addr), on_cancel_connected) != 0)
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_cancel_closed);
}

}  // namespace pgw
