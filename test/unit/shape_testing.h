// Texts for testing literal shapes: the statements the tests know (the corpus and the SQL in the
// sqlparse unit tests), texts of a shape with other literal values, random data statements from
// a small grammar, and a readable dump of parse results. Shared by the lexer tests
// (sqlparse_shape.cc) and the shape cache tests (judge_shape_cache.cc).
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sqlparse/facts.h"
#include "test/corpus/corpus_sql.h"

namespace pgw::shape_testing {

// The string literals of C++ source `src` (adjacent ones joined, escapes read), comments and
// character literals skipped.
inline std::vector<std::string> cpp_string_literals(const std::string& src) {
  std::vector<std::string> out;
  bool joining = false;  // only blanks since the last literal
  for (size_t i = 0; i < src.size(); ++i) {
    char c = src[i];
    if (src.compare(i, 2, "//") == 0 || src.compare(i, 2, "/*") == 0) {
      size_t end = src[i + 1] == '/' ? src.find('\n', i) : src.find("*/", i + 2) + 1;
      if (end == std::string::npos || end == 0) break;
      i = end;
      continue;
    }
    if (c == '\'') {  // 'x' or '\x'
      i += src[i + 1] == '\\' ? 3 : 2;
      continue;
    }
    if (c != '"') {
      if (c != ' ' && c != '\n' && c != '\t') joining = false;
      continue;
    }
    std::string text;
    if (i > 0 && src[i - 1] == 'R') {  // R"delimiter(...)delimiter"
      size_t open = src.find('(', i);
      std::string close = ")" + src.substr(i + 1, open - i - 1) + "\"";
      size_t end = src.find(close, open);
      text = src.substr(open + 1, end - open - 1);
      i = end + close.size() - 1;
    } else {
      for (++i; i < src.size() && src[i] != '"'; ++i) {
        if (src[i] != '\\') {
          text += src[i];
          continue;
        }
        char e = src[++i];
        text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e;
      }
    }
    if (joining) out.back() += text;
    else out.push_back(text);
    joining = true;
  }
  return out;
}

// Every SQL text the tests know that parses: the "sql:" texts of test/corpus/statements.txt,
// the string literals of test/unit/sqlparse_*.cc, and each statement of a text of several on
// its own.
inline std::vector<std::string> known_statements() {
  std::string root(PGW_SOURCE_DIR);
  std::vector<std::string> texts = corpus::sql_texts(root + "/test/corpus/statements.txt");
  std::vector<std::filesystem::path> sources;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/test/unit")) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("sqlparse_") && name.ends_with(".cc")) sources.push_back(entry.path());
  }
  std::sort(sources.begin(), sources.end());
  for (const auto& path : sources) {
    std::ifstream in(path);
    std::stringstream src;
    src << in.rdbuf();
    for (std::string& literal : cpp_string_literals(src.str())) texts.push_back(std::move(literal));
  }
  std::vector<std::string> out;
  std::set<std::string> known;
  auto add = [&](std::string text) {
    if (known.insert(text).second) out.push_back(std::move(text));
  };
  for (const std::string& text : texts) {
    sql::ParseResult parsed = sql::parse(text, {"public"}, {false, false});
    if (!parsed.ok() || parsed.statements.empty()) continue;
    add(text);
    if (parsed.statements.size() > 1)
      for (const auto& f : parsed.statements) add(text.substr(f.offset, f.length));
  }
  return out;
}

inline size_t below(std::mt19937& rng, size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }

