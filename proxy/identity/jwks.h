// JWKS files (RFC 7517): the public keys an OIDC issuer signs its tokens with, read from a file
// the operator downloads (pgwarden never fetches keys over the network). RSA keys (n, e) and EC
// P-256 keys (x, y) become OpenSSL EVP_PKEYs; other key types and keys not meant for signatures
// are skipped, and a file with no usable key is an error.
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/wire/encoding.h"

namespace pgw {

// What a key can verify: RS256 needs an RSA key, ES256 an EC P-256 key.
enum class KeyKind { rsa, ec_p256 };

// One verification key of a JWKS file.
struct JwtKey {
  std::string kid;  // empty when the file gives none
  KeyKind kind = KeyKind::rsa;
  std::string alg;  // the key's `alg` when given (then tokens must use exactly it), else empty
  std::shared_ptr<EVP_PKEY> pkey;
};

// The usable keys of one JWKS file.
struct KeySet {
  std::string file;
  std::vector<JwtKey> keys;
};

// The keys of one `identities.oidc` entry, swapped whole when the file is read again, so
// sessions on any worker always see one complete key set.
struct KeyRing {
  std::string file;
  std::atomic<std::shared_ptr<const KeySet>> current;
};

// Parses the JSON text of a JWKS document. False with `error` saying which key and field is wrong.
bool parse_jwks(std::string_view json, KeySet* out, std::string* error);
// Reads and parses the JWKS file at `path`; `error` then starts with the path.
bool load_jwks(const std::string& path, KeySet* out, std::string* error);
// Reads the ring's file again and puts the new keys in force; false (with `error`) keeps the old.
bool reload_key_ring(KeyRing* ring, std::string* error);


}  // namespace pgw
