#include "rules/yaml_reader.h"

#include <set>

namespace pgw::rules {

namespace {

std::string quoted_list(std::initializer_list<std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

const char* kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "nothing";
  }
}

}  // namespace

void report(Reader& r, const YAML::Node& at, const std::string& field, std::string message) {
  YAML::Mark mark = at.IsDefined() ? at.Mark() : YAML::Mark::null_mark();
  LoadError e;
  e.file = r.file;
  e.line = mark.is_null() ? 0 : mark.line + 1;
  e.column = mark.is_null() ? 0 : mark.column + 1;
  e.field = field;
  e.message = std::move(message);
  r.errors->push_back(std::move(e));
}

bool check_keys(Reader& r, const YAML::Node& node, const std::string& field,
                std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    report(r, node, field, std::string("expected a mapping, found ") + kind_name(node));
    return false;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      report(r, kv.first, field, "keys must be plain names");
      continue;
    }
    const std::string& key = kv.first.Scalar();
    std::string path = field.empty() ? key : field + "." + key;
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) {
      report(r, kv.first, path, "unknown key (expected one of: " + quoted_list(allowed) + ")");
    } else if (!seen.insert(key).second) {
      report(r, kv.first, path, "key given twice");
    }
  }
  return true;
}

std::optional<std::string> read_string(Reader& r, const YAML::Node& node,
                                       const std::string& field) {
  if (!node.IsScalar()) {
    report(r, node, field, std::string("expected a string, found ") + kind_name(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> read_choice(Reader& r, const YAML::Node& node, const std::string& field,
                                       std::initializer_list<std::string_view> choices) {
  std::optional<std::string> value = read_string(r, node, field);
  if (!value) return std::nullopt;
  for (std::string_view c : choices) {
    if (*value == c) return value;
  }
  report(r, node, field, "\"" + *value + "\" is not one of: " + quoted_list(choices));
  return std::nullopt;
}

void read_string_list(Reader& r, const YAML::Node& node, const std::string& field,
                      const ItemReader& each) {
  if (!node.IsSequence()) {
    report(r, node, field, std::string("expected a list, found ") + kind_name(node));
    return;
  }
  if (node.size() == 0) {
    report(r, node, field, "empty list (it would never match)");
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    std::string item_field = field + "[" + std::to_string(i) + "]";
    std::optional<std::string> value = read_string(r, node[i], item_field);
    if (value) each(*value, node[i], item_field);
  }
}

std::optional<Action> read_action(Reader& r, const YAML::Node& node, const std::string& field) {
  std::optional<std::string> name = read_choice(r, node, field, {"allow", "deny", "hold", "log"});
  if (!name) return std::nullopt;
  if (*name == "allow") return Action::allow;
  if (*name == "deny") return Action::deny;
  if (*name == "hold") return Action::hold;
  return Action::log;
}

}  // namespace pgw::rules
