// Fuzzes the server side of SCRAM-SHA-256 (ScramServer) against a known verifier (the password
// "pencil"). The input is a flags byte (1: channel binding offered, as on a TLS connection; 2: an
// unknown user, run against the mock), then the SASLInitialResponse's mechanism, a NUL, the
// client-first-message, a newline and the client-final-message. In the client-final-message,
// `%r` stands for the nonce the server chose, `%c` for the channel binding it expects and `%p`
// for the right proof, so that mutations reach the checks behind the random nonce. The mock of an
// unknown user must refuse every proof.
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/identity/scram.h"
#include "proxy/wire/encoding.h"

namespace {

constexpr const char* kVerifier =
    "SCRAM-SHA-256$4096:cGd3YXJkZW4tZnV6emluZw==$9vGAWkbLYP3NDSdbWWHQW/4r1vEWhNH+Gn/4WEqvI9w=:"
    "LhhDxvGV4Yo0mkHghWRb7FP68BPez7mbiZRsHTuviEE=";
constexpr const char* kClientKey = "G3tfV4rHNR4k1k1ymasZx3EjPjBpVoP5S5o4DzpAMx4=";  // of "pencil"
constexpr const char* kChannelBinding = "tls-server-end-point hash of the certificate";

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::string attribute(std::string_view msg, char name) {
  std::string prefix = std::string(1, name) + "=";
  for (size_t pos = 0; pos < msg.size();) {
    size_t comma = msg.find(',', pos);
    std::string_view part = msg.substr(pos, comma == msg.npos ? msg.npos : comma - pos);
    if (part.rfind(prefix, 0) == 0) return std::string(part.substr(2));
    if (comma == msg.npos) break;
    pos = comma + 1;
  }
  return "";
}

std::string hmac256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// The client-final-message with its placeholders filled in.
std::string fill_final(std::string final, std::string_view client_first, const std::string& server_first,
                       const pgw::ScramVerifier& verifier, bool plus) {
  size_t c1 = client_first.find(',');
  size_t c2 = c1 == client_first.npos ? c1 : client_first.find(',', c1 + 1);
  std::string_view gs2 = client_first.substr(0, c2 == client_first.npos ? 0 : c2 + 1);
  std::string_view bare = c2 == client_first.npos ? std::string_view() : client_first.substr(c2 + 1);
  replace_all(final, "%r", attribute(server_first, 'r'));
  replace_all(final, "%c", pgw::base64_encode(std::string(gs2) + (plus ? kChannelBinding : "")));
  std::string without_proof = final.substr(0, final.rfind(",p="));
  std::string client_key;
  pgw::base64_decode(kClientKey, &client_key);
  std::string signature =
      hmac256(verifier.stored_key, std::string(bare) + "," + server_first + "," + without_proof);
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] = static_cast<char>(client_key[i] ^ signature[i]);
  replace_all(final, "%p", pgw::base64_encode(client_key));
  return final;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const pgw::ScramVerifier verifier = [] {
    pgw::ScramVerifier v;
    if (!pgw::parse_scram_verifier(kVerifier, &v)) __builtin_trap();
    return v;
  }();
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t nul = in.find('\0');
  if (nul == in.npos) return 0;
  std::string_view mechanism = in.substr(0, nul);
  std::string_view rest = in.substr(nul + 1);
  size_t newline = rest.find('\n');
  std::string_view client_first = rest.substr(0, newline);
  pgw::ScramServer server;
  server.verifier = verifier;
  server.mock = (data[0] & 2) != 0;
  if (data[0] & 1) server.channel_binding = kChannelBinding;
  std::string reply, error;
  if (!server.on_client_first(mechanism, client_first, &reply, &error) || newline == rest.npos) return 0;
  std::string final = fill_final(std::string(rest.substr(newline + 1)), client_first, reply, verifier,
                                 mechanism == "SCRAM-SHA-256-PLUS");
  // The mock never accepts: an unknown user cannot log in with any proof.
  if (server.on_client_final(final, &reply, &error) && server.mock) __builtin_trap();
  return 0;
}
