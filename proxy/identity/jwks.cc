#include "proxy/identity/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "proxy/identity/scram.h"

namespace pgw {

namespace {

constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxJwksBytes = 1u << 20;

using Params = std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)>;
using Bignum = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

// A required base64url string member of a key object, decoded.
bool member_bytes(simdjson::dom::object key, const char* name, std::string* out, std::string* error) {
  std::string_view text;
  if (key[name].get(text) != simdjson::SUCCESS) {
    *error = std::string("missing or not a string: ") + name;
    return false;
  }
  if (!base64url_decode(text, out) || out->empty()) {
    *error = std::string("not base64url: ") + name;
    return false;
  }
  return true;
}

// Builds a public key of `type` ("RSA" or "EC") from OpenSSL parameters and checks it.
std::shared_ptr<EVP_PKEY> pkey_from(const char* type, OSSL_PARAM_BLD* bld, std::string* error) {
  Params params(OSSL_PARAM_BLD_to_param(bld), OSSL_PARAM_free);
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    *error = "OpenSSL does not accept the key parameters";
    return nullptr;
  }
  std::shared_ptr<EVP_PKEY> pkey(raw, EVP_PKEY_free);
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr), EVP_PKEY_CTX_free);
  if (!check || EVP_PKEY_public_check(check.get()) <= 0) {
    *error = "not a valid public key";
    return nullptr;
  }
  return pkey;
}

bool rsa_key(simdjson::dom::object key, JwtKey* out, std::string* error) {
  std::string n, e;
  if (!member_bytes(key, "n", &n, error) || !member_bytes(key, "e", &e, error)) return false;
  Bignum bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr), BN_free);
  Bignum bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr), BN_free);
  if (BN_num_bits(bn_n.get()) < kMinRsaBits) {
    *error = "RSA modulus has " + std::to_string(BN_num_bits(bn_n.get())) + " bits, fewer than " +
             std::to_string(kMinRsaBits);
    return false;
  }
  ParamBuilder bld(OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  out->kind = KeyKind::rsa;
  out->pkey = pkey_from("RSA", bld.get(), error);
  return out->pkey != nullptr;
}

bool ec_key(simdjson::dom::object key, JwtKey* out, std::string* error) {
  std::string_view crv;
  if (key["crv"].get(crv) != simdjson::SUCCESS || crv != "P-256") {
    *error = "crv: only P-256 EC keys are supported";
    return false;
  }
  std::string x, y;
  if (!member_bytes(key, "x", &x, error) || !member_bytes(key, "y", &y, error)) return false;
  if (x.size() != 32 || y.size() != 32) {
    *error = "x and y of a P-256 key must be 32 bytes each";
    return false;
  }
  std::string point = "\x04" + x + y;
  ParamBuilder bld(OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  out->kind = KeyKind::ec_p256;
  out->pkey = pkey_from("EC", bld.get(), error);
  return out->pkey != nullptr;
}

// One entry of `keys`; `*usable` is false for keys pgwarden skips (other types, encryption keys).
bool parse_key(simdjson::dom::element el, JwtKey* out, bool* usable, std::string* error) {
  simdjson::dom::object key;
  if (el.get(key) != simdjson::SUCCESS) {
    *error = "expected an object";
    return false;
  }
  std::string_view kty, use, kid, alg;
  if (key["kty"].get(kty) != simdjson::SUCCESS) {
    *error = "missing or not a string: kty";
    return false;
  }
  *usable = (kty == "RSA" || kty == "EC") && (key["use"].get(use) != simdjson::SUCCESS || use == "sig");
  if (!*usable) return true;
  if (key["kid"].get(kid) == simdjson::SUCCESS) out->kid = std::string(kid);
  if (key["alg"].get(alg) == simdjson::SUCCESS) out->alg = std::string(alg);
  if (!out->alg.empty() && out->alg != (kty == "RSA" ? "RS256" : "ES256")) {
    *usable = false;  // a key for an algorithm pgwarden does not accept
    return true;
  }
  return kty == "RSA" ? rsa_key(key, out, error) : ec_key(key, out, error);
}

}  // namespace


bool parse_jwks(std::string_view json, KeySet* out, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  simdjson::dom::array keys;
  if (auto e = parser.parse(padded).get(doc); e != simdjson::SUCCESS) {
    *error = std::string("not valid JSON: ") + simdjson::error_message(e);
    return false;
  }
  if (doc["keys"].get(keys) != simdjson::SUCCESS) {
    *error = "expected an object with a \"keys\" array";
    return false;
  }
  size_t index = 0;
  for (simdjson::dom::element el : keys) {
    JwtKey key;
    bool usable = false;
    std::string why;
    if (!parse_key(el, &key, &usable, &why)) {
      *error = "keys[" + std::to_string(index) + "]" + (key.kid.empty() ? "" : " (kid \"" + key.kid + "\")") + ": " + why;
      return false;
    }
    for (const JwtKey& other : out->keys)
      if (usable && !key.kid.empty() && other.kid == key.kid) {
        *error = "keys[" + std::to_string(index) + "]: duplicate kid \"" + key.kid + "\"";
        return false;
      }
    if (usable) out->keys.push_back(std::move(key));
    ++index;
  }
  if (out->keys.empty()) {
    *error = "no RS256 or ES256 signing key (RSA, or EC P-256) in \"keys\"";
    return false;
  }
  return true;
}

bool load_jwks(const std::string& path, KeySet* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in) {
    *error = path + ": cannot read the JWKS file";
    return false;
  }
  if (text.str().size() > kMaxJwksBytes) {
    *error = path + ": JWKS file larger than 1 MiB";
    return false;
  }
  out->file = path;
  if (parse_jwks(text.str(), out, error)) return true;
  *error = path + ": " + *error;
  return false;
}

bool reload_key_ring(KeyRing* ring, std::string* error) {
  auto keys = std::make_shared<KeySet>();
  if (!load_jwks(ring->file, keys.get(), error)) return false;
  ring->current.store(std::move(keys), std::memory_order_release);
  return true;
}

}  // namespace pgw