inline bool is_name_byte(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

// A text of `shape` with random values: each digit run 1 to 24 digits; each string random
// pieces, among them a doubled quote, ';', '--', '/*', '$$', a double quote, non-ASCII letters,
// a newline and a control character; a B'' or X'' string hex digits.
inline std::string variant(const std::string& shape, std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "a", "Z", " ", "''", ";", "--", "/*", "*/", "$$", "$1", "\"", "é", "日本", "🙂", "\n", "\t", "\x01",
      "0", "42", "%", ",", "search_path", "public", "x''y", "; DROP TABLE t; --"};
  static const std::string hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != sql::kLiteralMark) {
      out += shape[i];
      continue;
    }
    bool string = i > 0 && shape[i - 1] == '\'';
    char prefix = string && i >= 2 ? static_cast<char>(std::tolower(static_cast<unsigned char>(shape[i - 2]))) : 0;
    bool bits = (prefix == 'b' || prefix == 'x') && (i < 3 || !is_name_byte(shape[i - 3]));
    if (!string) {
      size_t n = 1 + below(rng, 24);
      for (size_t d = 0; d < n; ++d) out += static_cast<char>('0' + below(rng, 10));
    } else if (bits) {
      for (size_t n = below(rng, 9); n > 0; --n) out += hex[below(rng, prefix == 'b' ? 2 : 16)];
    } else {
      for (size_t n = below(rng, 6); n > 0; --n) out += pieces[below(rng, pieces.size())];
    }
  }
  return out;
}

// Random statements from a small grammar: mostly SELECT, INSERT, UPDATE and DELETE with names,
// literals of every lexical form, casts (type modifiers, float precision, array bounds),
// operators next to numbers, negations, subqueries, CTEs (data-modifying ones too) and
// set_config calls; now and then two statements, a comment, or a utility statement.
struct StatementGenerator {
  std::mt19937& rng;
  int depth = 0;

  bool chance(size_t percent) { return below(rng, 100) < percent; }
  std::string one_of(const std::vector<std::string>& options) { return options[below(rng, options.size())]; }

