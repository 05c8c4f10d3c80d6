// The session directory: what SHOW SESSIONS lists. Sessions live on different worker loops, so
// each publishes a small summary here whenever its state changes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pgw {

struct SessionInfo {
  std::string id;
  std::string principal;
  std::string job_id;
  std::string commit;
  std::string database;
  std::string client_addr;
  std::string state;      // idle, active, held, console
  std::string statement;  // the latest statement, shortened
};

void directory_put(uint64_t uid, SessionInfo info);
void directory_set_state(uint64_t uid, const char* state, std::string_view statement);
void directory_remove(uint64_t uid);
std::vector<SessionInfo> session_directory();

}  // namespace pgw
