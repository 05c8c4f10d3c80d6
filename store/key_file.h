// Reading the HMAC key of the audit chain (`audit.hmac_key_file`, `audit verify --key-file`).
#pragma once

#include <string>

namespace pgw::store {

// Reads the key file: its bytes are the key, less one trailing line ending ("\n" or "\r\n") so
// that a key written by `openssl rand -hex 32 > audit.key` or an editor is the same key. False and
// `error` naming the file if it cannot be read or the key is empty. The proxy and the CLI must
// both use this, or a store written by one would not verify with the other.
bool read_key_file(const std::string& path, std::string* key, std::string* error);

}  // namespace pgw::store
