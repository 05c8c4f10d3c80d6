#include "proxy/runtime/directory.h"

#include <map>
#include <mutex>

namespace pgw {

namespace {

constexpr size_t kMaxStatement = 200;

std::mutex g_mu;
std::map<uint64_t, SessionInfo> g_sessions;

}  // namespace

void directory_put(uint64_t uid, SessionInfo info) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sessions[uid] = std::move(info);
}

void directory_set_state(uint64_t uid, const char* state, std::string_view statement) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_sessions.find(uid);
  if (it == g_sessions.end()) return;
  it->second.state = state;
  if (!statement.empty()) it->second.statement.assign(statement.substr(0, kMaxStatement));
}

void directory_remove(uint64_t uid) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sessions.erase(uid);
}

std::vector<SessionInfo> session_directory() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<SessionInfo> out;
  for (const auto& [uid, info] : g_sessions) out.push_back(info);
  return out;
}

}  // namespace pgw
