// Masking of result values (SPEC section 7) for one session. On RowDescription the session works
// out what happens to each column: column masks follow the column's source (table OID and
// attribute number, resolved through the catalog, so aliases, views, subqueries and `SELECT *`
// do not escape them), value masks apply to every text value. DataRow and the CopyData rows of
// `COPY ... TO STDOUT` are then rewritten field by field; a session no mask selects never gets
// here, and a result no mask touches is relayed as it came.
//
// The catalog is asked on the session's own upstream connection: before a statement that reads
// tables is forwarded, a catalog query is queued ahead of it when the session's map is stale
// (never loaded, DDL seen by pgwarden since, rules reloaded, or the statement names a table the
// map does not know). Its replies are consumed here, in order, so the map is current when the
// statement's RowDescription arrives. A column whose table the map does not know is masked
// (fail closed) and the map is refreshed before the next statement.
//
// Masking reaches its session only through MaskingHost (as Envoy's postgres decoder reaches its
// filter through DecoderCallbacks), so it is unit-tested with a fake host.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/wire/fields.h"
#include "proxy/wire/track.h"
#include "proxy/wire/wire.h"
#include "rules/rules.h"

namespace pgw {

struct Judged;  // proxy/judge/judge.h

// What happens to the values of one result column.
enum class FieldMask : uint8_t {
  none,          // sent as it came
  value_text,    // value masks over the text (text format, or a binary text-type value)
  value_jsonb,   // value masks over a binary jsonb value's text
  value_number,  // a binary number: NULL when its text form would be masked
  replace,       // a column mask: the whole value replaced
  null,          // a binary value that cannot be masked: sent as NULL
};

struct ColumnPlan {
  FieldMask how = FieldMask::none;
  // How a column without a source (an expression) is masked in a statement that reads a masked
  // column; `how` for every other column.
  FieldMask computed = FieldMask::none;
  uint32_t type_oid = 0;
  const rules::MaskedColumn* column = nullptr;  // with FieldMask::replace
};

// How the rows of one result are masked. Holds the masks it points into.
struct RowPlan {
  rules::SessionMasksPtr masks;
  std::vector<ColumnPlan> columns;
  bool any = false;           // some column is masked
  bool any_computed = false;  // some column is masked in a statement that reads a masked column
};

// One `COPY ... TO STDOUT` statement as masking sees it, read when the statement is judged.
struct CopyPlan {
  CopyFormat format;
  bool binary = false;
  bool header = false;
  std::string table;                 // "schema.table" of COPY table TO; empty for COPY (query) TO
  std::vector<std::string> columns;  // "schema.table.column" of its column list; empty: all
  std::vector<std::string> reads;    // every table the statement reads
};

// The source columns of the session's column masks, as the catalog resolved them.
struct MaskCatalog {
  rules::SessionMasksPtr masks;  // what `masked` points into
  uint64_t generation = 0;
  std::unordered_map<uint32_t, std::string> relations;  // OID -> "schema.table"
  std::unordered_map<std::string, uint32_t> by_name;
  // (OID << 16 | attribute number) of masked columns of tables and views.
  std::unordered_map<uint64_t, const rules::MaskedColumn*> masked;
  // Relations with a masked column; for tables, which COPY fields (1-based) hold one.
  std::unordered_map<uint32_t, std::vector<std::pair<int, const rules::MaskedColumn*>>> copy_fields;
};

// A catalog being received: rows of the catalog query, resolved when it completes.
struct CatalogReply {
  // A column whose name a column mask could match.
  struct Column {
    uint64_t key = 0;
    std::string name;
    int copy_position = 0;  // 1-based field of `COPY table TO` (tables only)
  };
  rules::SessionMasksPtr masks;   // the masks it was asked for
  uint64_t generation = 0;        // the catalog generation when it was asked
  std::vector<std::string> asked;  // tables named by the statements that asked for it
  MaskCatalog catalog;
  std::vector<Column> columns;
  std::vector<std::pair<uint64_t, uint64_t>> view_columns;  // (view column, source column) keys
  bool failed = false;
};

// The masking state of a session.
struct Masking {
  rules::RuleSetPtr rules;        // the rule set `masks` was taken from
  rules::SessionMasksPtr masks;   // nullptr: nothing is masked in this session
  std::string catalog_sql;        // the catalog query for these masks; empty without column masks
  std::optional<MaskCatalog> catalog;
  std::deque<CatalogReply> incoming;  // catalog queries on their way, oldest first
  bool requested = false;         // a catalog for `requested_generation` is loaded or on its way
  uint64_t requested_generation = 0;
  bool refresh = false;           // the next reading statement needs a fresh catalog
  bool wants_catalog = false;     // the request being forwarded may return table columns
  std::unordered_set<std::string> unknown;  // tables the last catalog did not have
  std::vector<std::string> asked;           // tables that triggered the catalog on its way
  bool ddl = false;               // the current transaction ran DDL
  bool in_extended = false;       // between an extended-protocol message and its Sync

