// Approval notifications (SPEC section 12, approvals.notify): each URL configured is told, by an
// HTTP POST, when a statement is held for approval and when its approval is settled, so that an
// approver learns of it without polling the console. Deliveries run on a thread of their own
// (libcurl's multi interface) and are retried with backoff; a session only queues a notice, so a
// slow or failing receiver never delays a decision or a session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/runtime/approvals.h"

namespace pgw {

// What one notification tells: an approval as it stood when it was held or settled.
struct ApprovalNotice {
  std::string event;  // "held" (state pending) or "settled"
  int64_t id = 0;
  std::string state;  // pending, approved, rejected, expired, withdrawn
  std::string principal;
  std::string job_id;
  std::string commit;
  std::string rule;
  std::string statement;  // as the audit records it (audit.statement_text)
  int64_t requested_us = 0;
  int64_t expires_us = 0;
  std::vector<std::string> approvers;   // who may approve: the rule's approvers
  int approvals_required = 1;
  std::vector<std::string> decided_by;  // who approved (in order), or who rejected
  std::string reason;                   // of a rejection or a withdrawal
  std::string instance;                 // audit.instance of the pgwarden that holds it
};

// The notice of `a` as the book's observer sees it, held or settled on `instance`.
ApprovalNotice approval_notice(const Approval& a, const std::string& instance);

// The body POSTed for `n`: a JSON object (README, "Approval notifications"), or with
// NotifyFormat::slack a Slack incoming-webhook message ({"text": ...}).
std::string notification_body(const ApprovalNotice& n, NotifyFormat format);

// The X-Pgwarden-Signature header's value for `body`: "sha256=" and the lower-case hex
// HMAC-SHA256 of the body keyed with `secret`.
std::string notification_signature(std::string_view body, std::string_view secret);

// How deliveries are paced. A delivery that fails to connect, times out or gets a 5xx answer is
// tried again after first_retry, then twice as long each time, up to `attempts` tries in all; a
// 4xx answer is final.
struct NotifyPolicy {
  int attempts = 5;
  std::chrono::milliseconds first_retry{1000};
  std::chrono::milliseconds request_timeout{10000};
  size_t max_queued = 1000;  // notices waiting beyond this drop the oldest, with a log line
  std::chrono::milliseconds shutdown_grace{2000};  // for deliveries under way when it stops
};

struct NotifierState;  // notifier.cc

// Delivers notices to the configured targets from a thread of its own.
class Notifier {
 public:
  Notifier(std::vector<NotifyTarget> targets, NotifyPolicy policy = {});
  ~Notifier();  // stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues `n` for every target; never blocks on the network. Callable from any thread.
  void post(ApprovalNotice n);
  // Gives what is queued or under way one last try of up to the shutdown grace, then abandons the
  // rest (with a log line) and joins the thread.
  void stop();

 private:
  std::unique_ptr<NotifierState> state_;
};

}  // namespace pgw
