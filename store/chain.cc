#include "store/chain.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include <bit>
#include <cstring>

#include "store/row.h"

namespace pgw::store {
namespace {

void put_u64(uint64_t value, std::string* out) {
  if constexpr (std::endian::native == std::endian::little) value = __builtin_bswap64(value);
  char bytes[8];
  std::memcpy(bytes, &value, 8);
  out->append(bytes, 8);
}

void put_field(std::string_view value, std::string* out) {
  put_u64(value.size(), out);
  out->append(value);
}

void put_int_field(int64_t value, std::string* out) {
  put_u64(8, out);
  put_u64(static_cast<uint64_t>(value), out);
}

// seq and kind lead every row, so a row cannot be moved or read as the other kind.
void put_header(int64_t seq, RowKind kind, std::string* out) {
  put_int_field(seq, out);
  put_int_field(static_cast<int64_t>(kind), out);
}

}  // namespace

void encode_record(int64_t seq, const std::string& instance, const SessionRecord& session,
                   const AuditRecord& r, std::string* out) {
  put_header(seq, RowKind::record, out);
  put_int_field(r.ts_us, out);
  for (const std::string* field : session_text_fields(session)) {
    put_field(*field, out);
  }
  for (const std::string* field : record_text_fields(r)) {
    put_field(*field, out);
  }
  put_int_field(r.expires_us, out);
  put_field(instance, out);
}

void encode_outcome(int64_t prev, const Outcome& o, std::string* out) {
  put_header(o.seq, RowKind::outcome, out);
  put_int_field(prev, out);
  if (o.rows) {
    put_int_field(*o.rows, out);
  } else {
    put_field("", out);  // length 0, unlike any present value (length 8)
  }
  put_field(o.sqlstate, out);
  put_field(o.error, out);
  put_int_field(static_cast<int64_t>(std::bit_cast<uint64_t>(o.duration_ms)), out);
  put_int_field(o.masked_values, out);
  put_field(o.decision, out);
  put_field(o.approver, out);
}

void encode_anchor(const Anchor& a, std::string* out) {
  put_header(a.number, RowKind::anchor, out);
  for (int64_t value : {a.first_seq, a.last_seq, a.before_us, a.pruned_us, a.records, a.outcomes}) {
    put_int_field(value, out);
  }
  put_field(a.record_hash, out);
  put_int_field(a.outcome_seq, out);
  put_field(a.outcome_hash, out);
  put_field(a.instance, out);
}

ChainHasher::ChainHasher(const std::string& hmac_key) {
  if (hmac_key.empty()) {
    sha256_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    md_ctx_ = EVP_MD_CTX_new();
    return;
  }
  hmac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac_ == nullptr) return;
  keyed_ = EVP_MAC_CTX_new(hmac_);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
  if (keyed_ != nullptr &&
      EVP_MAC_init(keyed_, reinterpret_cast<const unsigned char*>(hmac_key.data()),
                   hmac_key.size(), params) != 1) {
    EVP_MAC_CTX_free(keyed_);
    keyed_ = nullptr;
  }
}

ChainHasher::~ChainHasher() {
  EVP_MAC_CTX_free(keyed_);
  EVP_MAC_free(hmac_);
  EVP_MD_CTX_free(md_ctx_);
  EVP_MD_free(sha256_);
}

std::string ChainHasher::next(std::string_view prev_hash, std::string_view canonical) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  auto* buf = reinterpret_cast<unsigned char*>(out.data());
  if (keyed_ != nullptr) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_);
    size_t len = 0;
    bool ok = ctx != nullptr &&
              EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(prev_hash.data()),
                             prev_hash.size()) == 1 &&
              EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(canonical.data()),
                             canonical.size()) == 1 &&
              EVP_MAC_final(ctx, buf, &len, out.size()) == 1;
    EVP_MAC_CTX_free(ctx);
    out.resize(ok ? len : 0);
    return out;
  }
  unsigned int len = 0;
  bool ok = md_ctx_ != nullptr && sha256_ != nullptr &&
            EVP_DigestInit_ex2(md_ctx_, sha256_, nullptr) == 1 &&
            EVP_DigestUpdate(md_ctx_, prev_hash.data(), prev_hash.size()) == 1 &&
            EVP_DigestUpdate(md_ctx_, canonical.data(), canonical.size()) == 1 &&
            EVP_DigestFinal_ex(md_ctx_, buf, &len) == 1;
  out.resize(ok ? len : 0);
  return out;
}

std::string chain_name(const std::string& hmac_key) {
  return hmac_key.empty() ? "sha256" : "hmac-sha256";
}

std::string key_check(const std::string& hmac_key) {
  if (hmac_key.empty()) return {};
  return to_hex(ChainHasher(hmac_key).next("", "pgwarden audit key check"));
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

}  // namespace pgw::store
