// One leg of a session: the TCP connection to the client or to the server, with optional TLS,
// framing of what arrives, and buffered writes that report how much is still in flight so the
// session can stop reading the other leg (backpressure).
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>

#include "proxy/net/tls.h"
#include "proxy/wire/wire.h"

namespace pgw {

struct Leg;

// What a leg tells its owner (the session): one entry per event, called on the leg's loop.
struct LegOwner {
  virtual void on_input(Leg& leg) = 0;                               // bytes arrived (in raw or the framer)
  virtual void on_tls_ready(Leg& leg) = 0;                           // the TLS handshake completed
  virtual void on_leg_error(Leg& leg, const std::string& why) = 0;  // read, write or TLS failure, or EOF
  virtual void on_drained(Leg& leg) = 0;                             // in-flight output fell below kLowWater
  virtual void on_leg_closed(Leg& leg) = 0;                          // libuv closed the handle

 protected:
  ~LegOwner() = default;
};

struct Leg {
  Leg(LegOwner* owner, bool client, size_t max_message) : owner(owner), is_client(client), framer(max_message) {
    tcp.data = this;
  }

  uv_tcp_t tcp;
  LegOwner* owner;
  bool is_client;
  bool open = false;      // the handle is initialized and not yet closed
  bool closing = false;   // uv_close has been called
  bool reading = false;
  bool connected = false;
  bool eof = false;

  // Before the startup packet, bytes are untyped and collect in `raw`; after it, `typed` is set
  // and bytes go through the framer.
  bool typed = false;
  std::string raw;
  Framer framer;

  TlsChannel tls;
  bool tls_handshaking = false;

  // Plaintext queued by send() and not yet handed to the socket.
  std::string out;
  // Bytes handed to uv_write and not yet written.
  size_t in_flight = 0;
  // Close once everything queued is written (after a final error message).
  bool close_when_drained = false;
  // Where the bytes read from the socket are counted, if anywhere.
  std::atomic<uint64_t>* bytes_read = nullptr;
};

// Appends bytes to send; they go out on the next flush().
inline void leg_send(Leg& leg, std::string_view bytes) { leg.out.append(bytes); }
// Encrypts (if TLS) and writes everything queued. False if the connection failed.
bool leg_flush(Leg& leg);
void leg_start_reading(Leg& leg);
void leg_stop_reading(Leg& leg);
// Closes the socket; the owner is told through on_leg_closed() once libuv is done.
void leg_close(Leg& leg);
// Flushes what is queued, then closes once it has been written.
void leg_finish(Leg& leg);
// Starts TLS on an established connection; handshake records flow on the next reads/flushes.
void leg_start_tls_server(Leg& leg, SSL_CTX* ctx);
void leg_start_tls_client(Leg& leg, SSL_CTX* ctx, const std::string& host, bool verify_host);

// Output above this many bytes in flight on one leg stops reading the other leg.
inline constexpr size_t kHighWater = 1 << 20;
inline constexpr size_t kLowWater = 256 << 10;

}  // namespace pgw
