// Helpers shared by the OIDC unit tests: keys generated with OpenSSL at test time, their JWKS
// entries, and tokens signed with them (RS256, ES256, HS256 and unsigned).
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "proxy/identity/jwks.h"
#include "proxy/identity/scram.h"

namespace pgw::testing {

using Pkey = std::shared_ptr<EVP_PKEY>;

inline Pkey rsa_key(unsigned bits = 2048) {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)), EVP_PKEY_free);
}

inline Pkey ec_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free); }

inline std::string b64url(std::string_view bytes) {
  std::string s = base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

inline std::string bn_param(EVP_PKEY* k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error(std::string("no key parameter ") + name);
  std::string out(pad ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

// The JWKS entry of `k`'s public half; `extra` is added verbatim (like `,"alg":"RS256"`).
inline std::string jwk(const Pkey& k, const std::string& kid, const std::string& extra = "") {
  std::string id = kid.empty() ? "" : "\"kid\":\"" + kid + "\",";
  if (EVP_PKEY_is_a(k.get(), "RSA"))
    return "{" + id + "\"kty\":\"RSA\",\"n\":\"" + b64url(bn_param(k.get(), OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
           b64url(bn_param(k.get(), OSSL_PKEY_PARAM_RSA_E)) + "\"" + extra + "}";
  return "{" + id + "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + b64url(bn_param(k.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32)) +
         "\",\"y\":\"" + b64url(bn_param(k.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"" + extra + "}";
}

inline KeySet key_set(const std::string& jwks_json) {
  KeySet ks;
  std::string error;
  if (!parse_jwks(jwks_json, &ks, &error)) throw std::runtime_error("test JWKS rejected: " + error);
  ks.file = "test-jwks.json";
  return ks;
}

// A signature of `input` with `k` as JOSE wants it (ES256: raw r || s).
inline std::string sign(const Pkey& k, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k.get());
  auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
  sig.resize(len);
  if (!EVP_PKEY_is_a(k.get(), "EC")) return sig;
  auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

// A compact JWT of `header` and `payload` (JSON texts) signed with `k`.
inline std::string token(const std::string& header, const std::string& payload, const Pkey& k) {
  std::string input = b64url(header) + "." + b64url(payload);
  return input + "." + b64url(sign(k, input));
}

// The PEM of `k`'s public key: what an attacker would use as the HMAC secret in HS256 confusion.
inline std::string public_pem(const Pkey& k) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), k.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

inline std::string hs256_token(const std::string& header, const std::string& payload, const std::string& secret) {
  std::string input = b64url(header) + "." + b64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + b64url(std::string(reinterpret_cast<char*>(mac), len));
}

inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace pgw::testing
