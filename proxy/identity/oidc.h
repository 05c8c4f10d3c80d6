// CI workload identity (SPEC section 5): a client connecting as an `identities.oidc` user sends a
// JWT from its CI system as the password. The token is verified offline against the entry's JWKS
// file, and the principal, job id and commit of the session come from its claims through the
// entry's templates. The password travels in clear, so it is accepted only over TLS or from the
// entry's `plain_tcp_from` addresses (loopback by default).
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/identity/jwks.h"
#include "rules/cidr.h"

namespace pgw {

// 127.0.0.0/8 and ::1/128: the default of `plain_tcp_from`.
std::vector<rules::Cidr> loopback_ranges();
// True when the textual client address `addr` lies in one of `ranges` (IPv4-mapped IPv6
// addresses count as their IPv4 address).
bool address_in_ranges(const std::string& addr, const std::vector<rules::Cidr>& ranges);

// A CI workload identity: the client connects as `user` and sends a JWT as its password.
struct OidcIdentity {
  std::string issuer;
  std::string audience;
  std::string jwks_file;
  std::string user;
  std::string principal_template;
  std::string job_id_template;
  std::string commit_template;
  std::string upstream_role;
  std::chrono::seconds leeway{60};           // clock skew tolerated on exp and nbf
  std::vector<rules::Cidr> plain_tcp_from;  // who may send the token without TLS (loopback by default)
  std::shared_ptr<KeyRing> keys;             // the JWKS file's keys, read at load (again by reload_oidc_keys)
};

// Whether a token may be asked for on this connection: over TLS always, over plain TCP only from
// the identity's `plain_tcp_from`.
bool token_allowed_on(const OidcIdentity& id, bool tls, const std::string& client_addr);

// What a verified token says about the client.
struct OidcLogin {
  std::string principal;
  std::string job_id;  // empty when the identity has no job_id template
  std::string commit;  // empty when the identity has no commit template
  std::string claims;  // "name=value, ..." of the claims the templates used, for logs and SHOW SESSIONS
  std::string kid;     // the JWKS key that verified the token
};

// Verifies `token` for identity `id` at unix time `now` and expands its templates. False with
// `reason` naming the failed check or the missing claim; the token itself is never in `reason`.
bool oidc_authenticate(const OidcIdentity& id, std::string_view token, int64_t now, OidcLogin* out,
                       std::string* reason);

// Reads every OIDC identity's JWKS file again (SIGHUP). A file that fails keeps its previous keys
// and adds an error naming it; the others are replaced.
bool reload_oidc_keys(const std::vector<OidcIdentity>& identities, std::vector<std::string>* errors);

}  // namespace pgw
