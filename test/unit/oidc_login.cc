// An OIDC identity's login: where a token may be sent in clear, and what a verified token gives
// the session (principal, job id, commit, the claims behind them).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "proxy/config/config.h"
#include "proxy/identity/oidc.h"
#include "test/unit/oidc_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

std::vector<rules::Cidr> ranges(std::initializer_list<const char*> texts) {
  std::vector<rules::Cidr> out;
  for (const char* t : texts) {
    rules::Cidr r;
    std::string error;
    REQUIRE(rules::parse_cidr(t, &r, &error));
    out.push_back(r);
  }
  return out;
}

struct Identity {
  Pkey key = ec_key();
  OidcIdentity id;
  int64_t now = unix_now();

  Identity() {
    id.issuer = "https://gitlab.example";
    id.audience = "pgwarden";
    id.user = "ci";
    id.principal_template = "ci:{project_path}@{ref}";
    id.job_id_template = "{pipeline_id}-{job_id}";
    id.commit_template = "{sha}";
    id.plain_tcp_from = loopback_ranges();
    id.keys = std::make_shared<KeyRing>();
    id.keys->current.store(std::make_shared<const KeySet>(key_set("{\"keys\":[" + jwk(key, "g1") + "]}")));
  }

  std::string token_with(const std::string& claims) const {
    return token(R"({"alg":"ES256","kid":"g1"})",
                 "{\"iss\":\"https://gitlab.example\",\"aud\":[\"pgwarden\"],\"exp\":" + std::to_string(now + 300) + claims +
                     "}",
                 key);
  }
};

}  // namespace

TEST_CASE("plain_tcp_from ranges") {
  auto loop = loopback_ranges();
  CHECK(address_in_ranges("127.0.0.1", loop));
  CHECK(address_in_ranges("127.8.9.10", loop));
  CHECK(address_in_ranges("::1", loop));
  CHECK(address_in_ranges("::ffff:127.0.0.1", loop));
  CHECK_FALSE(address_in_ranges("10.1.2.3", loop));
  CHECK_FALSE(address_in_ranges("::2", loop));
  CHECK_FALSE(address_in_ranges("", loop));
  auto lan = ranges({"192.168.16.0/20"});
  CHECK(address_in_ranges("192.168.31.255", lan));
  CHECK_FALSE(address_in_ranges("192.168.32.0", lan));
}

TEST_CASE("a token is asked for over TLS, or over plain TCP only from plain_tcp_from") {
  Identity t;
  CHECK(token_allowed_on(t.id, false, "127.0.0.1"));
  CHECK_FALSE(token_allowed_on(t.id, false, "10.0.0.7"));
  CHECK(token_allowed_on(t.id, true, "10.0.0.7"));
  t.id.plain_tcp_from = ranges({"10.0.0.0/24"});
  CHECK_FALSE(token_allowed_on(t.id, false, "127.0.0.1"));
  CHECK(token_allowed_on(t.id, false, "10.0.0.7"));
  t.id.plain_tcp_from.clear();
  CHECK_FALSE(token_allowed_on(t.id, false, "127.0.0.1"));
  CHECK(token_allowed_on(t.id, true, "127.0.0.1"));
}

TEST_CASE("a verified token gives the principal, job id and commit from its claims") {
  Identity t;
  OidcLogin login;
  std::string reason;
  std::string tok = t.token_with(
      R"(,"project_path":"acme/app","ref":"main","pipeline_id":"981","job_id":4410,"sha":"3f2a9c1","user_email":"x@y")");
  REQUIRE(oidc_authenticate(t.id, tok, t.now, &login, &reason));
  CHECK(login.principal == "ci:acme/app@main");
  CHECK(login.job_id == "981-4410");
  CHECK(login.commit == "3f2a9c1");
  CHECK(login.claims == "project_path=acme/app, ref=main, pipeline_id=981, job_id=4410, sha=3f2a9c1");
  CHECK(login.kid == "g1");
}

TEST_CASE("a template naming a missing claim refuses the login and names the claim") {
  Identity t;
  OidcLogin login;
  std::string reason;
  std::string tok = t.token_with(R"(,"project_path":"acme/app","ref":"main","pipeline_id":"981","job_id":4410)");
  CHECK_FALSE(oidc_authenticate(t.id, tok, t.now, &login, &reason));
  CHECK_THAT(reason, Catch::Contains("no claim \"sha\""));
  t.id.commit_template.clear();
  REQUIRE(oidc_authenticate(t.id, tok, t.now, &login, &reason));
  CHECK(login.commit.empty());
  t.id.principal_template = "{ref}";
  CHECK_FALSE(oidc_authenticate(t.id, t.token_with(R"(,"ref":"","pipeline_id":1,"job_id":2)"), t.now, &login, &reason));
  CHECK_THAT(reason, Catch::Contains("empty principal"));
}

TEST_CASE("the identity's issuer, audience and leeway apply") {
  Identity t;
  OidcLogin login;
  std::string reason;
  std::string tok = t.token_with(R"(,"project_path":"a","ref":"b","pipeline_id":1,"job_id":2,"sha":"c")");
  t.id.audience = "other";
  CHECK_FALSE(oidc_authenticate(t.id, tok, t.now, &login, &reason));
  CHECK_THAT(reason, Catch::Contains("wrong audience"));
  t.id.audience = "pgwarden";
  t.id.leeway = std::chrono::seconds(0);
  CHECK_FALSE(oidc_authenticate(t.id, tok, t.now + 300, &login, &reason));
  CHECK_THAT(reason, Catch::Contains("expired"));
  t.id.leeway = std::chrono::seconds(10);
  CHECK(oidc_authenticate(t.id, tok, t.now + 305, &login, &reason));
}

TEST_CASE("reload_oidc_keys replaces keys from valid files and keeps them on a bad one") {
  Identity t;
  std::string path = (std::filesystem::temp_directory_path() / "pgw_oidc_XXXXXX").string();
  close(mkstemp(path.data()));
  Pkey rotated = ec_key();
  Config cfg;
  cfg.oidc_identities.push_back(t.id);
  cfg.oidc_identities[0].keys = std::make_shared<KeyRing>();
  cfg.oidc_identities[0].keys->file = path;
  const OidcIdentity& id = cfg.oidc_identities[0];
  std::string claims = R"(,"project_path":"a","ref":"b","pipeline_id":1,"job_id":2,"sha":"c")";
  std::string old_token = t.token_with(claims);
  t.key = rotated;
  std::string new_token = t.token_with(claims);
  std::vector<std::string> errors;
  OidcLogin login;
  std::string reason;

  std::ofstream(path) << "{\"keys\":[" << jwk(rotated, "g1") << "]}";
  REQUIRE(reload_oidc_keys(cfg.oidc_identities, &errors));
  CHECK(oidc_authenticate(id, new_token, t.now, &login, &reason));
  CHECK_FALSE(oidc_authenticate(id, old_token, t.now, &login, &reason));
  CHECK_THAT(reason, Catch::Contains("bad signature"));

  std::ofstream(path) << "not json";
  CHECK_FALSE(reload_oidc_keys(cfg.oidc_identities, &errors));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith(path + ": not valid JSON"));
  CHECK(oidc_authenticate(id, new_token, t.now, &login, &reason));
  std::filesystem::remove(path);
}