  std::string digits() {
    std::string out;
    for (size_t n = 1 + below(rng, 12); n > 0; --n) out += static_cast<char>('0' + below(rng, 10));
    return out;
  }
  std::string number() {
    switch (below(rng, 9)) {
      case 0: return digits() + "." + digits();
      case 1: return "." + digits();
      case 2: return digits() + ".";
      case 3: return digits() + one_of({"e", "E", "e+", "e-"}) + digits();
      case 4: return one_of({"2147483648", "99999999999999999999", "007", "0"});
      default: return digits();
    }
  }
  std::string string_literal() {
    std::string prefix = one_of({"", "", "", "", "E", "e", "N", "B", "X"});
    std::string body = one_of({"abc", "", "it''s", "a;b", "--x", "/*", "$$", "日本", "search_path", "1"});
    if (prefix == "B" || prefix == "X") body = prefix == "B" ? "101" : "1F";
    std::string s = prefix + "'" + body + "'";
    if (chance(5)) s += one_of({"\n'continued'", " 'not continued'"});
    return s;
  }
  std::string type() {
    return one_of({"int", "bigint", "text", "numeric", "numeric(10,2)", "varchar(20)", "char(3)", "float(10)",
                   "float(30)", "float", "int[3]", "text[]", "bit(4)", "interval", "interval second(3)", "date",
                   "timestamp(3)", "\"char\"", "pg_catalog.int4"});
  }
  std::string column() {
    return one_of({"a", "b", "c1", "t.a", "u.b", "\"Mixed\"", "\"q\"\"x9\"", "abalance", "aid", "x$1", "é", "_2"});
  }
  std::string table() {
    return one_of({"t", "u", "s.t", "pgbench_accounts", "\"T 1\"", "public.users", "t2", "\"9lives\""});
  }
  std::string literal() {
    switch (below(rng, 14)) {
      case 0: case 1: case 2: case 3: return number();
      case 4: case 5: case 6: return string_literal();
      case 7:
        return one_of({"date '2024-01-01'", "interval '1' day", "interval '2 hours'", "timestamp '2024-01-01 10:00'",
                       "int '5'", "interval '1' second(3)", "timestamp(3) '2024-01-01'", "interval(2) '1 s'"});
      case 8: return one_of({"true", "false", "null", "DEFAULT"});
      case 9: return (chance(50) ? number() : string_literal()) + "::" + type();
      case 10: return "ARRAY[" + number() + ", " + number() + "]";
      case 11: return "CAST(" + literal() + " AS " + type() + ")";
      case 12: return one_of({"$1", "$2", "$10"});
      default: return "'{1,2}'::" + type();
    }
  }
  std::string op() {
    return one_of({" + ", " - ", "-", "+", " * ", "*", " / ", "/", " = ", "=", " <> ", " || ", " < ", " >= ", " % ",
                   "*-", "=-", " ~ ", " @- ", "^", " # ", "<->"});
  }
  std::string call() {
    std::string f = one_of({"lower", "coalesce", "now", "abs", "set_config", "pg_catalog.set_config", "substring",
                            "length", "round"});
    if (f.ends_with("set_config"))
      return f + "(" + one_of({"'search_path'", "'work_mem'", "'Search_Path'"}) + ", " + string_literal() + ", " +
             one_of({"false", "true"}) + ")";
    if (f == "substring") return f + "(" + column() + " FROM " + number() + " FOR " + number() + ")";
    return f + "(" + expr() + (chance(30) ? ", " + expr() : "") + ")";
  }
  std::string expr() {
    if (++depth > 3) {
      --depth;
      return chance(50) ? column() : literal();
    }
    std::string out;
    switch (below(rng, 16)) {
      case 0: case 1: out = column(); break;
      case 2: case 3: case 4: out = literal(); break;
      case 5: out = expr() + op() + expr(); break;
      case 6: {
        std::string sign = one_of({"-", "- ", "-(", "- -", "-\n", "+"});
        out = sign + number() + (sign == "-(" ? ")" : "");
        break;
      }
      case 7: out = call(); break;
      case 8: out = (chance(50) ? "(" : "EXISTS (") + select() + ")"; break;
      case 9: out = column() + " IN (" + literal() + ", " + literal() + ")"; break;
      case 10: out = column() + " BETWEEN " + literal() + " AND " + literal(); break;
      case 11: out = "CASE WHEN " + expr() + " THEN " + literal() + " ELSE " + literal() + " END"; break;
      case 12: out = column() + "::" + type(); break;
      case 13: out = column() + " LIKE " + string_literal() + (chance(30) ? " ESCAPE '!'" : ""); break;
      case 14: out = column() + "[" + number() + "]" + (chance(30) ? "[1:2]" : ""); break;
      default: out = "(" + expr() + ")"; break;
    }
    --depth;
    return out;
  }
  std::string select() {
    std::string s = "SELECT " + std::string(chance(10) ? "DISTINCT " : "") + expr();
    if (chance(40)) s += ", " + expr() + (chance(30) ? " AS x" : "");
    if (chance(85)) s += " FROM " + table() + (chance(30) ? " AS v" : "");
    if (chance(20)) s += " JOIN u ON t.a = u.b" + std::string(chance(30) ? " AND u.b > " + number() : "");
    if (chance(70)) s += " WHERE " + expr();
    if (chance(10)) s += " GROUP BY " + one_of({"1", "a", "2, 1"});
    if (chance(15)) s += " ORDER BY " + (chance(50) ? number() : expr());
    if (chance(15)) s += " LIMIT " + (chance(80) ? number() : "ALL");
    if (chance(10)) s += " OFFSET " + number();
    if (chance(5)) s += " FETCH FIRST " + number() + " ROWS ONLY";
    if (chance(5)) s += " FOR UPDATE";
    return s;
  }
  std::string insert() {
    std::string s = "INSERT INTO " + table();
    if (chance(20)) return s + " SELECT " + expr() + ", " + expr();
    s += " (a, b) VALUES (" + expr() + ", " + expr() + ")";
    if (chance(30)) s += ", (" + literal() + ", " + literal() + ")";
    if (chance(20))
      s += " ON CONFLICT (a) DO UPDATE SET b = " + expr() + (chance(50) ? " WHERE excluded.a > " + number() : "");
    return s;
  }
  std::string update() {
    std::string s = "UPDATE " + table() + " SET a = " + expr();
    if (chance(30)) s += ", b = " + expr();
    if (chance(80)) s += " WHERE " + expr();
    return s;
  }
  std::string remove() { return "DELETE FROM " + table() + (chance(80) ? " WHERE " + expr() : ""); }
  std::string data_statement() {
    if (chance(15)) {
      std::string inner = chance(60) ? one_of({"DELETE FROM t WHERE a = ", "UPDATE t SET b = 1 WHERE a = "}) +
                                           literal() + " RETURNING *"
                                     : select();
      return "WITH c AS (" + inner + ") SELECT * FROM c WHERE " + expr();
    }
    switch (below(rng, 10)) {
      case 0: case 1: return insert() + (chance(20) ? " RETURNING a" : "");
      case 2: case 3: return update() + (chance(20) ? " RETURNING *" : "");
      case 4: return remove() + (chance(20) ? " RETURNING a" : "");
      default: return select();
    }
  }
  std::string statement() {
    if (chance(4))
      return one_of({"SET work_mem = 64", "SET search_path = s, public", "EXPLAIN SELECT 1 FROM t WHERE a = 5",
                     "PREPARE p AS SELECT 1", "EXECUTE p(1)", "COPY t TO STDOUT", "DO 'BEGIN END'",
                     "CREATE TABLE x AS SELECT 1", "SELECT 1 INTO x", "LOCK t", "VACUUM t", "CREATE SEQUENCE s START 2",
                     "ALTER TABLE t ALTER COLUMN a SET STATISTICS 100", "FETCH 5 FROM c", "SHOW work_mem",
                     "MERGE INTO t USING u ON t.a = u.b WHEN MATCHED THEN UPDATE SET a = 1"});
    std::string s = one_of({"", "", "", " ", "\n  "}) + data_statement();
    if (chance(5)) s += "; " + data_statement();
    if (chance(4)) s = one_of({"/* c 1 */ ", "-- c\n"}) + s;
    if (chance(3)) s += " /* x */";
    return s + one_of({"", "", ";", " ;", ";\n", ";;", "\n"});
  }
};

