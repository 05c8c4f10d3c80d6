// Offline verification of compact JWTs (RFC 7519) as OIDC issuers mint them for CI jobs: the
// signature (RS256 or ES256 only) against a JWKS key set, then `iss`, `aud`, `exp` and `nbf`.
// Every refusal says which check failed and never repeats the token.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "proxy/identity/jwks.h"

namespace pgw {

// Longest token accepted; real CI tokens are 1-3 KB.
constexpr size_t kMaxTokenBytes = 16u << 10;

// What a token must say to be accepted.
struct TokenPolicy {
  std::string issuer;    // `iss` must equal it
  std::string audience;  // `aud` (a string or an array) must contain it
  int64_t leeway_s = 60; // clock skew tolerated on `exp` and `nbf`
};

// The payload of a verified token. String and number claims as text (numbers in their shortest
// decimal form), for templates; the names of claims of other types (objects, arrays, booleans).
struct Claims {
  std::map<std::string, std::string> text;
  std::set<std::string> other;
  std::string kid;  // the key that verified the signature (empty when the JWKS key has none)
  std::string alg;
};

// Verifies `token` against `keys` and `policy` at unix time `now`. False with `reason` naming the
// failed check (malformed, algorithm, key, signature, issuer, audience, expired, not yet valid).
bool verify_jwt(std::string_view token, const KeySet& keys, const TokenPolicy& policy, int64_t now, Claims* claims,
                std::string* reason);

// Replaces each `{claim}` of `tmpl` with the claim's text. False with `error` naming a missing
// claim, a claim that is not a string or number, or an unclosed `{`.
bool expand_claims(std::string_view tmpl, const Claims& claims, std::string* out, std::string* error);

// Checks the shape of a template (every `{` closed by a `}` around a non-empty name) at config time.
bool check_claims_template(std::string_view tmpl, std::string* error);

}  // namespace pgw
