// Fuzzes JWT and JWKS parsing and verification (jwt.h, jwks.h). The input is a JWKS document and a
// token, split at the input's last newline (no newline: a token alone). The token is verified
// against the fixed key set below (an RSA and an EC P-256 key, whose private halves signed the
// seed tokens), and against the input's key set when it parses; the claims of a verified token
// are expanded into templates as an OIDC identity's principal is. The clock is fixed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/identity/jwks.h"
#include "proxy/identity/jwt.h"

namespace {

constexpr const char* kJwks =
    "{\"keys\":[{\"kid\":\"rsa-1\",\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"s49ffuTA5Ej2uJ_bQOqIWZ-MSsqArEeJS"
    "8GYF75aQv6f1ZUiAbSVVOsXoJY-tkAB1gJr12ZUVKaQdpd3pzjg8sSSq7LIhp5yajQ3cWodfvh3sfMnOjXhdy1AuVEgKuWh1ghf5"
    "9Jb12RGLfimaaTca25d63AKQfKn1-LLeqwBUPVnRUaMlZrsUpCYFRYmJSdz5gOdmCc5Y32YCqodilEoI5mnjzfnIdWnPz1vXsdHX"
    "E31is_w75Pr8gf1vuBEfmrMMvNenHrj43kO7AKUIBH8fUgepNKKPlXKvPvoPNHJRUa3Y6tpUne5DbL8cuTKEabwAGU3d0_Yvqg4n"
    "ZstWVSchw\",\"e\":\"AQAB\"},{\"kid\":\"ec-1\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"uW61QV7lfIKG6alBPG_dBoRW5Jv5GMG6X"
    "Z9Uvw0m-14\",\"y\":\"XM-2T-hqMejP3m5nNbXArlRjjcnkqX1caCvs_-HoIt8\"}]}";

constexpr int64_t kNow = 1700000000;

void verify(std::string_view token, const pgw::KeySet& keys) {
  pgw::TokenPolicy policy{"https://token.actions.githubusercontent.com", "pgwarden", 60};
  pgw::Claims claims;
  std::string reason;
  if (!pgw::verify_jwt(token, keys, policy, kNow, &claims, &reason)) return;
  std::string out, error;
  for (const char* tmpl : {"{repository}@{ref}", "ci/{sub}/{run_attempt}", "{groups}", "{missing", "{}"}) {
    if (pgw::check_claims_template(tmpl, &error)) pgw::expand_claims(tmpl, claims, &out, &error);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pgw::KeySet fixed = [] {
    pgw::KeySet keys;
    std::string error;
    if (!pgw::parse_jwks(kJwks, &keys, &error)) __builtin_trap();
    return keys;
  }();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t newline = in.rfind('\n');
  std::string_view token = newline == in.npos ? in : in.substr(newline + 1);
  verify(token, fixed);
  if (newline == in.npos) return 0;
  pgw::KeySet keys;
  std::string error;
  if (pgw::parse_jwks(in.substr(0, newline), &keys, &error)) verify(token, keys);
  return 0;
}
