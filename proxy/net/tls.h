// TLS for both legs over libuv streams: OpenSSL runs on memory BIOs, so the event loop moves
// ciphertext between the socket and OpenSSL and never blocks in a TLS call.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace pgw {

// The client-facing context from a certificate and key; nullptr and `error` on failure.
SSL_CTX* make_server_tls(const std::string& cert_file, const std::string& key_file, std::string* error);
// The upstream context; with `verify` the server's certificate must chain to `ca_file` and match
// the host name given to TlsChannel::start_client.
SSL_CTX* make_client_tls(const std::string& ca_file, bool verify, std::string* error);

// The tls-server-end-point channel binding data (RFC 5929) of the context's certificate: a hash
// of it with the certificate's signature digest (SHA-256 for MD5/SHA-1). Empty if unavailable.
std::string server_end_point(SSL_CTX* ctx);

// One TLS session over a byte stream.
class TlsChannel {
 public:
  TlsChannel() = default;
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;
  ~TlsChannel();

  void start_server(SSL_CTX* ctx);
  void start_client(SSL_CTX* ctx, const std::string& host, bool verify_host);

  // Ciphertext received from the socket.
  void put_cipher(const char* data, size_t len);
  // Advances the handshake: 1 done, 0 needs more input, -1 failed (see error()).
  int handshake();
  // Decrypts into `buf`: bytes read, 0 when no more plaintext now, -1 on error or close_notify.
  int read(char* buf, size_t len);
  // Encrypts plaintext for sending; false on error.
  bool write(std::string_view plain);
  // Moves pending ciphertext (handshake records or encrypted data) to the end of `out`.
  void take_cipher(std::string& out);
  bool active() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }

 private:
  void note_error(const char* what);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  std::string error_;
};

}  // namespace pgw
