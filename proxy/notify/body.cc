// What a notification says: the JSON body, the Slack message and the signature. Pure functions
// of the notice, so that every field is checked without a receiver.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "proxy/notify/notify.h"
#include "proxy/wire/encoding.h"
#include "store/audit.h"

namespace pgw {

namespace {

using json = nlohmann::ordered_json;

std::string approve_command(const ApprovalNotice& n) { return "APPROVE " + std::to_string(n.id); }

json json_body(const ApprovalNotice& n) {
  return json{{"event", n.event},
              {"approval_id", n.id},
              {"state", n.state},
              {"principal", n.principal},
              {"job_id", n.job_id},
              {"commit", n.commit},
              {"rule", n.rule},
              {"statement", n.statement},
              {"requested_at", store::format_ts(n.requested_us)},
              {"expires_at", store::format_ts(n.expires_us)},
              {"approvers", n.approvers},
              {"approvals_required", n.approvals_required},
              {"decided_by", n.decided_by},
              {"reason", n.reason},
              {"instance", n.instance},
              {"console_database", "pgwarden"},
              {"approve_command", approve_command(n)}};
}

// Slack's mrkdwn reads &, < and > as markup: each is escaped.
std::string slack_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

// Who sent it, as one line: the principal, and the job and commit when known.
std::string slack_who(const ApprovalNotice& n) {
  std::string who = "principal " + n.principal;
  if (!n.job_id.empty()) who += ", job " + n.job_id;
  if (!n.commit.empty()) who += ", commit " + n.commit;
  return who;
}

std::string slack_text(const ApprovalNotice& n) {
  std::string id = std::to_string(n.id);
  std::string head;
  if (n.event == "held") {
    head = "pgwarden (" + n.instance + "): statement held for approval " + id + " by rule \"" + n.rule + "\"";
  } else {
    head = "pgwarden (" + n.instance + "): approval " + id + " " + n.state;
    if (!n.decided_by.empty()) head += " by " + join(n.decided_by, ", ");
    if (!n.reason.empty()) head += ": " + n.reason;
    head += " (rule \"" + n.rule + "\")";
  }
  std::string text = head + "\n" + slack_who(n) + "\n```" + n.statement + "```";
  if (n.event == "held")
    text += "\nExpires at " + store::format_ts(n.expires_us) + ". Approve on the database \"pgwarden\": `" +
            approve_command(n) + "`";
  return slack_escape(text);
}

}  // namespace

ApprovalNotice approval_notice(const Approval& a, const std::string& instance) {
  ApprovalNotice n;
  n.event = a.state == "pending" ? "held" : "settled";
  n.id = a.id;
  n.state = a.state;
  n.principal = a.principal;
  n.job_id = a.job_id;
  n.commit = a.commit;
  n.rule = a.rule;
  n.statement = a.audited_statement;
  n.requested_us = a.requested_us;
  n.expires_us = a.expires_us;
  for (const rules::Glob& g : a.approver_globs) n.approvers.push_back(g.text);
  n.approvals_required = a.required;
  if (a.state == "approved" || a.state == "rejected") n.decided_by = a.approvers;
  n.reason = a.reason;
  n.instance = instance;
  return n;
}

std::string notification_body(const ApprovalNotice& n, NotifyFormat format) {
  json body = format == NotifyFormat::slack ? json{{"text", slack_text(n)}} : json_body(n);
  // Statement text is the client's: bytes that are not UTF-8 become U+FFFD, as in the export.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string notification_signature(std::string_view body, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &len);
  return "sha256=" + to_hex(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace pgw
