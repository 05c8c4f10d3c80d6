// Strict reading of YAML nodes for the rules file: every mistake is collected as a LoadError
// naming the file, the 1-based line and column, and the field path ("rules[2].match.commands[1]").
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rules.h"

namespace pgw::rules {

// Where errors go while one file is read.
struct Reader {
  std::string file;
  std::vector<LoadError>* errors;
};

// Records an error at `at`'s position (yaml-cpp marks are 0-based; LoadError is 1-based).
void report(Reader& r, const YAML::Node& at, const std::string& field, std::string message);

// Checks that `node` is a mapping whose keys are all in `allowed`, each once. Reports unknown
// and repeated keys; returns false (after reporting) only if `node` is not a mapping.
bool check_keys(Reader& r, const YAML::Node& node, const std::string& field,
                std::initializer_list<std::string_view> allowed);

// A scalar's text; reports and returns nullopt for a sequence, mapping or null.
std::optional<std::string> read_string(Reader& r, const YAML::Node& node, const std::string& field);

// The scalar, which must be one of `choices`.
std::optional<std::string> read_choice(Reader& r, const YAML::Node& node, const std::string& field,
                                       std::initializer_list<std::string_view> choices);

// Called for each item of a list: its text, its node (for positions) and its field path.
using ItemReader =
    std::function<void(const std::string& value, const YAML::Node& item, const std::string& field)>;
// Reads a non-empty sequence of scalars, calling `each` for every scalar item. Reports a
// non-sequence, an empty list (it could never match) and non-scalar items.
void read_string_list(Reader& r, const YAML::Node& node, const std::string& field,
                      const ItemReader& each);

// The action named by a scalar (allow, deny, hold, log).
std::optional<Action> read_action(Reader& r, const YAML::Node& node, const std::string& field);

}  // namespace pgw::rules
