// The session directory: what SHOW SESSIONS lists. Sessions live on different worker loops, so
// each publishes a small summary here whenever its state changes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
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

// Every session's summary, shared by every worker (Runtime owns it); locked inside.
struct SessionDirectory {
  std::mutex mu;
  std::map<uint64_t, SessionInfo> sessions;  // by session uid
};

void directory_put(SessionDirectory& dir, uint64_t uid, SessionInfo info);
void directory_set_state(SessionDirectory& dir, uint64_t uid, const char* state, std::string_view statement);
void directory_remove(SessionDirectory& dir, uint64_t uid);
std::vector<SessionInfo> session_directory(SessionDirectory& dir);

}  // namespace pgw
