// Byte encodings in one place (as LevelDB's util/coding.h): base64 for SCRAM and verifiers,
// base64url for JOSE, hex for digests and binary values, and joining names into one text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgw {

// Standard base64 with padding (RFC 4648 section 4), through OpenSSL.
std::string base64_encode(std::string_view data);
// Decodes padded standard base64; false when `text` is not.
bool base64_decode(std::string_view text, std::string* out);
// Decodes unpadded base64url (RFC 4648 section 5), as JOSE uses it; false on any other character.
bool base64url_decode(std::string_view text, std::string* out);
// Lower-case hex of every byte.
std::string to_hex(std::string_view bytes);
// The items with `separator` between them ("" for none): the audit's `;`-joined lists, listings.
std::string join(const std::vector<std::string>& items, std::string_view separator);
// The items of a text `join` made with the one-character `separator` (none for an empty text).
std::vector<std::string_view> split(std::string_view text, char separator);

}  // namespace pgw
