// Held statements waiting for a human (SPEC section 8). The book is process-wide: a statement is
// held on one worker, approved from an admin console session on any worker. Each approval's id is
// the one the audit store gave its hold record (the record's seq in a SQLite store), so the audit
// and the console speak of the same number.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rules/glob.h"

namespace pgw {

struct Worker;

struct Approval {
  int64_t id = 0;   // what approvers name it by (store::AppendResult::approval_id)
  int64_t seq = 0;  // the held statement's audit record, whose outcome settles it
  std::string state = "pending";  // pending, approved, rejected, expired, withdrawn
  std::string principal;
  std::string job_id;
  std::string commit;
  std::string rule;
  std::string statement;
  std::string audited_statement;  // as its audit record has it (audit.statement_text)
  int64_t requested_us = 0;  // wall clock
  int64_t expires_us = 0;
  std::vector<rules::Glob> approver_globs;
  int required = 1;
  std::vector<std::string> approvers;  // who approved so far, in order
  std::string reason;                  // of a rejection
  // Where the held statement waits: `settled` is called on that worker's loop once the approval
  // is settled (approved with enough approvers, rejected, expired), with the settled approval.
  Worker* worker = nullptr;
  std::function<void(const Approval&)> settled;
};

// The book of held statements, shared by every worker (Runtime owns it); locked inside.
struct ApprovalBook {
  std::mutex mu;
  std::map<int64_t, Approval> requests;  // by id
  // Told of every request added (pending) and of every one settled, whichever way: the one place
  // every hold and settlement of this instance passes. Called with the book locked, on the thread
  // that added or settled it, so it only takes a copy; set before the workers start.
  std::function<void(const Approval&)> observer;
};

// Adds a pending approval.
void approvals_add(ApprovalBook& book, Approval a);
// A snapshot: pending ones and those settled within the last hour, by id.
std::vector<Approval> approvals_list(ApprovalBook& book);
// Why an approver's word was refused; an empty message means it was taken.
struct ApprovalError {
  std::string message;
  bool not_allowed = false;  // the principal may not decide this request (else: unknown or settled id)
  bool unknown_id = false;   // no request of this id in the book
};
// An approver's word on `id`, refused for an unknown, decided or expired id, a principal that is
// not an approver of the rule, or the requester approving their own request. With enough
// approvals (or a rejection) the waiting session is told. The requester may reject (withdraw)
// their own request.
ApprovalError approvals_approve(ApprovalBook& book, int64_t id, const std::string& principal);
ApprovalError approvals_reject(ApprovalBook& book, int64_t id, const std::string& principal, const std::string& reason);
// Whether `principal` may approve (or, `rejecting`, deny) `a`, by its rule's approvers and the
// approvals given so far; the same judgement for a request held here or on another instance.
ApprovalError approvals_check(const Approval& a, const std::string& principal, bool rejecting);
// Settles a pending approval as withdrawn with `reason` and tells the session (the store says its
// request was withdrawn). False if it was not pending.
bool approvals_settle_withdrawn(ApprovalBook& book, int64_t id, const std::string& reason);
// Settles every pending approval past its deadline as expired, telling the sessions.
void approvals_expire(ApprovalBook& book, int64_t now_us);
// The session went away: a pending approval becomes withdrawn with `reason`. True if it was pending.
bool approvals_withdraw(ApprovalBook& book, int64_t id, const std::string& reason);

}  // namespace pgw
