// Token verification micro-benchmark: what pgwarden spends on the password of an OIDC login.
// Generates an RSA-2048 and an EC P-256 key, writes their JWKS document and reads it back with
// parse_jwks (as pgwarden loads the issuer's file), signs a token shaped like a GitHub Actions ID
// token with each, then times verify_jwt on them: signature, header, issuer, audience, expiry and
// claims. A token with a forged signature shows the cost of a refusal. Prints verifications per
// second and the median and 99th percentile in microseconds.
//
// Usage: oidc_bench [verifications per token, default 5000]
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "proxy/identity/jwks.h"
#include "proxy/identity/jwt.h"

namespace {

using Clock = std::chrono::steady_clock;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

constexpr const char* kIssuer = "https://token.actions.githubusercontent.com";
constexpr const char* kAudience = "pgwarden";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "oidc_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string bytes(const unsigned char* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

// Unpadded base64url (RFC 4648 section 5) of `raw`, as JOSE writes it.
std::string base64url(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// The big-endian bytes of an RSA key's parameter `name` (n or e).
std::string rsa_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) fail(std::string("no RSA parameter ") + name);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// A JWKS document listing the public halves of `rsa` (kid rsa-1) and `ec` (kid ec-1).
std::string jwks_json(EVP_PKEY* rsa, EVP_PKEY* ec) {
  unsigned char point[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) != 1 || len != 65 ||
      point[0] != 4)
    fail("the EC key's public point is not an uncompressed P-256 point");
  return std::string("{\"keys\":[") + "{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"" +
         base64url(rsa_param(rsa, OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
         base64url(rsa_param(rsa, OSSL_PKEY_PARAM_RSA_E)) + "\"}," +
         "{\"kty\":\"EC\",\"kid\":\"ec-1\",\"use\":\"sig\",\"crv\":\"P-256\",\"x\":\"" + base64url(bytes(point + 1, 32)) +
         "\",\"y\":\"" + base64url(bytes(point + 33, 32)) + "\"}]}";
}

// The claims of a GitHub Actions ID token for a push to main, valid for the next hour.
std::string payload_json(int64_t now) {
  std::string t = std::to_string(now);
  return std::string("{\"jti\":\"6f4d8f0e-3c1b-4f5e-9a51-7d0c2a9b1e33\",\"sub\":\"repo:acme/app:ref:refs/heads/main\",") +
         "\"aud\":\"" + kAudience + "\",\"ref\":\"refs/heads/main\",\"sha\":\"3f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39\"," +
         "\"repository\":\"acme/app\",\"repository_owner\":\"acme\",\"repository_owner_id\":\"1234567\"," +
         "\"run_id\":\"9812345678\",\"run_number\":\"412\",\"run_attempt\":\"1\",\"repository_visibility\":\"private\"," +
         "\"repository_id\":\"7654321\",\"actor_id\":\"42\",\"actor\":\"jane\",\"workflow\":\"migrate\"," +
         "\"head_ref\":\"\",\"base_ref\":\"\",\"event_name\":\"push\",\"ref_type\":\"branch\"," +
         "\"workflow_ref\":\"acme/app/.github/workflows/migrate.yml@refs/heads/main\"," +
         "\"job_workflow_ref\":\"acme/app/.github/workflows/migrate.yml@refs/heads/main\"," +
         "\"runner_environment\":\"github-hosted\",\"iss\":\"" + kIssuer + "\",\"nbf\":" + std::to_string(now - 5) +
         ",\"exp\":" + std::to_string(now + 3600) + ",\"iat\":" + t + "}";
}

// JOSE's r || s (32 bytes each) from OpenSSL's DER ECDSA-Sig-Value.
std::string ecdsa_raw(const std::string& der) {
  auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
                                                            ECDSA_SIG_free);
  if (!sig) fail("cannot decode the ECDSA signature");
  unsigned char raw[64];
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, 32) != 32 || BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + 32, 32) != 32)
    fail("ECDSA signature does not fit 64 bytes");
  return bytes(raw, sizeof raw);
}

// A compact JWT of `payload` signed with `key` (SHA-256; ES256 when the key is EC).
std::string sign_token(EVP_PKEY* key, bool ec, const std::string& payload) {
  std::string header = std::string("{\"typ\":\"JWT\",\"alg\":\"") + (ec ? "ES256" : "RS256") + "\",\"kid\":\"" +
                       (ec ? "ec-1" : "rsa-1") + "\"}";
  std::string input = base64url(header) + "." + base64url(payload);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1)
    fail("cannot sign the token");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1)
    fail("cannot sign the token");
  sig.resize(len);
  return input + "." + base64url(ec ? ecdsa_raw(sig) : sig);
}

// The same token with the last signature character changed: verify_jwt must refuse it.
std::string forged(std::string token) {
  token[token.size() - 2] = token[token.size() - 2] == 'A' ? 'B' : 'A';
  return token;
}

struct Case {
  const char* name;
  std::string token;
  bool valid;
};

// Verifies `c.token` `n` times and prints verifications per second, median and p99.
void run(const Case& c, const pgw::KeySet& keys, int n) {
  pgw::TokenPolicy policy{kIssuer, kAudience, 60};
  int64_t now = std::time(nullptr);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    pgw::Claims claims;
    std::string reason;
    auto t0 = Clock::now();
    bool ok = pgw::verify_jwt(c.token, keys, policy, now, &claims, &reason);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (ok != c.valid) fail(std::string(c.name) + ": unexpected verification result: " + (ok ? "accepted" : reason));
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(us.begin(), us.end());
  std::printf("%-22s %6zu %12.0f %10.1f %10.1f\n", c.name, c.token.size(), n / seconds, us[us.size() / 2],
              us[us.size() * 99 / 100]);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  if (n <= 0) fail("usage: oidc_bench [verifications per token]");
  PkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)), EVP_PKEY_free);
  PkeyPtr ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  if (!rsa || !ec) fail("cannot generate the RSA-2048 and EC P-256 keys");
  pgw::KeySet keys;
  keys.file = "bench-jwks.json";
  std::string error;
  if (!pgw::parse_jwks(jwks_json(rsa.get(), ec.get()), &keys, &error)) fail("JWKS refused: " + error);

  std::string payload = payload_json(std::time(nullptr));
  std::string rs256 = sign_token(rsa.get(), false, payload);
  std::vector<Case> cases = {
      {"RS256 (RSA-2048)", rs256, true},
      {"ES256 (P-256)", sign_token(ec.get(), true, payload), true},
      {"RS256 bad signature", forged(rs256), false},
  };
  std::printf("token verification, %d verifications per token, one thread\n", n);
  std::printf("%-22s %6s %12s %10s %10s\n", "token", "bytes", "verifies/s", "median us", "p99 us");
  for (const Case& c : cases) run(c, keys, n);
  return 0;
}
