// Statement facts: what one SQL statement does, as the rules see it. sqlparse turns SQL text into
// these with libpg_query (PostgreSQL 15 grammar); rules decide on them; the audit records them.
// Nothing here knows about sockets, sessions or the wire protocol.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgw::sql {

// The facts of one statement of a (possibly multi-statement) SQL string.
struct StatementFacts {
  // The statement kind in SPEC section 6 naming: snake_case of the parse node ("select",
  // "delete", "drop_table", "alter_table_drop_column", ...). Wrappers are looked through:
  // EXPLAIN ANALYZE X, PREPARE p AS X and CREATE TABLE ... AS X report the kind of X in
  // `commands` as well as their own.
  std::string command;
  // Every kind the statement performs anywhere in its tree, `command` included: a
  // data-modifying CTE inside a SELECT adds "delete"; `COPY (DELETE ...) TO` adds "delete".
  std::vector<std::string> commands;
  // pgAudit-style classes of everything it performs: read, write, ddl, role, function, misc.
  std::vector<std::string> classes;
  // "schema.table", lower-case unless quoted, unqualified names resolved against the search
  // path given to parse() (its first entry).
  std::vector<std::string> tables_read;
  std::vector<std::string> tables_written;
  // Tables the statement names without reading or writing their rows: LOCK, VACUUM, ANALYZE,
  // CLUSTER, REINDEX, COMMENT ON and SECURITY LABEL (the relation commented on or labelled,
  // also for a column, trigger, constraint, policy or rule of it). Qualified as above.
  std::vector<std::string> tables_named;
  // LOCK only: the lock mode in snake_case ("access_share" ... "access_exclusive", see
  // known_lock_modes()); `LOCK t` without a mode is "access_exclusive", as in PostgreSQL.
  std::string lock_mode;
  // "schema.table.column" for every column referenced anywhere; a column whose table cannot be
  // told from the statement alone is "*.*.column" qualified as far as known.
  std::vector<std::string> columns;
  // Names of every function called anywhere (unqualified, lower-case unless quoted).
  std::vector<std::string> functions;
  // True for an UPDATE or DELETE (anywhere in the tree) that has no WHERE clause.
  bool where_absent = false;
  // libpg_query fingerprint (hex) and normalized text (literals replaced by $n).
  std::string fingerprint;
  std::string normalized;
  // Byte range of this statement in the string given to parse().
  size_t offset = 0;
  size_t length = 0;
  // PREPARE name AS ...: the name prepared. EXECUTE name: the name executed.
  // DEALLOCATE name / DEALLOCATE ALL: the name released ("" for ALL).
  std::optional<std::string> prepares;
  std::optional<std::string> executes;
  std::optional<std::string> deallocates;
  // SET [LOCAL] search_path / RESET search_path: the new path ("" entries dropped, names folded);
  // empty vector for RESET (meaning the server default). Also set by SET search_path TO DEFAULT,
  // RESET ALL, DISCARD ALL (empty) and set_config('search_path', '<constant>', ...).
  std::optional<std::vector<std::string>> sets_search_path;

  bool operator==(const StatementFacts&) const = default;
};

// The outcome of parsing one SQL string.
struct ParseResult {
  // Empty on success; otherwise the parser's message (as PostgreSQL would word it).
  std::string error;
  // 1-based byte position of the error in the text, 0 if unknown.
  int error_position = 0;
  std::vector<StatementFacts> statements;
  // True when the text is one statement whose facts are the same for every text of its literal
  // shape (literal_shape() below) but for its byte range, which moves with the literals' lengths:
  // all its `commands` are select, insert, update or delete; every literal in it is a constant
  // (not a type modifier as in varchar(10), a precision, an array bound), and no fact reads a
  // constant's value (it calls no set_config); it sets no search path and prepares, executes or
  // deallocates nothing. A caller may keep such facts by shape.
  bool shape_invariant = false;
  bool ok() const { return error.empty(); }
  bool operator==(const ParseResult&) const = default;
};

// What parse() computes besides the facts. The fingerprint and the normalized text each cost
// libpg_query a second parse of the statement (about as much as the parse itself), so a caller
// on the hot path can skip them here and ask fingerprint() / normalize() later.
struct ParseOptions {
  bool fingerprint = true;  // fill StatementFacts::fingerprint
  bool normalize = false;   // fill StatementFacts::normalized
};

// Parses `sql` (one or more statements separated by ';') into facts, resolving unqualified
// table names against `search_path` (first entry other than "$user"; "public" when none). A
// statement that sets search_path (SET, RESET, DISCARD ALL, set_config('search_path', ...)
// with constants) changes the path for the statements after it in `sql`. Thread-safe.
ParseResult parse(std::string_view sql, const std::vector<std::string>& search_path,
                  const ParseOptions& options = {});

// Marks where a literal's value was in a shape. Statement text never holds a zero byte (parse()
// refuses it), so a marker is never confused with the text around it.
inline constexpr char kLiteralMark = '\0';

// The literal shape of `text`: the text with each digit run of a number and the contents of each
// string replaced by kLiteralMark; names, quoted names, $n parameters, keywords, operators and
// whitespace are kept byte for byte. PostgreSQL's lexer reads texts of one shape as the same
// tokens but for the values of their literals (and for an integer too large for int4, read as a
// numeric). nullopt when the text holds something this scan does not read as that lexer does for
// sure: a comment, a dollar quote, a backslash (an escape in E'' strings, and in every string
// with standard_conforming_strings off), a U&'' string or U&"" name (UESCAPE changes how it
// reads), a B'' or X'' string continued after a newline, a number run into a letter (1a, 1e), an
// unterminated quote, a zero byte, or bytes that are not UTF-8.
std::optional<std::string> literal_shape(std::string_view text);

// libpg_query's fingerprint (hex) of one statement's text; "" if it does not parse. The same
// value parse() puts in StatementFacts::fingerprint, for callers that skipped it there.
std::string fingerprint(std::string_view statement);

// One statement's text with its literals replaced by $n (pg_query_normalize); "" if it does not
// parse. The same value parse() puts in StatementFacts::normalized with options.normalize.
std::string normalize(std::string_view statement);

// What a `COPY ... TO STDOUT` statement says about the rows it sends, as written in it: what a
// caller needs to read and rewrite those rows the way the server formats them.
struct CopyToStdout {
  std::string format;  // the FORMAT option as given ("text", "csv", "binary"); "" when absent
  // The DELIMITER, QUOTE, ESCAPE and NULL options as given; nullopt when absent.
  std::optional<std::string> delimiter;
  std::optional<std::string> quote;
  std::optional<std::string> escape;
  std::optional<std::string> null;
  bool header = false;  // HEADER is on (bare, true, or any value but false/off/0)
  bool table = false;   // COPY table [(columns)] TO; false for COPY (query) TO
  std::vector<std::string> columns;  // the column list of COPY table (columns) TO, as named
};

// Reads `statement` when it is a single COPY ... TO STDOUT; nullopt for anything else (COPY
// FROM, COPY TO a file or a program, several statements, a parse error). Thread-safe.
std::optional<CopyToStdout> copy_to_stdout(std::string_view statement);

// The statement kinds parse() can report, for validating `commands:` in rules.
const std::vector<std::string>& known_commands();

// The lock modes a LOCK statement can report, weakest first: access_share, row_share,
// row_exclusive, share_update_exclusive, share, share_row_exclusive, exclusive, access_exclusive.
const std::vector<std::string>& known_lock_modes();

}  // namespace pgw::sql
