// Fuzzes the masking of DataRow values and COPY rows (masking.h, fields.h) with a fake session, as
// the masking unit tests drive it: a session of `ci/build` under a value mask (card numbers) and a
// column mask (public.users.email), whose catalog the fake server answers. The input's first
// byte picks a DataRow or a COPY and which statement runs.
//   DataRow: a byte gives the number of columns, two bytes each give a column's type, format and
//   source (none, users.id, users.email, or the view column over it); the rest is the DataRow's
//   body.
//   COPY: a byte gives the CopyOutResponse's format and column count; the rest is the rows, one
//   CopyData per line, each also split directly with the statement's COPY format.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "proxy/judge/judge.h"
#include "proxy/masking/masking.h"
#include "proxy/wire/fields.h"
#include "proxy/wire/track.h"
#include "proxy/wire/wire.h"
#include "sqlparse/facts.h"

namespace {

constexpr const char* kMasks = R"(
masks:
  - name: card-numbers
    pattern: '\b(\d{4})[ -]?\d{4}[ -]?\d{4}[ -]?(\d{4})\b'
    replace: '\1-****-****-\2'
  - name: emails-for-ci
    match: { principals: ["ci/*"] }
    columns: ["public.users.email"]
    replace: '***'
)";

constexpr uint32_t kUsers = 16384;
constexpr uint32_t kOrders = 16390;
constexpr uint32_t kUserEmails = 16400;
using Row = std::vector<std::optional<std::string>>;
const std::vector<Row> kCatalog = {
    {"r", std::to_string(kUsers), "public", "users", std::nullopt},
    {"r", std::to_string(kOrders), "public", "orders", std::nullopt},
    {"r", std::to_string(kUserEmails), "public", "user_emails", std::nullopt},
    {"c", std::to_string(kUsers), "2", "email", "2"},
    {"v", std::to_string(kUserEmails), "1", std::to_string(kUsers), "2"},
};

constexpr const char* kSelects[] = {
    "SELECT id, email, note, amount, tags FROM users",
    "SELECT * FROM user_emails",
    "SELECT id, note FROM orders",
    "SELECT count(*), max(email) FROM users UNION SELECT 1, 'x'",
};
constexpr const char* kCopies[] = {
    "COPY users TO STDOUT",
    "COPY users (email, id) TO STDOUT (FORMAT csv, HEADER)",
    "COPY (SELECT id, name FROM users) TO STDOUT",
    "COPY orders TO STDOUT (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'nil')",
    "COPY user_emails TO STDOUT (FORMAT text, DELIMITER ',', NULL '')",
    "COPY users TO STDOUT (FORMAT binary)",
    "COPY orders TO STDOUT (FORMAT csv, FORCE_QUOTE *)",
    "COPY (SELECT note FROM orders) TO STDOUT",
};
// Types a column can have: text, int4, int8, int2, oid, float4, float8, numeric, jsonb, json,
// bool, bytea, varchar, text[], uuid, date.
constexpr uint32_t kTypes[] = {25, 23, 20, 21, 26, 700, 701, 1700, 3802, 114, 16, 17, 1043, 1009, 2950, 1082};

struct FakeHost final : pgw::MaskingHost {
  pgw::rules::RuleSetPtr rules;
  std::deque<pgw::Expect> pending;
  bool ended = false;

  pgw::rules::RuleSetPtr rules_in_force() const override { return rules; }
  pgw::rules::Context mask_context() const override { return {"ci/build", "4711", "app", "10.0.0.7"}; }
  void send_upstream(const std::string&, pgw::Expect e) override { pending.push_back(std::move(e)); }
  void fail(const char*, const std::string&) override { ended = true; }
  void server_broke(const std::string&) override { ended = true; }
};

std::string message(char type, std::string_view body) {
  std::string out;
  pgw::Writer(out).begin(type).bytes(body).end();
  return out;
}

struct Conversation {
  FakeHost host;
  pgw::Masking masking;

  // The client sends a Query; masking sends what it needs ahead of it.
  void query(std::string_view sql) {
    std::vector<pgw::Judged> judged;
    for (const auto& f : pgw::sql::parse(sql, {"public"}).statements) {
      pgw::Judged j;
      j.facts = f;
      j.text = std::string(sql.substr(f.offset, f.length));
      j.decision.action = pgw::rules::Action::allow;
      judged.push_back(std::move(j));
    }
    pgw::Expect e;
    e.request = 'Q';
    pgw::masking_check(masking, host, judged);
    pgw::masking_plan(masking, judged, &e);
    std::string raw;
    pgw::Writer(raw).begin('Q').cstr(sql).end();
    pgw::masking_before_forward(masking, host, raw, e);
    host.pending.push_back(std::move(e));
  }

