// Loading rule sets in unit tests (a load error fails the test with its file:line:col message),
// and statements as the audit records them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rules/observed.h"
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

// A statement as the proxy records it in database app: its fingerprint and tables from the text,
// names resolved against public.
inline ObservedStatement recorded_statement(const std::string& principal, const std::string& sql,
                                            const std::string& decision, const std::string& rule,
                                            const std::string& sqlstate = "") {
  sql::ParseResult parsed = sql::parse(sql, {"public"});
  ObservedStatement o;
  o.ts_us = 1'700'000'000'000'000;
  o.principal = principal;
  o.database = "app";
  o.statement = sql;
  if (parsed.ok() && parsed.statements.size() == 1) {
    o.fingerprint = parsed.statements[0].fingerprint;
    o.tables_read = parsed.statements[0].tables_read;
    o.tables_written = parsed.statements[0].tables_written;
  }
  o.decision = decision;
  o.rule = rule;
  o.sqlstate = sqlstate;
  return o;
}

}  // namespace pgw::rules
