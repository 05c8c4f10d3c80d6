#include "rules/load_match.h"

#include <algorithm>

#include "sqlparse/facts.h"

namespace pgw::rules {

namespace {

// Levenshtein distance, to suggest the command a misspelt name meant.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_command_message(const std::string& name) {
  std::string message = "unknown command \"" + name + "\"";
  const std::string* best = nullptr;
  size_t best_distance = 3;
  for (const std::string& known : sql::known_commands()) {
    size_t d = edit_distance(name, known);
    if (d < best_distance) {
      best = &known;
      best_distance = d;
    }
  }
  if (best != nullptr) message += " (did you mean \"" + *best + "\"?)";
  return message;
}

// Reads a list of strings, each compiled into a T by `compile(text, &value, &error)`; an item
// that does not compile is reported at its own position.
template <typename T, typename Compile>
void read_compiled(Reader& r, const YAML::Node& node, const std::string& field,
                   std::vector<T>* out, Compile compile) {
  read_string_list(
      r, node, field,
      [&](const std::string& v, const YAML::Node& item, const std::string& item_field) {
        T value;
        std::string error;
        if (!compile(v, &value, &error)) return report(r, item, item_field, error);
        out->push_back(std::move(value));
      });
}

void read_globs(Reader& r, const YAML::Node& node, const std::string& field, Folding folding,
                std::vector<Glob>* out) {
  read_compiled(r, node, field, out, [folding](const std::string& v, Glob* g, std::string* e) {
    return compile_glob(v, folding, g, e);
  });
}

void read_qualified(Reader& r, const YAML::Node& node, const std::string& field, size_t parts,
                    std::vector<QualifiedGlob>* out) {
  read_compiled(r, node, field, out,
                [parts](const std::string& v, QualifiedGlob* g, std::string* e) {
                  return compile_qualified(v, parts, g, e);
                });
}

void read_functions(Reader& r, const YAML::Node& node, const std::string& field,
                    std::vector<Glob>* out) {
  read_compiled(r, node, field, out, compile_function_glob);
}

void read_commands(Reader& r, const YAML::Node& node, const std::string& field,
                   std::vector<Glob>* out) {
  read_string_list(
      r, node, field,
      [&](const std::string& v, const YAML::Node& item, const std::string& item_field) {
        Glob g;
        std::string error;
        if (!compile_glob(v, Folding::identifier, &g, &error)) {
          return report(r, item, item_field, error);
        }
        const std::vector<std::string>& known = sql::known_commands();
        bool any = std::any_of(known.begin(), known.end(),
                               [&](const std::string& k) { return glob_match(g, k); });
        if (!any) return report(r, item, item_field, unknown_command_message(v));
        out->push_back(std::move(g));
      });
}

void read_classes(Reader& r, const YAML::Node& node, const std::string& field, unsigned* out) {
  read_string_list(
      r, node, field,
      [&](const std::string& v, const YAML::Node& item, const std::string& item_field) {
        unsigned bit = class_bit(v);
        if (bit == 0) {
          return report(
              r, item, item_field,
              "unknown class \"" + v + "\" (expected read, write, ddl, role, function, misc)");
        }
        *out |= bit;
      });
}

std::string unknown_lock_mode_message(const std::string& name) {
  std::string expected;
  for (const std::string& mode : sql::known_lock_modes()) {
    expected += (expected.empty() ? "" : ", ") + mode;
  }
  return "unknown lock mode \"" + name + "\" (expected " + expected + ")";
}

void read_lock_modes(Reader& r, const YAML::Node& node, const std::string& field,
                     std::vector<std::string>* out) {
  const std::vector<std::string>& known = sql::known_lock_modes();
  read_string_list(
      r, node, field,
      [&](const std::string& v, const YAML::Node& item, const std::string& item_field) {
        if (std::find(known.begin(), known.end(), v) == known.end()) {
          return report(r, item, item_field, unknown_lock_mode_message(v));
        }
        out->push_back(v);
      });
}

void read_cidrs(Reader& r, const YAML::Node& node, const std::string& field,
                std::vector<Cidr>* out) {
  read_compiled(r, node, field, out, parse_cidr);
}

void read_sql(Reader& r, const YAML::Node& node, const std::string& field,
              std::shared_ptr<const RE2>* out) {
  std::optional<std::string> pattern = read_string(r, node, field);
  if (!pattern) return;
  auto re = std::make_shared<const RE2>(*pattern, regex_options());
  if (!re->ok()) return report(r, node, field, "bad regular expression: " + re->error());
  *out = std::move(re);
}

// Reads one session field; false if `key` is not one.
bool read_session_field(Reader& r, const std::string& key, const YAML::Node& value,
                        const std::string& path, SessionMatch* m) {
  if (key == "principals")
    read_globs(r, value, path, Folding::exact, &m->principals);
  else if (key == "jobs")
    read_globs(r, value, path, Folding::exact, &m->jobs);
  else if (key == "databases")
    read_globs(r, value, path, Folding::exact, &m->databases);
  else if (key == "client_addrs")
    read_cidrs(r, value, path, &m->client_addrs);
  else
    return false;
  return true;
}

void read_statement_field(Reader& r, const std::string& key, const YAML::Node& value,
                          const std::string& path, StatementMatch* m) {
  if (key == "commands")
    read_commands(r, value, path, &m->commands);
  else if (key == "classes")
    read_classes(r, value, path, &m->classes);
  else if (key == "tables")
    read_qualified(r, value, path, 2, &m->tables);
  else if (key == "reads")
    read_qualified(r, value, path, 2, &m->reads);
  else if (key == "writes")
    read_qualified(r, value, path, 2, &m->writes);
  else if (key == "columns")
    read_qualified(r, value, path, 3, &m->columns);
  else if (key == "functions")
    read_functions(r, value, path, &m->functions);
  else if (key == "lock_modes")
    read_lock_modes(r, value, path, &m->lock_modes);
  else if (key == "sql")
    read_sql(r, value, path, &m->sql);
  else if (key == "where")
    m->where_absent = read_choice(r, value, path, {"absent"}).has_value();
}

// "key=value" with a list flattened to "[a, b]".
std::string summarize_field(const std::string& key, const YAML::Node& value) {
  std::string text;
  if (value.IsSequence()) {
    for (const auto& item : value) {
      if (!text.empty()) text += ", ";
      text += item.IsScalar() ? item.Scalar() : "?";
    }
    text = "[" + text + "]";
  } else if (value.IsScalar()) {
    text = value.Scalar();
  }
  return key + "=" + text;
}

}  // namespace

void read_rule_match(Reader& r, const YAML::Node& node, const std::string& field,
                     SessionMatch* session, StatementMatch* statement, std::string* summary) {
  if (node.IsNull()) return;
  if (!check_keys(r, node, field,
                  {"principals", "jobs", "databases", "client_addrs", "commands", "classes",
                   "tables", "reads", "writes", "columns", "functions", "lock_modes", "where",
                   "sql"})) {
    return;
  }
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) continue;
    const std::string& key = kv.first.Scalar();
    std::string path = field + "." + key;
    if (!read_session_field(r, key, kv.second, path, session)) {
      read_statement_field(r, key, kv.second, path, statement);
    }
    if (!summary->empty()) *summary += " ";
    *summary += summarize_field(key, kv.second);
  }
}

void read_mask_match(Reader& r, const YAML::Node& node, const std::string& field,
                     SessionMatch* session) {
  if (node.IsNull()) return;
  if (!check_keys(r, node, field, {"principals", "jobs", "databases", "client_addrs"})) return;
  for (const auto& kv : node) {
    if (kv.first.IsScalar()) {
      read_session_field(r, kv.first.Scalar(), kv.second, field + "." + kv.first.Scalar(), session);
    }
  }
}

}  // namespace pgw::rules
