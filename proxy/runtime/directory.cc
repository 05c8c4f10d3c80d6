#include "proxy/runtime/directory.h"

#include <map>
#include <mutex>

namespace pgw {

namespace {

constexpr size_t kMaxStatement = 200;

}  // namespace

void directory_put(SessionDirectory& dir, uint64_t uid, SessionInfo info) {
  std::lock_guard<std::mutex> lock(dir.mu);
  dir.sessions[uid] = std::move(info);
}

void directory_set_state(SessionDirectory& dir, uint64_t uid, const char* state, std::string_view statement) {
  std::lock_guard<std::mutex> lock(dir.mu);
  auto it = dir.sessions.find(uid);
  if (it == dir.sessions.end()) return;
  it->second.state = state;
  if (!statement.empty()) it->second.statement.assign(statement.substr(0, kMaxStatement));
}

void directory_remove(SessionDirectory& dir, uint64_t uid) {
  std::lock_guard<std::mutex> lock(dir.mu);
  dir.sessions.erase(uid);
}

std::vector<SessionInfo> session_directory(SessionDirectory& dir) {
  std::lock_guard<std::mutex> lock(dir.mu);
  std::vector<SessionInfo> out;
  for (const auto& [uid, info] : dir.sessions) out.push_back(info);
  return out;
}

}  // namespace pgw
