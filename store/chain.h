// The hash chains: each row's hash is SHA-256(prev_hash || canonical bytes of the row), or
// HMAC-SHA-256 under the store's key, with 32 zero bytes as the first row's prev_hash. Records
// chain in seq order; outcomes chain in the order they were written, each naming the one before
// it. The canonical bytes are unambiguous: the row's seq and kind come first, then every field in
// a fixed order, each as an 8-byte big-endian length followed by its bytes, so that no edit,
// removal, insertion or reordering of rows leaves every hash valid. A record's bytes include its
// session's fields and instance, so that a session row cannot be changed either. The anchors a
// prune leaves (audit.h) are a third chain, hashed the same way.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "store/audit.h"

namespace pgw::store {

// The prev_hash of the first row.
inline const std::string kGenesisHash(32, '\0');

// Appends the canonical bytes of the record `seq` of `session` on `instance` to `out` (the
// record's own `session` is not read).
void encode_record(int64_t seq, const std::string& instance, const SessionRecord& session,
                   const AuditRecord& record, std::string* out);
// Appends the canonical bytes of an outcome written after the outcome of record `prev` (0 for the
// first) to `out`.
void encode_outcome(int64_t prev, const Outcome& outcome, std::string* out);

// Appends the canonical bytes of an anchor (audit.h) to `out`.
void encode_anchor(const Anchor& anchor, std::string* out);

// Computes chain hashes; holds its OpenSSL contexts so that hashing a row allocates nothing.
// Not thread-safe: one per thread.
class ChainHasher {
 public:
  // Bare SHA-256 when `hmac_key` is empty, else HMAC-SHA-256 with it.
  explicit ChainHasher(const std::string& hmac_key);
  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  // The 32-byte hash of `prev_hash || canonical`; empty if OpenSSL fails.
  std::string next(std::string_view prev_hash, std::string_view canonical);

 private:
  EVP_MD* sha256_ = nullptr;
  EVP_MD_CTX* md_ctx_ = nullptr;
  EVP_MAC* hmac_ = nullptr;
  EVP_MAC_CTX* keyed_ = nullptr;  // initialized with the key; copied for each row
};

// "sha256" or "hmac-sha256": the chain a key gives, as recorded in the store's meta table.
std::string chain_name(const std::string& hmac_key);

// Hex of HMAC-SHA-256(key, a fixed label): lets the store recognize its key without keeping it.
// Empty for an empty key.
std::string key_check(const std::string& hmac_key);

// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

}  // namespace pgw::store
