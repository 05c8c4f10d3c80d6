#include "proxy/identity/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <map>

#include "proxy/wire/decimal.h"

namespace pgw {

namespace {

constexpr size_t kKeyLen = 32;

std::string hmac256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::string salted_password(std::string_view password, std::string_view salt, int iterations) {
  std::string out(kKeyLen, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                    iterations, EVP_sha256(), static_cast<int>(kKeyLen),
                    reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); ++i) out[i] = static_cast<char>(out[i] ^ b[i]);
  return out;
}

// Splits "a=x,b=y" attribute lists; the value of an attribute may contain '=' but not ','.
std::map<char, std::string> attributes(std::string_view msg) {
  std::map<char, std::string> attrs;
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t comma = msg.find(',', pos);
    std::string_view part = msg.substr(pos, comma == std::string_view::npos ? msg.npos : comma - pos);
    if (part.size() >= 2 && part[1] == '=') attrs.emplace(part[0], std::string(part.substr(2)));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return attrs;
}

bool printable_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  return true;
}

std::string make_nonce() { return base64_encode(random_bytes(18)); }

}  // namespace

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) std::abort();
  return out;
}

ScramVerifier make_scram_verifier(std::string_view password, int iterations) {
  ScramVerifier v;
  v.iterations = iterations;
  v.salt = random_bytes(16);
  std::string salted = salted_password(password, v.salt, iterations);
  v.stored_key = sha256(hmac256(salted, "Client Key"));
  v.server_key = hmac256(salted, "Server Key");
  return v;
}

std::string format_scram_verifier(const ScramVerifier& v) {
  return "SCRAM-SHA-256$" + std::to_string(v.iterations) + ":" + base64_encode(v.salt) + "$" +
         base64_encode(v.stored_key) + ":" + base64_encode(v.server_key);
}

std::string ScramServer::mechanisms() const {
  std::string m;
  if (!channel_binding.empty()) m += std::string("SCRAM-SHA-256-PLUS") + '\0';
  m += std::string("SCRAM-SHA-256") + '\0';
  m += '\0';
  return m;
}

bool ScramServer::on_client_first(std::string_view mechanism, std::string_view data,
                                  std::string* reply, std::string* error) {
  plus_ = mechanism == "SCRAM-SHA-256-PLUS";
  if (!plus_ && mechanism != "SCRAM-SHA-256") {
    *error = "unsupported SASL mechanism \"" + std::string(mechanism) + "\"";
    return false;
  }
  if (plus_ && channel_binding.empty()) {
    *error = "channel binding is not offered on this connection";
    return false;
  }
  // gs2-header: cbind-flag "," [authzid] ","
  size_t c1 = data.find(',');
  size_t c2 = c1 == data.npos ? data.npos : data.find(',', c1 + 1);
  if (c2 == data.npos) {
    *error = "malformed SCRAM client-first-message";
    return false;
  }
  std::string_view flag = data.substr(0, c1);
  if (plus_ ? flag != "p=tls-server-end-point" : (flag != "n" && flag != "y")) {
    *error = "unexpected SCRAM channel binding flag \"" + std::string(flag) + "\"";
    return false;
  }
  if (flag == "y" && !channel_binding.empty()) {
    *error = "SCRAM channel binding negotiation error (client supports it, server offered it)";
    return false;
  }
  gs2_header_ = std::string(data.substr(0, c2 + 1));
  client_first_bare_ = std::string(data.substr(c2 + 1));
  auto attrs = attributes(client_first_bare_);
  if (!attrs.count('r') || !printable_nonce(attrs['r'])) {
    *error = "malformed SCRAM client-first-message (nonce)";
    return false;
  }
  nonce_ = attrs['r'] + make_nonce();
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier.salt) + ",i=" +
                  std::to_string(verifier.iterations);
  *reply = server_first_;
  return true;
}

