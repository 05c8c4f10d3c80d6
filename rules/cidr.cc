#include "rules/cidr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace pgw::rules {

namespace {

constexpr std::array<unsigned char, 12> kV4MappedPrefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};

// Turns ::ffff:a.b.c.d into the IPv4 address a.b.c.d.
Address unmap(Address a) {
  if (!a.v6 || !std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin())) {
    return a;
  }
  Address v4;
  std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.bytes.begin());
  return v4;
}

// Whether the first `bits` bits of both byte arrays agree.
bool same_prefix(const Address& a, const Address& b, int bits) {
  int whole = bits / 8;
  if (!std::equal(a.bytes.begin(), a.bytes.begin() + whole, b.bytes.begin())) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  unsigned mask = (0xffu << (8 - rest)) & 0xffu;
  return (a.bytes[whole] & mask) == (b.bytes[whole] & mask);
}

}  // namespace

std::optional<Address> parse_address(std::string_view text) {
  text = text.substr(0, text.find('%'));
  std::string zero_terminated(text);
  Address a;
  if (inet_pton(AF_INET, zero_terminated.c_str(), a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, zero_terminated.c_str(), a.bytes.data()) == 1) return unmap(a);
  return std::nullopt;
}

bool parse_cidr(std::string_view text, Cidr* out, std::string* error) {
  size_t slash = text.find('/');
  std::optional<Address> network = parse_address(text.substr(0, slash));
  if (!network || text.find('%') != std::string_view::npos) {
    *error = fmt::format("\"{}\" is not an IPv4 or IPv6 address or CIDR block", text);
    return false;
  }
  int max_prefix = network->v6 ? 128 : 32;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix < 0 ||
        prefix > max_prefix) {
      *error = fmt::format("bad prefix length in \"{}\" (0 to {})", text, max_prefix);
      return false;
    }
  }
  Address masked = *network;
  for (int bit = prefix; bit < max_prefix; ++bit) {
    masked.bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
  }
  if (masked.bytes != network->bytes) {
    *error = fmt::format("\"{}\" has bits set to the right of its prefix length", text);
    return false;
  }
  out->text = std::string(text);
  out->network = *network;
  out->prefix = prefix;
  return true;
}

bool cidr_contains(const Cidr& cidr, const Address& address) {
  return cidr.network.v6 == address.v6 && same_prefix(cidr.network, address, cidr.prefix);
}

}  // namespace pgw::rules
