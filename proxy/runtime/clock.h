// The wall clock, read by the session and handed as a value to the pure code that needs the time
// (audit records, approval deadlines), so that code is tested without a clock.
#pragma once

#include <cstdint>

namespace pgw {

// Microseconds since the Unix epoch: the time of audit records and approval deadlines.
int64_t wall_us();

}  // namespace pgw