// `items` space-separated between brackets.
inline std::string bracketed(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return "[" + out + "]";
}

// A readable dump of a parse result, every field.
inline std::string describe(const sql::ParseResult& r) {
  std::ostringstream out;
  out << "error=" << r.error << " position=" << r.error_position << " shape_invariant=" << r.shape_invariant;
  for (const auto& f : r.statements) {
    out << "\n  command=" << f.command << " commands=" << bracketed(f.commands)
        << " classes=" << bracketed(f.classes) << " read=" << bracketed(f.tables_read)
        << " written=" << bracketed(f.tables_written) << " named=" << bracketed(f.tables_named)
        << " lock=" << f.lock_mode << " columns=" << bracketed(f.columns)
        << " functions=" << bracketed(f.functions) << " where_absent=" << f.where_absent
        << " fingerprint=" << f.fingerprint << " normalized=" << f.normalized << " offset=" << f.offset
        << " length=" << f.length << " prepares=" << f.prepares.value_or("-")
        << " executes=" << f.executes.value_or("-") << " deallocates=" << f.deallocates.value_or("-")
        << " sets_search_path=" << (f.sets_search_path ? bracketed(*f.sets_search_path) : "-");
  }
  return out.str();
}

// `result` (of one statement) as it holds for `other`, a text of the same shape as `text`: the
// statement's offset and the bytes after it are the same, its length is what remains.
inline sql::ParseResult moved(sql::ParseResult result, const std::string& text, const std::string& other) {
  for (auto& f : result.statements) f.length = other.size() - f.offset - (text.size() - f.offset - f.length);
  return result;
}

}  // namespace pgw::shape_testing
