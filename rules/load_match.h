// Reading the `match:` mapping of a rule or a mask.
#pragma once

#include <string>

#include "rules/ruleset.h"
#include "rules/yaml_reader.h"

namespace pgw::rules {

// Reads a rule's `match:` into its session and statement fields, and writes a one-line
// summary of the fields as written (for SHOW RULES) to `summary`.
void read_rule_match(Reader& r, const YAML::Node& node, const std::string& field,
                     SessionMatch* session, StatementMatch* statement, std::string* summary);

// Reads a mask's `match:`, which may only name the session (principals, jobs, databases,
// client_addrs): masks apply to result values, not to statements.
void read_mask_match(Reader& r, const YAML::Node& node, const std::string& field,
                     SessionMatch* session);

}  // namespace pgw::rules
