// Loading rule sets in unit tests: a load error fails the test with its file:line:col message.
#pragma once

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rules/rules.h"

namespace pgw::rules {

// Loads test/rules/<name>.
inline RuleSetPtr load_file(const std::string& name) {
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_file(std::string(PGW_SOURCE_DIR) + "/test/rules/" + name, &errors);
  for (const LoadError& e : errors) FAIL(e.to_string());
  REQUIRE(set);
  return set;
}

// Loads rules from YAML text, reported as "rules.yaml".
inline RuleSetPtr load(const std::string& yaml) {
  std::vector<LoadError> errors;
  RuleSetPtr set = load_rules_node(YAML::Load(yaml), "rules.yaml", &errors);
  for (const LoadError& e : errors) FAIL(e.to_string());
  REQUIRE(set);
  return set;
}

}  // namespace pgw::rules
