#include "proxy/identity/oidc.h"

#include <algorithm>

#include "proxy/identity/jwt.h"

namespace pgw {

namespace {

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

std::vector<rules::Cidr> loopback_ranges() {
  std::vector<rules::Cidr> out(2);
  std::string error;
  rules::parse_cidr("127.0.0.0/8", &out[0], &error);
  rules::parse_cidr("::1/128", &out[1], &error);
  return out;
}

bool address_in_ranges(const std::string& addr, const std::vector<rules::Cidr>& ranges) {
  std::optional<rules::Address> a = rules::parse_address(addr);
  return a && std::any_of(ranges.begin(), ranges.end(), [&](const rules::Cidr& r) { return rules::cidr_contains(r, *a); });
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