bool ScramServer::on_client_final(std::string_view data, std::string* reply, std::string* error) {
  size_t proof_at = data.rfind(",p=");
  if (proof_at == data.npos) {
    *error = "malformed SCRAM client-final-message";
    return false;
  }
  std::string without_proof(data.substr(0, proof_at));
  auto attrs = attributes(data);
  std::string expected_cbind = gs2_header_ + (plus_ ? channel_binding : std::string());
  std::string cbind;
  if (!base64_decode(attrs['c'], &cbind) || cbind != expected_cbind) {
    *error = "SCRAM channel binding check failed";
    return false;
  }
  if (attrs['r'] != nonce_) {
    *error = "SCRAM nonce mismatch";
    return false;
  }
  std::string proof;
  if (!base64_decode(attrs['p'], &proof) || proof.size() != kKeyLen) {
    *error = "malformed SCRAM proof";
    return false;
  }
  std::string auth_message = client_first_bare_ + "," + server_first_ + "," + without_proof;
  std::string client_signature = hmac256(verifier.stored_key, auth_message);
  std::string client_key = xor_bytes(proof, client_signature);
  if (mock || CRYPTO_memcmp(sha256(client_key).data(), verifier.stored_key.data(), kKeyLen) != 0) {
    *error = "password authentication failed";
    return false;
  }
  *reply = "v=" + base64_encode(hmac256(verifier.server_key, auth_message));
  return true;
}

std::string ScramClient::client_first() {
  client_nonce_ = make_nonce();
  client_first_bare_ = "n=,r=" + client_nonce_;
  return "n,," + client_first_bare_;
}

bool ScramClient::on_server_first(std::string_view data, std::string* reply, std::string* error) {
  auto attrs = attributes(data);
  std::string salt;
  int iterations = 0;
  if (!parse_decimal(attrs['i'], &iterations)) iterations = 0;
  const std::string& nonce = attrs['r'];
  if (nonce.compare(0, client_nonce_.size(), client_nonce_) != 0 || nonce.size() <= client_nonce_.size() ||
      !base64_decode(attrs['s'], &salt) || iterations < 1) {
    *error = "malformed SCRAM server-first-message from the server";
    return false;
  }
  std::string salted = salted_password(password, salt, iterations);
  std::string client_key = hmac256(salted, "Client Key");
  std::string stored_key = sha256(client_key);
  std::string without_proof = "c=biws,r=" + nonce;
  std::string auth_message = client_first_bare_ + "," + std::string(data) + "," + without_proof;
  std::string proof = xor_bytes(client_key, hmac256(stored_key, auth_message));
  server_signature_ = hmac256(hmac256(salted, "Server Key"), auth_message);
  *reply = without_proof + ",p=" + base64_encode(proof);
  return true;
}

bool ScramClient::on_server_final(std::string_view data, std::string* error) {
  auto attrs = attributes(data);
  std::string sig;
  if (!base64_decode(attrs['v'], &sig) || sig != server_signature_) {
    *error = "the server's SCRAM signature does not verify";
    return false;
  }
  return true;
}

std::string md5_password(std::string_view user, std::string_view password, std::string_view salt) {
  auto md5hex = [](std::string_view in) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(in.data(), in.size(), d, &len, EVP_md5(), nullptr);
    return to_hex(std::string_view(reinterpret_cast<const char*>(d), len));
  };
  std::string inner = md5hex(std::string(password) + std::string(user));
  return "md5" + md5hex(inner + std::string(salt));
}

bool parse_scram_verifier(const std::string& text, ScramVerifier* out) {
  const std::string prefix = "SCRAM-SHA-256$";
  if (text.rfind(prefix, 0) != 0) return false;
  size_t colon1 = text.find(':', prefix.size());
  size_t dollar = text.find('$', prefix.size());
  size_t colon2 = dollar == std::string::npos ? dollar : text.find(':', dollar);
  if (colon1 == std::string::npos || dollar == std::string::npos || colon2 == std::string::npos || colon1 > dollar)
    return false;
  return parse_decimal(std::string_view(text).substr(prefix.size(), colon1 - prefix.size()), &out->iterations) &&
         out->iterations > 0 && base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1), &out->salt) &&
         base64_decode(text.substr(dollar + 1, colon2 - dollar - 1), &out->stored_key) &&
         base64_decode(text.substr(colon2 + 1), &out->server_key) && out->stored_key.size() == 32 &&
         out->server_key.size() == 32;
}

}  // namespace pgw
