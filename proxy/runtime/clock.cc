#include "proxy/runtime/clock.h"

#include <chrono>

namespace pgw {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace pgw
