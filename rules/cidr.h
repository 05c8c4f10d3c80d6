// Client address ranges for `client_addrs:`: CIDR blocks in IPv4 or IPv6 ("10.0.0.0/8",
// "2001:db8::/32"); a bare address is a single host. An IPv4 client seen through an IPv6
// socket (::ffff:10.1.2.3) is matched as the IPv4 address it is.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace pgw::rules {

// An IPv4 (4 bytes used) or IPv6 address.
struct Address {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
};

// A network: address and prefix length.
struct Cidr {
  std::string text;  // as written, for listings
  Address network;
  int prefix = 0;
};

// Parses a textual address (an IPv6 zone suffix "%eth0" is ignored). nullopt if it is not one.
std::optional<Address> parse_address(std::string_view text);

// Parses a CIDR block. Returns false and sets `error` for a malformed address, a prefix out of
// range, or bits set to the right of the prefix (as PostgreSQL's cidr type refuses them).
bool parse_cidr(std::string_view text, Cidr* out, std::string* error);

// Whether the address lies inside the block.
bool cidr_contains(const Cidr& cidr, const Address& address);

}  // namespace pgw::rules
