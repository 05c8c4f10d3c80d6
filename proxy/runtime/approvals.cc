#include "proxy/runtime/approvals.h"

#include <algorithm>
#include <map>

#include "proxy/runtime/worker.h"

namespace pgw {

namespace {

constexpr int64_t kKeepSettledUs = 3600LL * 1000000;

// Tells the book's observer of a request added or settled.
void observe(const ApprovalBook& book, const Approval& a) {
  if (book.observer) book.observer(a);
}

// Tells the held session (on its own loop) and the observer how its approval was settled.
void settle(const ApprovalBook& book, const Approval& a) {
  worker_post(a.worker, [a] { a.settled(a); });
  observe(book, a);
}

// The approval `id` if it can still be decided, else the reason why not.
Approval* pending(ApprovalBook& book, int64_t id, ApprovalError* error) {
  auto it = book.requests.find(id);
  if (it == book.requests.end()) {
    error->message = "no approval with id " + std::to_string(id);
    error->unknown_id = true;
    return nullptr;
  }
  if (it->second.state != "pending") {
    error->message = "approval " + std::to_string(id) + " is already " + it->second.state;
    return nullptr;
  }
  return &it->second;
}

ApprovalError not_allowed(std::string message) { return {std::move(message), true}; }

}  // namespace

ApprovalError approvals_check(const Approval& a, const std::string& principal, bool rejecting) {
  if (rejecting) {
    // The requester may withdraw their own request.
    if (principal == a.principal || rules::any_glob_match(a.approver_globs, principal)) return {};
    return not_allowed(principal + " is not an approver for rule \"" + a.rule + "\"");
  }
  if (principal == a.principal) return not_allowed("nobody approves their own request");
  if (!rules::any_glob_match(a.approver_globs, principal))
    return not_allowed(principal + " is not an approver for rule \"" + a.rule + "\"");
  if (std::find(a.approvers.begin(), a.approvers.end(), principal) != a.approvers.end())
    return not_allowed(principal + " has already approved " + std::to_string(a.id));
  return {};
}

void approvals_add(ApprovalBook& book, Approval a) {
  std::lock_guard<std::mutex> lock(book.mu);
  int64_t id = a.id;
  observe(book, book.requests[id] = std::move(a));
}

std::vector<Approval> approvals_list(ApprovalBook& book) {
  std::lock_guard<std::mutex> lock(book.mu);
  std::vector<Approval> out;
  for (const auto& [id, a] : book.requests) out.push_back(a);
  return out;
}

ApprovalError approvals_approve(ApprovalBook& book, int64_t id, const std::string& principal) {
  std::lock_guard<std::mutex> lock(book.mu);
  ApprovalError error;
  Approval* a = pending(book, id, &error);
  if (!a) return error;
  error = approvals_check(*a, principal, false);
  if (!error.message.empty()) return error;
  a->approvers.push_back(principal);
  if (static_cast<int>(a->approvers.size()) >= a->required) {
    a->state = "approved";
    settle(book, *a);
  }
  return {};
}

ApprovalError approvals_reject(ApprovalBook& book, int64_t id, const std::string& principal, const std::string& reason) {
  std::lock_guard<std::mutex> lock(book.mu);
  ApprovalError error;
  Approval* a = pending(book, id, &error);
  if (!a) return error;
  error = approvals_check(*a, principal, true);
  if (!error.message.empty()) return error;
  a->state = "rejected";
  a->approvers = {principal};
  a->reason = reason;
  settle(book, *a);
  return {};
}

void approvals_expire(ApprovalBook& book, int64_t now_us) {
  std::lock_guard<std::mutex> lock(book.mu);
  for (auto it = book.requests.begin(); it != book.requests.end();) {
    Approval& a = it->second;
    if (a.state == "pending" && a.expires_us <= now_us) {
      a.state = "expired";
      settle(book, a);
    }
    if (a.state != "pending" && a.expires_us + kKeepSettledUs < now_us) it = book.requests.erase(it);
    else ++it;
  }
}

bool approvals_settle_withdrawn(ApprovalBook& book, int64_t id, const std::string& reason) {
  std::lock_guard<std::mutex> lock(book.mu);
  auto it = book.requests.find(id);
  if (it == book.requests.end() || it->second.state != "pending") return false;
  it->second.state = "withdrawn";
  it->second.reason = reason;
  settle(book, it->second);
  return true;
}

bool approvals_withdraw(ApprovalBook& book, int64_t id, const std::string& reason) {
  std::lock_guard<std::mutex> lock(book.mu);
  auto it = book.requests.find(id);
  if (it == book.requests.end() || it->second.state != "pending") return false;
  it->second.state = "withdrawn";
  it->second.reason = reason;
  observe(book, it->second);
  return true;
}

}  // namespace pgw
