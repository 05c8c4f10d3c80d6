// JWKS files: RSA and EC P-256 keys load, everything else is skipped or refused with a reason.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "proxy/identity/jwks.h"
#include "test/unit/oidc_testing.h"

using namespace pgw;
using namespace pgw::testing;

namespace {

std::string parse_error(const std::string& json) {
  KeySet ks;
  std::string error;
  return parse_jwks(json, &ks, &error) ? "" : error;
}

}  // namespace

TEST_CASE("RSA and EC P-256 keys load; other keys are skipped") {
  Pkey rsa = rsa_key(), ec = ec_key();
  KeySet ks = key_set("{\"keys\":[" + jwk(rsa, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\"") + "," + jwk(ec, "") +
                      ",{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}," + jwk(rsa, "enc", ",\"use\":\"enc\"") + "]}");
  REQUIRE(ks.keys.size() == 2);
  CHECK(ks.keys[0].kid == "r1");
  CHECK(ks.keys[0].kind == KeyKind::rsa);
  CHECK(ks.keys[0].alg == "RS256");
  CHECK(ks.keys[1].kid.empty());
  CHECK(ks.keys[1].kind == KeyKind::ec_p256);
  CHECK(EVP_PKEY_eq(ks.keys[0].pkey.get(), rsa.get()) == 1);
  CHECK(EVP_PKEY_eq(ks.keys[1].pkey.get(), ec.get()) == 1);
}

TEST_CASE("a bad JWKS document is refused with what is wrong") {
  Pkey rsa = rsa_key();
  CHECK_THAT(parse_error("{"), Catch::Contains("not valid JSON"));
  CHECK_THAT(parse_error("{\"key\":[]}"), Catch::Contains("\"keys\" array"));
  CHECK_THAT(parse_error("{\"keys\":[]}"), Catch::Contains("no RS256 or ES256 signing key"));
  CHECK_THAT(parse_error("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}"), Catch::Contains("no RS256 or ES256"));
  CHECK_THAT(parse_error("{\"keys\":[{\"kid\":\"a\",\"kty\":\"RSA\",\"e\":\"AQAB\"}]}"),
             Catch::Contains("keys[0] (kid \"a\"): missing or not a string: n"));
  CHECK_THAT(parse_error("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"a+b\",\"e\":\"AQAB\"}]}"), Catch::Contains("not base64url: n"));
  CHECK_THAT(parse_error("{\"keys\":[" + jwk(rsa_key(1024), "small") + "]}"), Catch::Contains("fewer than 2048"));
  CHECK_THAT(parse_error("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}"),
             Catch::Contains("only P-256"));
  std::string off_curve = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + b64url(std::string(32, '\1')) +
                          "\",\"y\":\"" + b64url(std::string(32, '\2')) + "\"}]}";
  CHECK_THAT(parse_error(off_curve), Catch::Contains("keys[0]"));
  CHECK_THAT(parse_error("{\"keys\":[" + jwk(rsa, "x") + "," + jwk(rsa, "x") + "]}"), Catch::Contains("duplicate kid \"x\""));
  CHECK_THAT(parse_error("{\"keys\":[1]}"), Catch::Contains("keys[0]: expected an object"));
}

TEST_CASE("load_jwks names the file; a key ring is swapped only by a valid file") {
  std::string path = (std::filesystem::temp_directory_path() / "pgw_jwks_XXXXXX").string();
  close(mkstemp(path.data()));
  std::remove(path.c_str());
  KeySet ks;
  std::string error;
  CHECK_FALSE(load_jwks(path, &ks, &error));
  CHECK(error == path + ": cannot read the JWKS file");
  Pkey first = rsa_key(), second = ec_key();
  std::ofstream(path) << "{\"keys\":[" << jwk(first, "k1") << "]}";
  KeyRing ring;
  ring.file = path;
  REQUIRE(reload_key_ring(&ring, &error));
  CHECK(ring.current.load()->keys.at(0).kid == "k1");
  std::ofstream(path) << "{\"keys\":[";
  CHECK_FALSE(reload_key_ring(&ring, &error));
  CHECK_THAT(error, Catch::StartsWith(path + ": not valid JSON"));
  CHECK(ring.current.load()->keys.at(0).kid == "k1");
  std::ofstream(path) << "{\"keys\":[" << jwk(second, "k2") << "]}";
  REQUIRE(reload_key_ring(&ring, &error));
  CHECK(ring.current.load()->keys.at(0).kind == KeyKind::ec_p256);
  std::remove(path.c_str());
}

TEST_CASE("base64url decoding is strict") {
  std::string out;
  CHECK(base64url_decode("aGk", &out));
  CHECK(out == "hi");
  CHECK(base64url_decode("-_8", &out));
  CHECK(out == "\xfb\xff");
  CHECK_FALSE(base64url_decode("aGk=", &out));
  CHECK_FALSE(base64url_decode("a+k", &out));
  CHECK_FALSE(base64url_decode("aGk h", &out));
  CHECK_FALSE(base64url_decode("a", &out));
}
