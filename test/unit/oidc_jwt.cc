// Token verification: RS256 and ES256 accepted with the right key and claims; every other token
// refused with a reason naming the failed check.
#include <catch2/catch.hpp>

#include "proxy/identity/jwt.h"
#include "test/unit/oidc_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

struct Fixture {
  Pkey rsa = rsa_key();
  Pkey ec = ec_key();
  Pkey rsa2 = rsa_key();
  KeySet keys = key_set("{\"keys\":[" + jwk(rsa, "r1") + "," + jwk(ec, "e1") + "]}");
  TokenPolicy policy{"https://issuer.example", "pgwarden", 60};
  int64_t now = unix_now();

  std::string payload(const std::string& extra = "", int64_t exp_in = 300) const {
    return "{\"iss\":\"https://issuer.example\",\"aud\":\"pgwarden\",\"exp\":" + std::to_string(now + exp_in) +
           ",\"repository\":\"acme/app\",\"run_id\":1234" + extra + "}";
  }

  // The reason the token is refused, or "" when it is accepted.
  std::string refusal(const std::string& token, Claims* claims = nullptr) const {
    Claims local;
    std::string reason;
    return verify_jwt(token, keys, policy, now, claims ? claims : &local, &reason) ? "" : reason;
  }
};

const std::string kRs = R"({"alg":"RS256","kid":"r1","typ":"JWT"})";
const std::string kEs = R"({"alg":"ES256","kid":"e1"})";

}  // namespace

TEST_CASE("RS256 and ES256 tokens signed by a JWKS key are accepted") {
  Fixture f;
  Claims claims;
  CHECK(f.refusal(token(kRs, f.payload(), f.rsa), &claims) == "");
  CHECK(claims.kid == "r1");
  CHECK(claims.alg == "RS256");
  CHECK(claims.text.at("repository") == "acme/app");
  CHECK(claims.text.at("run_id") == "1234");
  Claims ec_claims;
  CHECK(f.refusal(token(kEs, f.payload(), f.ec), &ec_claims) == "");
  CHECK(ec_claims.kid == "e1");
  CHECK(ec_claims.alg == "ES256");
}

TEST_CASE("exp and nbf are checked with the leeway") {
  Fixture f;
  CHECK_THAT(f.refusal(token(kRs, f.payload("", -61), f.rsa)), Catch::Contains("token expired"));
  CHECK(f.refusal(token(kRs, f.payload("", -30), f.rsa)) == "");
  std::string nbf_far = ",\"nbf\":" + std::to_string(f.now + 120);
  std::string nbf_near = ",\"nbf\":" + std::to_string(f.now + 30);
  CHECK_THAT(f.refusal(token(kRs, f.payload(nbf_far), f.rsa)), Catch::Contains("not valid yet"));
  CHECK(f.refusal(token(kRs, f.payload(nbf_near), f.rsa)) == "");
  std::string no_exp = R"({"iss":"https://issuer.example","aud":"pgwarden"})";
  CHECK_THAT(f.refusal(token(kRs, no_exp, f.rsa)), Catch::Contains("no numeric exp"));
}

TEST_CASE("iss must equal the issuer and aud must contain the audience") {
  Fixture f;
  std::string exp = std::to_string(f.now + 300);
  auto with = [&](const std::string& iss, const std::string& aud) {
    return f.refusal(token(kRs, "{\"iss\":" + iss + ",\"aud\":" + aud + ",\"exp\":" + exp + "}", f.rsa));
  };
  CHECK_THAT(with("\"https://evil.example\"", "\"pgwarden\""), Catch::Contains("wrong issuer"));
  CHECK_THAT(with("\"https://issuer.example/\"", "\"pgwarden\""), Catch::Contains("wrong issuer"));
  CHECK_THAT(with("1", "\"pgwarden\""), Catch::Contains("wrong issuer"));
  CHECK_THAT(with("\"https://issuer.example\"", "\"other\""), Catch::Contains("wrong audience"));
  CHECK_THAT(with("\"https://issuer.example\"", "[\"a\",\"b\"]"), Catch::Contains("wrong audience"));
  CHECK(with("\"https://issuer.example\"", "[\"a\",\"pgwarden\"]") == "");
  std::string no_aud = "{\"iss\":\"https://issuer.example\",\"exp\":" + exp + "}";
  CHECK_THAT(f.refusal(token(kRs, no_aud, f.rsa)), Catch::Contains("wrong audience"));
}

TEST_CASE("alg none, HS256 and unknown algorithms are refused") {
  Fixture f;
  std::string input = b64url(R"({"alg":"none"})") + "." + b64url(f.payload());
  CHECK_THAT(f.refusal(input + "."), Catch::Contains("algorithm \"none\" is not accepted"));
  // The confusion attack: HMAC keyed with the RSA public key a verifier might use as a secret.
  std::string hs = hs256_token(R"({"alg":"HS256","kid":"r1"})", f.payload(), public_pem(f.rsa));
  CHECK_THAT(f.refusal(hs), Catch::Contains("algorithm \"HS256\" is not accepted"));
  CHECK_THAT(f.refusal(token(R"({"alg":"RS512","kid":"r1"})", f.payload(), f.rsa)), Catch::Contains("not accepted"));
  CHECK_THAT(f.refusal(token(R"({"kid":"r1"})", f.payload(), f.rsa)), Catch::Contains("no alg"));
}

