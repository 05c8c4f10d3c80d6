#include "proxy/identity/jwt.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <memory>
#include <vector>

namespace pgw {

namespace {

constexpr size_t kMaxQuoted = 64;

// A value from the token, safe to put in a message: shortened, control characters replaced.
std::string shown(std::string_view v) {
  std::string out = "\"";
  for (char c : v.substr(0, kMaxQuoted)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (v.size() > kMaxQuoted) out += "...";
  return out + "\"";
}

// Decodes one base64url part and parses it as a JSON object whose member names are unique.
bool json_object(simdjson::dom::parser& parser, std::string_view part, const char* what,
                 simdjson::dom::object* out, std::string* reason) {
  std::string json;
  if (!base64url_decode(part, &json) || parser.parse(json).get(*out) != simdjson::SUCCESS) {
    *reason = std::string("malformed token: the ") + what + " is not a base64url JSON object";
    return false;
  }
  std::set<std::string_view> seen;
  for (auto field : *out) {
    if (!seen.insert(field.key).second) {
      *reason = std::string("malformed token: the ") + what + " repeats " + shown(field.key);
      return false;
    }
  }
  return true;
}

std::string number_text(simdjson::dom::element el) {
  int64_t i;
  uint64_t u;
  double d = 0;
  if (el.get(i) == simdjson::SUCCESS) return std::to_string(i);
  if (el.get(u) == simdjson::SUCCESS) return std::to_string(u);
  if (el.get(d) != simdjson::SUCCESS) return "";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

KeyKind kind_for(std::string_view alg) { return alg == "ES256" ? KeyKind::ec_p256 : KeyKind::rsa; }

const char* kind_name(KeyKind k) { return k == KeyKind::rsa ? "RSA" : "EC P-256"; }

// The key `kid` names, or the only key that fits `alg` when the token names none.
const JwtKey* select_key(const KeySet& keys, std::string_view alg, const std::string* kid, std::string* reason) {
  if (kid) {
    for (const JwtKey& k : keys.keys)
      if (k.kid == *kid) {
        if (k.kind != kind_for(alg) || (!k.alg.empty() && k.alg != alg)) {
          *reason = "algorithm " + std::string(alg) + " does not match key " + shown(*kid) + " (" + kind_name(k.kind) + ")";
          return nullptr;
        }
        return &k;
      }
    *reason = "unknown key id " + shown(*kid) + " (not in " + keys.file + ")";
    return nullptr;
  }
  const JwtKey* only = nullptr;
  int fitting = 0;
  for (const JwtKey& k : keys.keys)
    if (k.kind == kind_for(alg) && (k.alg.empty() || k.alg == alg)) {
      only = &k;
      ++fitting;
    }
  if (fitting != 1) {
    *reason = "the token names no key id (kid) and the JWKS file has " + std::to_string(fitting) + " " +
              std::string(alg) + " keys";
    return nullptr;
  }
  return only;
}

// ES256 signatures are r || s, 32 bytes each; OpenSSL verifies the DER form of ECDSA-Sig-Value.
bool ecdsa_der(const std::string& raw, std::string* der) {
  if (raw.size() != 64) return false;
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), ECDSA_SIG_free);
  auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return false;
  der->resize(static_cast<size_t>(len));
  auto* p = reinterpret_cast<unsigned char*>(der->data());
  return i2d_ECDSA_SIG(sig.get(), &p) == len;
}

bool signature_ok(const JwtKey& key, std::string_view signing_input, std::string_view sig_part) {
  std::string sig, der;
  if (!base64url_decode(sig_part, &sig)) return false;
  if (key.kind == KeyKind::ec_p256) {
    if (!ecdsa_der(sig, &der)) return false;
    sig = std::move(der);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
  ERR_clear_error();  // a failed verification must not linger in this thread's queue for the TLS code
  return ok;
}

// The header: a supported `alg`, no `crit` extensions, and the key it selects.
const JwtKey* check_header(simdjson::dom::parser& parser, std::string_view part, const KeySet& keys, Claims* claims,
                           std::string* reason) {
  simdjson::dom::object header;
  if (!json_object(parser, part, "header", &header, reason)) return nullptr;
  std::string_view alg, kid;
  if (header["alg"].get(alg) != simdjson::SUCCESS) {
    *reason = "malformed token: the header has no alg";
    return nullptr;
  }
  if (alg != "RS256" && alg != "ES256") {
    *reason = "algorithm " + shown(alg) + " is not accepted (only RS256 and ES256)";
    return nullptr;
  }
  if (header["crit"].error() != simdjson::NO_SUCH_FIELD) {
    *reason = "the token header has crit extensions pgwarden does not support";
    return nullptr;
  }
  claims->alg = std::string(alg);
  bool has_kid = header["kid"].get(kid) == simdjson::SUCCESS;
  if (!has_kid && header["kid"].error() != simdjson::NO_SUCH_FIELD) {
    *reason = "malformed token: kid is not a string";
    return nullptr;
  }
  std::string kid_text(kid);
  const JwtKey* key = select_key(keys, alg, has_kid ? &kid_text : nullptr, reason);
  if (key) claims->kid = key->kid;
  return key;
}

bool audience_ok(simdjson::dom::element aud, const std::string& want) {
  std::string_view one;
  if (aud.get(one) == simdjson::SUCCESS) return one == want;
  simdjson::dom::array many;
  if (aud.get(many) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element el : many)
    if (el.get(one) == simdjson::SUCCESS && one == want) return true;
  return false;
}

// `iss`, `aud`, `exp` (required) and `nbf` (when present) against the policy.
bool check_registered(simdjson::dom::object payload, const TokenPolicy& policy, int64_t now, std::string* reason) {
  std::string_view iss;
  if (payload["iss"].get(iss) != simdjson::SUCCESS || iss != policy.issuer) {
    *reason = "wrong issuer: " + (payload["iss"].error() ? std::string("none") : shown(iss)) + ", expected " +
              shown(policy.issuer);
    return false;
  }
  simdjson::dom::element aud;
  if (payload["aud"].get(aud) != simdjson::SUCCESS || !audience_ok(aud, policy.audience)) {
    *reason = "wrong audience: the token is not for " + shown(policy.audience);
    return false;
  }
  double exp = 0, nbf = 0;
  if (payload["exp"].get(exp) != simdjson::SUCCESS || !std::isfinite(exp)) {
    *reason = "the token has no numeric exp (expiry) claim";
    return false;
  }
  if (static_cast<double>(now - policy.leeway_s) >= exp) {
    *reason = "token expired " + std::to_string(static_cast<int64_t>(static_cast<double>(now) - exp)) + " s ago";
    return false;
  }
  auto has_nbf = payload["nbf"];
  if (has_nbf.error() == simdjson::NO_SUCH_FIELD) return true;
  if (has_nbf.get(nbf) != simdjson::SUCCESS || !std::isfinite(nbf)) {
    *reason = "malformed token: nbf is not a number";
    return false;
  }
  if (static_cast<double>(now + policy.leeway_s) < nbf) {
    *reason = "token not valid yet (nbf is " + std::to_string(static_cast<int64_t>(nbf - static_cast<double>(now))) +
              " s ahead)";
    return false;
  }
  return true;
}

void collect_claims(simdjson::dom::object payload, Claims* claims) {
  for (auto field : payload) {
    std::string name(field.key);
    std::string_view s;
    if (field.value.get(s) == simdjson::SUCCESS) claims->text[name] = std::string(s);
    else if (field.value.is_number()) claims->text[name] = number_text(field.value);
    else claims->other.insert(name);
  }
}

}  // namespace

bool verify_jwt(std::string_view token, const KeySet& keys, const TokenPolicy& policy, int64_t now, Claims* claims,
                std::string* reason) {
  if (token.size() > kMaxTokenBytes) {
    *reason = "token longer than " + std::to_string(kMaxTokenBytes) + " bytes";
    return false;
  }
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    *reason = "malformed token: not a compact JWT (three base64url parts joined by dots)";
    return false;
  }
  thread_local simdjson::dom::parser parser;
  const JwtKey* key = check_header(parser, token.substr(0, dot1), keys, claims, reason);
  if (!key) return false;
  if (!signature_ok(*key, token.substr(0, dot2), token.substr(dot2 + 1))) {
    *reason = "bad signature (key " + shown(key->kid) + ", " + claims->alg + ")";
    return false;
  }
  simdjson::dom::object payload;
  if (!json_object(parser, token.substr(dot1 + 1, dot2 - dot1 - 1), "payload", &payload, reason)) return false;
  if (!check_registered(payload, policy, now, reason)) return false;
  collect_claims(payload, claims);
  return true;
}

bool expand_claims(std::string_view tmpl, const Claims& claims, std::string* out, std::string* error) {
  out->clear();
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '{') {
      out->push_back(tmpl[i++]);
      continue;
    }
    size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos || close == i + 1) {
      *error = "template " + shown(tmpl) + " has an unclosed or empty {";
      return false;
    }
    std::string name(tmpl.substr(i + 1, close - i - 1));
    auto it = claims.text.find(name);
    if (it == claims.text.end()) {
      *error = "the token has no claim \"" + name + "\"" + (claims.other.count(name) ? " that is a string or number" : "") +
               " (template " + shown(tmpl) + ")";
      return false;
    }
    *out += it->second;
    i = close + 1;
  }
  return true;
}

bool check_claims_template(std::string_view tmpl, std::string* error) {
  for (size_t open = tmpl.find('{'); open != std::string_view::npos; open = tmpl.find('{', open + 1)) {
    size_t close = tmpl.find('}', open);
    bool named = close != std::string_view::npos && close > open + 1 &&
                 tmpl.substr(open + 1, close - open - 1).find('{') == std::string_view::npos;
    if (!named) {
      *error = "every { must be closed by } around a claim name";
      return false;
    }
  }
  return true;
}

}  // namespace pgw
