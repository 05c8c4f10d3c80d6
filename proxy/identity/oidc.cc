#include "proxy/identity/oidc.h"

#include <arpa/inet.h>

#include <cstring>

#include "proxy/wire/decimal.h"
#include "proxy/identity/jwt.h"

namespace pgw {

namespace {

// Parses a bare IPv4 or IPv6 address into `out` (family and bytes).
bool parse_address(const std::string& text, AddressRange* out) {
  if (inet_pton(AF_INET, text.c_str(), out->bytes.data()) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out->bytes.data()) != 1) return false;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  out->family = AF_INET6;
  if (std::memcmp(out->bytes.data(), mapped, sizeof mapped) == 0) {
    std::memmove(out->bytes.data(), out->bytes.data() + 12, 4);
    out->family = AF_INET;
  }
  return true;
}

bool in_range(const AddressRange& a, const AddressRange& r) {
  if (a.family != r.family) return false;
  int full = r.prefix / 8, rest = r.prefix % 8;
  if (std::memcmp(a.bytes.data(), r.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a.bytes[static_cast<size_t>(full)] & mask) == (r.bytes[static_cast<size_t>(full)] & mask);
}

// The claim names a template uses, in order, each once.
void template_claims(std::string_view tmpl, std::vector<std::string>* names) {
  for (size_t open = tmpl.find('{'); open != std::string_view::npos; open = tmpl.find('{', open + 1)) {
    size_t close = tmpl.find('}', open);
    if (close == std::string_view::npos) return;
    std::string name(tmpl.substr(open + 1, close - open - 1));
    bool seen = false;
    for (const auto& n : *names) seen = seen || n == name;
    if (!seen) names->push_back(std::move(name));
  }
}

std::string claims_summary(const OidcIdentity& id, const Claims& claims) {
  std::vector<std::string> names;
  for (const std::string* t : {&id.principal_template, &id.job_id_template, &id.commit_template})
    template_claims(*t, &names);
  std::string out;
  for (const auto& n : names) {
    auto it = claims.text.find(n);
    if (it != claims.text.end()) out += (out.empty() ? "" : ", ") + n + "=" + it->second;
  }
  return out;
}

}  // namespace

bool parse_address_range(std::string_view text, AddressRange* out) {
  size_t slash = text.find('/');
  if (!parse_address(std::string(text.substr(0, slash)), out)) return false;
  int max = out->family == AF_INET ? 32 : 128;
  if (slash == std::string_view::npos) {
    out->prefix = max;
    return true;
  }
  std::string_view digits = text.substr(slash + 1);
  return digits.size() <= 3 && parse_decimal(digits, &out->prefix) && out->prefix <= max;
}

std::vector<AddressRange> loopback_ranges() {
  std::vector<AddressRange> out(2);
  parse_address_range("127.0.0.0/8", &out[0]);
  parse_address_range("::1/128", &out[1]);
  return out;
}

bool address_in_ranges(const std::string& addr, const std::vector<AddressRange>& ranges) {
  AddressRange a;
  if (!parse_address(addr, &a)) return false;
  for (const auto& r : ranges)
    if (in_range(a, r)) return true;
  return false;
}

bool token_allowed_on(const OidcIdentity& id, bool tls, const std::string& client_addr) {
  return tls || address_in_ranges(client_addr, id.plain_tcp_from);
}

bool oidc_authenticate(const OidcIdentity& id, std::string_view token, int64_t now, OidcLogin* out,
                       std::string* reason) {
  std::shared_ptr<const KeySet> keys = id.keys->current.load(std::memory_order_acquire);
  TokenPolicy policy{id.issuer, id.audience, id.leeway.count()};
  Claims claims;
  if (!verify_jwt(token, *keys, policy, now, &claims, reason)) return false;
  if (!expand_claims(id.principal_template, claims, &out->principal, reason) ||
      !expand_claims(id.job_id_template, claims, &out->job_id, reason) ||
      !expand_claims(id.commit_template, claims, &out->commit, reason))
    return false;
  if (out->principal.empty()) {
    *reason = "the principal template gives an empty principal";
    return false;
  }
  out->claims = claims_summary(id, claims);
  out->kid = claims.kid;
  return true;
}

bool reload_oidc_keys(const std::vector<OidcIdentity>& identities, std::vector<std::string>* errors) {
  size_t before = errors->size();
  for (const OidcIdentity& id : identities) {
    std::string error;
    if (!reload_key_ring(id.keys.get(), &error)) errors->push_back(error);
  }
  return errors->size() == before;
}

}  // namespace pgw