  // The server sends `raw` (a whole message).
  void reply(const std::string& raw) {
    if (host.ended) return;
    pgw::Message msg{raw[0], std::string_view(raw).substr(5), raw};
    if (msg.type == 'Z') pgw::masking_on_ready(masking, 'I', static_cast<int>(host.pending.size()) - 1);
    pgw::Expect* current = host.pending.empty() ? nullptr : &host.pending.front();
    pgw::masking_on_message(masking, host, current, msg);
    if (msg.type == 'Z' && current) host.pending.pop_front();
  }

  void row(const Row& values) {
    std::string out;
    pgw::write_data_row(out, values);
    reply(out);
  }

  // Answers the catalog query, if masking sent one ahead of the client's.
  void answer_catalog() {
    if (host.pending.empty() || !host.pending.front().internal) return;
    std::string desc;
    pgw::Writer w(desc);
    w.begin('T').i16(5);
    for (const char* name : {"kind", "oid", "a", "b", "c"}) w.cstr(name).i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0);
    w.end();
    reply(desc);
    for (const Row& r : kCatalog) row(r);
    reply(message('C', std::string("SELECT 5") + '\0'));
    reply(message('Z', "I"));
  }
};

void data_rows(Conversation& c, std::string_view in, uint8_t pick) {
  c.query(kSelects[pick % std::size(kSelects)]);
  c.answer_catalog();
  if (in.empty()) return;
  size_t columns = 1 + static_cast<uint8_t>(in[0]) % 5;
  in.remove_prefix(1);
  std::string desc;
  pgw::Writer w(desc);
  w.begin('T').i16(static_cast<int16_t>(columns));
  for (size_t i = 0; i < columns; ++i) {
    uint8_t type = in.size() > 2 * i ? static_cast<uint8_t>(in[2 * i]) : 0;
    uint8_t flags = in.size() > 2 * i + 1 ? static_cast<uint8_t>(in[2 * i + 1]) : 0;
    uint32_t oid[] = {0, kUsers, kUsers, kUserEmails};
    int16_t attnum[] = {0, 1, 2, 1};
    int source = (flags >> 1) & 3;
    w.cstr("c" + std::to_string(i)).i32(static_cast<int32_t>(oid[source])).i16(attnum[source]);
    w.i32(static_cast<int32_t>(kTypes[type % std::size(kTypes)])).i16(-1).i32(-1).i16(flags & 1);
  }
  w.end();
  in.remove_prefix(std::min(in.size(), 2 * columns));
  c.reply(desc);
  std::vector<std::optional<std::string_view>> values;
  pgw::split_data_row(in, &values);
  for (const auto& v : values) {
    if (v) pgw::binary_number_text(kTypes[v->size() % std::size(kTypes)], *v);
  }
  c.reply(message('D', in));
  c.reply(message('C', std::string("SELECT 1") + '\0'));
}

void copy_rows(Conversation& c, std::string_view in, uint8_t pick) {
  const char* sql = kCopies[pick % std::size(kCopies)];
  c.query(sql);
  c.answer_catalog();
  if (in.empty()) return;
  uint8_t shape = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  int columns = shape % 5;
  std::string response;
  pgw::Writer w(response);
  w.begin('H').u8(shape >> 7).i16(static_cast<int16_t>(columns));
  for (int i = 0; i < columns; ++i) w.i16(shape >> 7);
  w.end();
  c.reply(response);
  std::optional<pgw::CopyPlan> plan = pgw::read_copy_plan(sql, {});
  std::vector<pgw::CopyField> fields;
  while (!in.empty()) {
    size_t end = in.find('\n');
    std::string_view line = in.substr(0, end == in.npos ? in.npos : end + 1);
    in.remove_prefix(line.size());
    if (plan) pgw::split_copy_row(line, plan->format, &fields);
    c.reply(message('d', line));
  }
  c.reply(message('c', ""));
  c.reply(message('C', std::string("COPY 1") + '\0'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pgw::rules::RuleSetPtr rules = [] {
    std::vector<pgw::rules::LoadError> errors;
    auto set = pgw::rules::load_rules_node(YAML::Load(kMasks), "rules.yaml", &errors);
    if (!set) __builtin_trap();
    return set;
  }();
  if (size == 0) return 0;
  Conversation c;
  c.host.rules = rules;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) copy_rows(c, in, data[0] >> 1);
  else data_rows(c, in, data[0] >> 1);
  c.reply(message('Z', "I"));
  return 0;
}
