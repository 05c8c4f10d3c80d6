// SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL uses it, for both legs: pgwarden verifies clients
// against a stored verifier, and authenticates itself upstream with the role's password. Also
// PostgreSQL's md5 password hash. All primitives are OpenSSL calls.
#pragma once

#include <string>
#include <string_view>

#include "proxy/wire/encoding.h"

namespace pgw {

// A SCRAM-SHA-256 verifier as stored in pg_authid.rolpassword.
struct ScramVerifier {
  int iterations = 0;
  std::string salt;        // raw bytes
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
};

// Parses "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>".
bool parse_scram_verifier(const std::string& text, ScramVerifier* out);


std::string random_bytes(size_t n);

// A verifier for `password` with a random salt, as PostgreSQL's CREATE ROLE ... PASSWORD makes.
ScramVerifier make_scram_verifier(std::string_view password, int iterations = 4096);
std::string format_scram_verifier(const ScramVerifier& v);

// The server side of one SCRAM exchange. For an unknown user, `mock` runs the exchange against a
// made-up verifier so that the failure looks like a wrong password (no user enumeration).
struct ScramServer {
  ScramVerifier verifier;
  bool mock = false;
  // tls-server-end-point data of pgwarden's certificate when the client leg is TLS; empty when
  // SCRAM-SHA-256-PLUS is not offered.
  std::string channel_binding;

  // The mechanisms to advertise in AuthenticationSASL, each NUL-terminated, list terminated.
  std::string mechanisms() const;
  // Handles SASLInitialResponse; on success `reply` is the server-first-message.
  bool on_client_first(std::string_view mechanism, std::string_view data, std::string* reply,
                       std::string* error);
  // Handles the client-final-message; on success `reply` is the server-final-message.
  bool on_client_final(std::string_view data, std::string* reply, std::string* error);

 private:
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  std::string gs2_header_;
  bool plus_ = false;
};

// The client side of one SCRAM exchange (upstream leg, no channel binding).
struct ScramClient {
  std::string password;

  std::string client_first();
  bool on_server_first(std::string_view data, std::string* reply, std::string* error);
  bool on_server_final(std::string_view data, std::string* error);

 private:
  std::string client_nonce_;
  std::string client_first_bare_;
  std::string server_signature_;
};

// "md5" + md5(md5(password + user) + salt), PostgreSQL's AuthenticationMD5Password answer.
std::string md5_password(std::string_view user, std::string_view password, std::string_view salt);

}  // namespace pgw