  RowPlan simple;                                    // the result of the running simple Query
  std::unordered_map<std::string, RowPlan> portals;  // results of described portals
  std::unordered_set<std::string> described;         // portals described since their Bind

  bool copying = false;  // CopyData rows belong to a COPY TO STDOUT being masked
  bool copy_header = false;
  RowPlan copy;
  CopyFormat copy_format;

  int64_t masked = 0;  // values masked since the last statement finished

  // Scratch space for rewriting, reused across rows.
  std::string out;
  std::vector<FieldDesc> fields;
  std::vector<std::optional<std::string_view>> values;
  std::vector<std::string> storage;
  std::vector<CopyField> copy_fields;
};

// What masking asks of the session whose results it masks. The session implements it; unit tests
// fake it.
struct MaskingHost {
  virtual ~MaskingHost() = default;
  // The rule set in force now (RELOAD replaces it; nullptr when none is loaded): the session's
  // masks are taken from it.
  virtual rules::RuleSetPtr rules_in_force() const = 0;
  // Who the session is, which selects its masks.
  virtual rules::Context mask_context() const = 0;
  // Sends pgwarden's own request upstream (a whole message: the catalog query, a Describe), ahead
  // of the client message being forwarded; its replies come as `e` says (Expect::internal) and
  // never reach the client.
  virtual void send_upstream(const std::string& message, Expect e) = 0;
  // Ends the session with a FATAL error to the client: the server sent what cannot be masked.
  virtual void fail(const char* sqlstate, const std::string& message) = 0;
  // Ends the session without a word to the client: the server sent a malformed message.
  virtual void server_broke(const std::string& reason) = 0;
};

// Judges what masking needs of the statements of a request, before it is forwarded: picks up
// reloaded masks, notes DDL and tables the catalog does not know, and refuses (as a decision of
// the mask) a binary COPY TO STDOUT that would send a masked column.
void masking_check(Masking& m, const MaskingHost& host, std::vector<Judged>& judged);
// Attaches to `e` what masking needs of the statements it runs: how their COPY TO STDOUT
// statements are masked, and whether they read a masked column (their computed columns are then
// masked too).
void masking_plan(const Masking& m, const std::vector<Judged>& judged, Expect* e);
// Called with each client message about to be forwarded (and its Expect): sends the catalog
// query or a Describe ahead of it when needed, and notes portals.
void masking_before_forward(Masking& m, MaskingHost& host, std::string_view raw, Expect& e);
// Called with each server message of a masked session (or one with a catalog query on its way)
// before the tracker sees it, with the request it answers (`replying_to`, nullptr when none; a
// COPY TO STDOUT it runs is marked started). Returns true when the message was rewritten into
// `m.out`, which the client gets instead. False with the session ended through `host` when the
// server sent what cannot be masked.
bool masking_on_message(Masking& m, MaskingHost& host, Expect* replying_to, const Message& msg);
// The server skipped the catalog query on its way (after an error, up to Sync): the next request
// asks again.
void masking_catalog_skipped(Masking& m);
// Called on each ReadyForQuery, with the requests still forwarded and unanswered: DDL seen in a
// finished transaction makes every session's catalog stale.
void masking_on_ready(Masking& m, char tx_status, int outstanding);

// mask_catalog.cc
// The catalog query for a session's column masks (empty when it has none).
std::string catalog_query(const rules::SessionMasks& masks);
// Reads one row of the catalog query into `reply`.
void catalog_add_row(const std::vector<std::optional<std::string_view>>& row, CatalogReply* reply);
// Once every row is in: matches the columns against the masks and resolves view columns to
// their sources.
void catalog_finish(const rules::SessionMasks& masks, CatalogReply* reply);
// The key of one column in MaskCatalog::masked.
inline uint64_t column_key(uint32_t oid, int attnum) {
  return (static_cast<uint64_t>(oid) << 16) | static_cast<uint16_t>(attnum);
}

// copy_plan.cc
// Reads a COPY statement's text into a plan; nullopt when it is not a COPY TO STDOUT.
// `tables_read` are the statement's facts (the first is the table of `COPY table TO`).
std::optional<CopyPlan> read_copy_plan(std::string_view statement, const std::vector<std::string>& tables_read);

// The process-wide catalog generation: bumped whenever a session's transaction that ran DDL ends,
// which makes every session's catalog stale.
uint64_t catalog_generation();

}  // namespace pgw
