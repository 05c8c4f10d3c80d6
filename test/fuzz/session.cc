// Fuzzes the client session state machine (proxy/session) with arbitrary bytes after a valid
// login, through session_harness.h: a real worker with its audit store, a client and a fake
// PostgreSQL server in this process. The input's first byte picks the session (odd: the admin
// console); the rest is what the client sends once it is ready.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "test/fuzz/session_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!pgw::fuzz::run_session((data[0] & 1) != 0, input).empty()) __builtin_trap();
  return 0;
}
