// Driving masking as a session would, without one (no libuv, no PostgreSQL): a fake MaskingHost
// that keeps what masking sends upstream and how it ended the session, a Conversation that
// forwards the client's Query messages and plays the server's replies back in the order the
// tracker would expect them, builders of the server's messages, and the masks and the catalog
// the tests share.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/judge/judge.h"
#include "proxy/masking/masking.h"
#include "proxy/wire/fields.h"
#include "proxy/wire/track.h"
#include "proxy/wire/wire.h"
#include "sqlparse/facts.h"
#include "test/unit/rules_testing.h"

namespace pgw::testing {

// A session as masking sees it: its rules and principal, the requests the server is to answer
// (as the tracker queues them), and how masking ended it.
struct FakeHost final : MaskingHost {
  rules::RuleSetPtr rules;
  rules::Context who;
  std::vector<std::string> sent;  // pgwarden's own requests, in the order sent
  std::deque<Expect> pending;     // requests whose replies are still to come, oldest first
  std::string failed;             // the SQLSTATE of the FATAL error the session ended with
  std::string broken;             // why the session ended without a word to the client

  rules::RuleSetPtr rules_in_force() const override { return rules; }
  rules::Context mask_context() const override { return who; }
  void send_upstream(const std::string& message, Expect e) override {
    sent.push_back(message);
    pending.push_back(std::move(e));
  }
  void fail(const char* sqlstate, const std::string&) override { failed = sqlstate; }
  void server_broke(const std::string& reason) override { broken = reason; }
};

// One column of a RowDescription.
struct Column {
  std::string name;
  uint32_t table_oid = 0;  // 0: no source column (an expression)
  int16_t attnum = 0;
  uint32_t type_oid = 25;  // text
  int16_t format = 0;      // 0 text, 1 binary
};

using Values = std::vector<std::optional<std::string>>;

inline std::string row_description(const std::vector<Column>& columns) {
  std::string out;
  Writer w(out);
  w.begin('T').i16(static_cast<int16_t>(columns.size()));
  for (const Column& c : columns) {
    w.cstr(c.name).i32(static_cast<int32_t>(c.table_oid)).i16(c.attnum).i32(static_cast<int32_t>(c.type_oid));
    w.i16(-1).i32(-1).i16(c.format);
  }
  w.end();
  return out;
}

inline std::string data_row(const Values& values) {
  std::string out;
  write_data_row(out, values);
  return out;
}

// The values of a DataRow message.
inline Values values_of(std::string_view raw) {
  std::vector<std::optional<std::string_view>> views;
  REQUIRE(split_data_row(raw.substr(5), &views));
  Values out;
  for (const auto& v : views) out.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
  return out;
}

// CopyOutResponse: the overall format and every column's format (0 text, 1 binary).
inline std::string copy_out_response(int8_t format, int columns) {
  std::string out;
  Writer w(out);
  w.begin('H').u8(static_cast<uint8_t>(format)).i16(static_cast<int16_t>(columns));
  for (int i = 0; i < columns; ++i) w.i16(format);
  w.end();
  return out;
}

// A message with a body of plain bytes: CopyData, CommandComplete, ReadyForQuery, CopyDone.
inline std::string message(char type, std::string_view body) {
  std::string out;
  Writer(out).begin(type).bytes(body).end();
  return out;
}

// A value mask over card numbers, for every session.
inline constexpr const char* kCardMasks = R"(
masks:
  - name: card-numbers
    pattern: '\b(\d{4})[ -]?\d{4}[ -]?\d{4}[ -]?(\d{4})\b'
    replace: '\1-****-****-\2'
)";

// A column mask over public.users.email, for principals ci/*.
inline constexpr const char* kEmailMasks = R"(
masks:
  - name: emails-for-ci
    match: { principals: ["ci/*"] }
    columns: ["public.users.email"]
    replace: '***'
)";

// The catalog of a database with public.users (id, email, name: email is its second COPY field),
// public.orders, and public.user_emails, a view whose first column is users.email, as the server
// answers the catalog query.
inline constexpr uint32_t kUsers = 16384;
inline constexpr uint32_t kOrders = 16390;
inline constexpr uint32_t kUserEmails = 16400;
inline const std::vector<Values> kCatalog = {
    {"r", std::to_string(kUsers), "public", "users", std::nullopt},
    {"r", std::to_string(kOrders), "public", "orders", std::nullopt},
    {"r", std::to_string(kUserEmails), "public", "user_emails", std::nullopt},
    {"c", std::to_string(kUsers), "2", "email", "2"},
    {"v", std::to_string(kUserEmails), "1", std::to_string(kUsers), "2"},
};

// A whole message (type, length, body) as the framer hands it over.
inline Message view(const std::string& raw) { return Message{raw[0], std::string_view(raw).substr(5), raw}; }

// One client session through masking: its statements are judged by the parser (every decision
// allow), forwarded after what masking sends ahead of them, and answered by the server's messages.
struct Conversation {
  FakeHost host;
  Masking masking;

  explicit Conversation(const std::string& rules_yaml, std::string principal = "ci/build") {
    host.rules = rules::load(rules_yaml);
    host.who.principal = std::move(principal);
    host.who.database = "app";
  }

  // The client sends a Query: returns its statements as masking judged them.
  std::vector<Judged> query(std::string_view sql) {
    std::vector<Judged> judged;
    for (const sql::StatementFacts& f : sql::parse(sql, {"public"}).statements) {
      Judged j;
      j.facts = f;
      j.text = std::string(sql.substr(f.offset, f.length));
      j.decision.action = rules::Action::allow;
      judged.push_back(std::move(j));
    }
    Expect e;
    e.request = 'Q';
    masking_check(masking, host, judged);
    masking_plan(masking, judged, &e);
    std::string raw;
    Writer(raw).begin('Q').cstr(sql).end();
    masking_before_forward(masking, host, raw, e);
    host.pending.push_back(std::move(e));
    return judged;
  }

  // The server sends `raw`: returns what the client gets, as server.cc relays it ("" for replies
  // to pgwarden's own requests).
  std::string reply(const std::string& raw) {
    Message msg = view(raw);
    if (msg.type == 'Z') masking_on_ready(masking, msg.body[0], static_cast<int>(host.pending.size()) - 1);
    Expect* current = host.pending.empty() ? nullptr : &host.pending.front();
    bool internal = current && current->internal;
    bool rewritten = masking_on_message(masking, host, current, msg);
    if (msg.type == 'Z' && current) host.pending.pop_front();
    if (internal) return {};
    return rewritten ? masking.out : raw;
  }

  // Whether the client gets `raw` as the server sent it.
  bool relays(const std::string& raw) { return reply(raw) == raw; }

  // The end of a statement's result: CommandComplete and ReadyForQuery (idle).
  void complete(const char* tag) {
    reply(message('C', std::string(tag) + '\0'));
    reply(message('Z', "I"));
  }

  // The server answers the catalog query with these rows ("r"elations, "c"olumns a mask could
  // name, "v"iew columns and their sources; see mask_catalog.cc).
  void answer_catalog(const std::vector<Values>& rows) {
    REQUIRE_FALSE(host.pending.empty());
    REQUIRE(host.pending.front().internal);
    reply(row_description({{"kind"}, {"oid"}, {"a"}, {"b"}, {"c"}}));
    for (const Values& row : rows) reply(data_row(row));
    complete("SELECT");
  }
};

}  // namespace pgw::testing
