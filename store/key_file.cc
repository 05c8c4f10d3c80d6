#include "store/key_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pgw::store {

bool read_key_file(const std::string& path, std::string* key, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = fmt::format("{}: cannot read the HMAC key: {}", path, std::strerror(errno));
    return false;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  *key = bytes.str();
  if (key->ends_with("\r\n")) {
    key->resize(key->size() - 2);
  } else if (key->ends_with('\n')) {
    key->pop_back();
  }
  if (key->empty()) {
    *error = fmt::format("{}: the HMAC key file is empty", path);
    return false;
  }
  return true;
}

}  // namespace pgw::store
