// Reading libpg_query's JSON parse tree. A node held in a Node-typed field or list is wrapped as
// {"TypeName": {...fields}}; a field with a fixed type (RangeVar "relation", SelectStmt "larg")
// holds the bare fields. Absent fields are omitted, so every accessor has an "absent" answer.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string_view>
#include <utility>

namespace pgw::sql {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Member `key` of `o`, or nothing when the field is absent.
inline std::optional<element> member(object o, std::string_view key) {
  element e;
  if (o[key].get(e)) return std::nullopt;
  return e;
}

// Member `key` of `o` when it is an object.
inline std::optional<object> member_object(object o, std::string_view key) {
  object v;
  if (o[key].get(v)) return std::nullopt;
  return v;
}

// Member `key` of `o` when it is a list; an absent list is empty.
inline std::optional<array> member_list(object o, std::string_view key) {
  array v;
  if (o[key].get(v)) return std::nullopt;
  return v;
}

// String member `key` of `o`, "" when absent.
inline std::string_view member_text(object o, std::string_view key) {
  std::string_view v;
  if (o[key].get(v)) return {};
  return v;
}

// Boolean member `key` of `o`, false when absent (libpg_query omits false).
inline bool member_flag(object o, std::string_view key) {
  bool v = false;
  if (o[key].get(v)) return false;
  return v;
}

// Integer member `key` of `o`, 0 when absent (libpg_query omits 0).
inline int64_t member_int(object o, std::string_view key) {
  int64_t v = 0;
  if (o[key].get(v)) return 0;
  return v;
}

// The type name and fields of a wrapped node {"SelectStmt": {...}}, or nothing when `e` is not
// one (a bare typed field, a list, a scalar).
inline std::optional<std::pair<std::string_view, object>> as_node(element e) {
  object o;
  if (e.get(o) || o.size() != 1) return std::nullopt;
  auto [key, value] = *o.begin();
  object fields;
  if (key.empty() || key[0] < 'A' || key[0] > 'Z' || value.get(fields)) return std::nullopt;
  return std::pair{key, fields};
}

// The wrapped node `e` when it is of type `type`.
inline std::optional<object> as_node(element e, std::string_view type) {
  auto n = as_node(e);
  if (!n || n->first != type) return std::nullopt;
  return n->second;
}

// The text of a String node {"String": {"sval": "x"}}, "" for anything else.
inline std::string_view string_node(element e) {
  auto s = as_node(e, "String");
  return s ? member_text(*s, "sval") : std::string_view{};
}

}  // namespace pgw::sql