TEST_CASE("the algorithm must fit the key kid selects") {
  Fixture f;
  CHECK_THAT(f.refusal(token(R"({"alg":"ES256","kid":"r1"})", f.payload(), f.ec)), Catch::Contains("does not match key"));
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256","kid":"e1"})", f.payload(), f.rsa)), Catch::Contains("does not match key"));
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256","kid":"r9"})", f.payload(), f.rsa)), Catch::Contains("unknown key id \"r9\""));
  // Without kid, the only key of the token's type is used.
  CHECK(f.refusal(token(R"({"alg":"RS256"})", f.payload(), f.rsa)) == "");
  CHECK(f.refusal(token(R"({"alg":"ES256"})", f.payload(), f.ec)) == "");
  f.keys = key_set("{\"keys\":[" + jwk(f.rsa, "r1") + "," + jwk(f.rsa2, "r2") + "]}");
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256"})", f.payload(), f.rsa)), Catch::Contains("names no key id"));
  // A key whose JWKS entry names another algorithm is not used.
  f.keys = key_set("{\"keys\":[" + jwk(f.rsa, "r1", ",\"alg\":\"RS256\"") + "," + jwk(f.rsa2, "r2", ",\"alg\":\"PS256\"") + "]}");
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256","kid":"r2"})", f.payload(), f.rsa2)), Catch::Contains("unknown key id"));
}

TEST_CASE("a changed payload, another key's signature or a cut token fail the signature") {
  Fixture f;
  std::string good = token(kRs, f.payload(), f.rsa);
  std::string forged_payload = b64url(f.payload(",\"admin\":true"));
  size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  std::string tampered = good.substr(0, dot1 + 1) + forged_payload + good.substr(dot2);
  CHECK_THAT(f.refusal(tampered), Catch::Contains("bad signature"));
  CHECK_THAT(f.refusal(token(kRs, f.payload(), f.rsa2)), Catch::Contains("bad signature"));
  CHECK_THAT(f.refusal(good.substr(0, good.size() - 10)), Catch::Contains("bad signature"));
  CHECK_THAT(f.refusal(good.substr(0, dot2)), Catch::Contains("malformed token"));
  std::string es = token(kEs, f.payload(), f.ec);
  std::string es_tampered = es.substr(0, es.find('.') + 1) + forged_payload + es.substr(es.rfind('.'));
  CHECK_THAT(f.refusal(es_tampered), Catch::Contains("bad signature"));
  // An ES256 signature in DER form (not raw r || s) is refused.
  std::string input = b64url(kEs) + "." + b64url(f.payload());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 128;
  std::string der(len, '\0');
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, f.ec.get());
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  der.resize(len);
  CHECK_THAT(f.refusal(input + "." + b64url(der)), Catch::Contains("bad signature"));
}

TEST_CASE("malformed and oversized tokens are refused without echoing them") {
  Fixture f;
  std::string garbage(100 * 1024, 'A');
  std::string reason = f.refusal(garbage);
  CHECK_THAT(reason, Catch::Contains("longer than 16384 bytes"));
  CHECK(reason.size() < 100);
  CHECK_THAT(f.refusal("not-a-token"), Catch::Contains("malformed token"));
  CHECK_THAT(f.refusal("a.b.c.d"), Catch::Contains("malformed token"));
  CHECK_THAT(f.refusal("!!!.e30.e30"), Catch::Contains("header is not a base64url JSON object"));
  CHECK_THAT(f.refusal(b64url("[1]") + ".e30.e30"), Catch::Contains("header is not a base64url JSON object"));
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256","alg":"none","kid":"r1"})", f.payload(), f.rsa)),
             Catch::Contains("repeats \"alg\""));
  CHECK_THAT(f.refusal(token(R"({"alg":"RS256","kid":"r1","crit":["x"]})", f.payload(), f.rsa)),
             Catch::Contains("crit"));
  std::string twice_iss = "{\"iss\":\"https://issuer.example\",\"iss\":\"x\",\"aud\":\"pgwarden\",\"exp\":" +
                          std::to_string(f.now + 300) + "}";
  CHECK_THAT(f.refusal(token(kRs, twice_iss, f.rsa)), Catch::Contains("payload repeats \"iss\""));
}

TEST_CASE("templates expand string and number claims and name a missing one") {
  Claims c;
  c.text = {{"repository", "acme/app"}, {"ref", "refs/heads/main"}, {"run_id", "1234"}, {"run_attempt", "2"}};
  c.other = {"groups"};
  std::string out, error;
  REQUIRE(expand_claims("{repository}@{ref}", c, &out, &error));
  CHECK(out == "acme/app@refs/heads/main");
  REQUIRE(expand_claims("{run_id}-{run_attempt}", c, &out, &error));
  CHECK(out == "1234-2");
  REQUIRE(expand_claims("", c, &out, &error));
  CHECK(out.empty());
  CHECK_FALSE(expand_claims("{sha}", c, &out, &error));
  CHECK_THAT(error, Catch::Contains("no claim \"sha\""));
  CHECK_FALSE(expand_claims("{groups}", c, &out, &error));
  CHECK_THAT(error, Catch::Contains("no claim \"groups\" that is a string or number"));
  CHECK_FALSE(expand_claims("{repository", c, &out, &error));
  CHECK(check_claims_template("ci:{repository}@{ref}", &error));
  CHECK_FALSE(check_claims_template("{repository", &error));
  CHECK_FALSE(check_claims_template("{}", &error));
  CHECK_FALSE(check_claims_template("{a{b}", &error));
}

TEST_CASE("number claims keep their decimal form") {
  Fixture f;
  Claims claims;
  REQUIRE(f.refusal(token(kRs, f.payload(",\"big\":18446744073709551615,\"neg\":-5,\"frac\":1.5,\"ok\":true"), f.rsa),
                    &claims) == "");
  CHECK(claims.text.at("big") == "18446744073709551615");
  CHECK(claims.text.at("neg") == "-5");
  CHECK(claims.text.at("frac") == "1.5");
  CHECK(claims.other.count("ok") == 1);
}
