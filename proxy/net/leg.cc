#include "proxy/net/leg.h"

#include <cstring>

namespace pgw {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
thread_local char t_scratch[kReadChunk];

struct WriteReq {
  uv_write_t req;
  std::string data;
  Leg* leg;
};

void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Leg& leg = *static_cast<Leg*>(h->data);
  if (leg.tls.active() || !leg.typed) {
    *buf = uv_buf_init(t_scratch, kReadChunk);
    return;
  }
  size_t got = 0;
  char* p = leg.framer.write_space(kReadChunk, &got);
  *buf = uv_buf_init(p, static_cast<unsigned>(got));
}

// Plaintext arriving on the leg lands in the framer or the untyped buffer.
void take_plain(Leg& leg, const char* data, size_t n) {
  if (leg.typed) {
    leg.framer.feed(data, n);
  } else {
    leg.raw.append(data, n);
  }
}

// Feeds ciphertext through OpenSSL; false if the TLS session failed.
bool take_cipher(Leg& leg, const char* data, size_t n) {
  leg.tls.put_cipher(data, n);
  if (leg.tls_handshaking) {
    int rc = leg.tls.handshake();
    leg_flush(leg);
    if (rc < 0) return false;
    if (rc == 0) return true;
    leg.tls_handshaking = false;
    leg.owner->on_tls_ready(leg);
    if (leg.closing) return true;
  }
  while (true) {
    int got = leg.tls.read(t_scratch, kReadChunk);
    if (got < 0) return false;
    if (got == 0) return true;
    take_plain(leg, t_scratch, static_cast<size_t>(got));
  }
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Leg& leg = *static_cast<Leg*>(stream->data);
  if (nread == 0 || leg.closing) return;
  if (nread < 0) {
    leg.eof = true;
    leg.owner->on_leg_error(leg, nread == UV_EOF ? "connection closed" : uv_strerror(static_cast<int>(nread)));
    return;
  }
  size_t n = static_cast<size_t>(nread);
  if (leg.bytes_read) leg.bytes_read->fetch_add(n, std::memory_order_relaxed);
  if (leg.tls.active()) {
    if (!take_cipher(leg, buf->base, n)) {
      leg.owner->on_leg_error(leg, leg.tls.error());
      return;
    }
  } else if (leg.typed) {
    leg.framer.wrote(n);
  } else {
    leg.raw.append(buf->base, n);
  }
  if (!leg.closing) leg.owner->on_input(leg);
}

void on_written(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
  Leg& leg = *w->leg;
  leg.in_flight -= w->data.size();
  if (status < 0 && !leg.closing) {
    leg.owner->on_leg_error(leg, uv_strerror(status));
    return;
  }
  if (leg.close_when_drained && leg.in_flight == 0) {
    leg_close(leg);
    return;
  }
  if (!leg.closing && leg.in_flight <= kLowWater) leg.owner->on_drained(leg);
}

void on_closed(uv_handle_t* h) {
  Leg& leg = *static_cast<Leg*>(h->data);
  leg.open = false;
  leg.owner->on_leg_closed(leg);
}

}  // namespace

bool leg_flush(Leg& leg) {
  if (!leg.open || leg.closing) return false;
  std::string cipher;
  std::string* data = &leg.out;
  if (leg.tls.active()) {
    if (!leg.tls_handshaking && !leg.tls.write(leg.out)) return false;
    leg.out.clear();
    leg.tls.take_cipher(cipher);
    data = &cipher;
  }
  if (data->empty()) return true;
  size_t done = 0;
  if (leg.in_flight == 0) {
    uv_buf_t b = uv_buf_init(data->data(), static_cast<unsigned>(data->size()));
    int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(&leg.tcp), &b, 1);
    if (rc > 0) done = static_cast<size_t>(rc);
    else if (rc != UV_EAGAIN) return false;
  }
  if (done < data->size()) {
    auto* w = new WriteReq;
    w->req.data = w;
    w->leg = &leg;
    w->data = data->substr(done);
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    leg.in_flight += w->data.size();
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&leg.tcp), &b, 1, on_written) != 0) {
      leg.in_flight -= w->data.size();
      delete w;
      return false;
    }
  }
  data->clear();
  return true;
}

void leg_start_reading(Leg& leg) {
  if (leg.reading || !leg.open || leg.closing) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&leg.tcp), on_alloc, on_read) == 0) leg.reading = true;
}

void leg_stop_reading(Leg& leg) {
  if (!leg.reading) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&leg.tcp));
  leg.reading = false;
}

void leg_close(Leg& leg) {
  if (!leg.open || leg.closing) return;
  leg.closing = true;
  leg.reading = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&leg.tcp), on_closed);
}

void leg_finish(Leg& leg) {
  if (!leg.open || leg.closing) return;
  leg_stop_reading(leg);
  if (!leg_flush(leg) || leg.in_flight == 0) {
    leg_close(leg);
    return;
  }
  leg.close_when_drained = true;
}

void leg_start_tls_server(Leg& leg, SSL_CTX* ctx) {
  leg.tls.start_server(ctx);
  leg.tls_handshaking = true;
}

void leg_start_tls_client(Leg& leg, SSL_CTX* ctx, const std::string& host, bool verify_host) {
  leg.tls.start_client(ctx, host, verify_host);
  leg.tls_handshaking = true;
  leg.tls.handshake();
  leg_flush(leg);
}

}  // namespace pgw
