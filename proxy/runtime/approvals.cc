#include "proxy/runtime/approvals.h"

#include <algorithm>
#include <map>

#include "proxy/runtime/worker.h"

namespace pgw {

namespace {

constexpr int64_t kKeepSettledUs = 3600LL * 1000000;

std::mutex g_mu;
std::map<int64_t, Approval> g_book;

// Tells the held session (on its own loop) how its approval was settled.
void notify(const Approval& a) {
  worker_post(a.worker, [a] { a.settled(a); });
}

// The approval `id` if it can still be decided, else the reason why not.
Approval* pending(int64_t id, ApprovalError* error) {
  auto it = g_book.find(id);
  if (it == g_book.end()) {
    error->message = "no approval with id " + std::to_string(id);
    return nullptr;
  }
  if (it->second.state != "pending") {
    error->message = "approval " + std::to_string(id) + " is already " + it->second.state;
    return nullptr;
  }
  return &it->second;
}

ApprovalError not_allowed(std::string message) { return {std::move(message), true}; }

ApprovalError check_approver(const Approval& a, const std::string& principal) {
  if (principal == a.principal) return not_allowed("nobody approves their own request");
  if (!rules::any_glob_match(a.approver_globs, principal))
    return not_allowed(principal + " is not an approver for rule \"" + a.rule + "\"");
  if (std::find(a.approvers.begin(), a.approvers.end(), principal) != a.approvers.end())
    return not_allowed(principal + " has already approved " + std::to_string(a.id));
  return {};
}

}  // namespace

void approvals_add(Approval a) {
  std::lock_guard<std::mutex> lock(g_mu);
  int64_t id = a.id;
  g_book[id] = std::move(a);
}

std::vector<Approval> approvals_list() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<Approval> out;
  for (const auto& [id, a] : g_book) out.push_back(a);
  return out;
}

ApprovalError approvals_approve(int64_t id, const std::string& principal) {
  std::lock_guard<std::mutex> lock(g_mu);
  ApprovalError error;
  Approval* a = pending(id, &error);
  if (!a) return error;
  error = check_approver(*a, principal);
  if (!error.message.empty()) return error;
  a->approvers.push_back(principal);
  if (static_cast<int>(a->approvers.size()) >= a->required) {
    a->state = "approved";
    notify(*a);
  }
  return {};
}

ApprovalError approvals_reject(int64_t id, const std::string& principal, const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_mu);
  ApprovalError error;
  Approval* a = pending(id, &error);
  if (!a) return error;
  if (principal != a->principal && !rules::any_glob_match(a->approver_globs, principal))
    return not_allowed(principal + " is not an approver for rule \"" + a->rule + "\"");
  a->state = "rejected";
  a->approvers = {principal};
  a->reason = reason;
  notify(*a);
  return {};
}

void approvals_expire(int64_t now_us) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto it = g_book.begin(); it != g_book.end();) {
    Approval& a = it->second;
    if (a.state == "pending" && a.expires_us <= now_us) {
      a.state = "expired";
      notify(a);
    }
    if (a.state != "pending" && a.expires_us + kKeepSettledUs < now_us) it = g_book.erase(it);
    else ++it;
  }
}

bool approvals_withdraw(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_book.find(id);
  if (it == g_book.end() || it->second.state != "pending") return false;
  it->second.state = "withdrawn";
  return true;
}

}  // namespace pgw
