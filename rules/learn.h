// `pgwarden learn` (SPEC section 13): from statements the audit recorded, a proposed rules file
// with the narrowest allow rules the rule language can say for what each principal pattern did,
// `tests:` cases drawn from the real statements, and deny rules for what never happened. The
// caller reads the store and hands each recorded statement to learn(); proposed_rules() writes
// the YAML. Nothing here reads a store.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "rules/observed.h"

namespace pgw::rules {

// What a learned statement is, for the rule that allows it. Within a principal pattern the rules
// come in this order (see proposed_rules).
enum class LearnedGroup {
  ddl,          // schema changes that name tables (CREATE/ALTER TABLE, CREATE INDEX, ...)
  writes,       // statements that write tables (INSERT, UPDATE, DELETE, MERGE, COPY FROM, ...)
  reads,        // statements that read tables and write none
  maintenance,  // statements that only name tables (LOCK, VACUUM, ANALYZE)
  session,      // statements that touch no table (BEGIN, SET, SHOW, SELECT 1, advisory locks)
  ddl_objects,  // schema changes that touch no table (CREATE SCHEMA, FUNCTION, EXTENSION, ...)
};

// A real statement that stands as a test case of the rule that allows it.
struct LearnedExample {
  int64_t count = 0;  // statements of this fingerprint
  std::string principal;
  std::string database;
  std::string sql;  // empty until a statement of the fingerprint can stand as a test case
  bool succeeded = false;
};

// What one group of statements of one principal touched.
struct LearnedTraffic {
  int64_t statements = 0;
  std::set<std::string> databases;
  std::set<std::string> commands;   // the statements' kinds
  std::set<std::string> tables;     // the group's tables: written, read, or named
  std::set<std::string> functions;  // called (listed in a comment: allow rules cannot confine them)
  std::map<std::string, LearnedExample> by_fingerprint;
};

// Everything one principal did that is learned.
struct LearnedPrincipal {
  int64_t statements = 0;
  std::map<LearnedGroup, LearnedTraffic> groups;
  bool unbounded_write = false;          // an UPDATE or DELETE without WHERE
  std::set<std::string> file_functions;  // file or network functions it called
  std::set<std::string> classes;
};

// What learn() gathered so far.
struct Learning {
  int64_t records = 0;
  int64_t learned = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  std::map<std::string, int64_t> not_learned;  // why -> how many
  std::map<std::string, LearnedPrincipal> principals;
  FactsCache cache;
};

// Functions that read or write the server's files or reach the network (globs): the proposed
// rules deny them to every principal never seen calling one, since allow rules cannot confine the
// functions a statement calls.
const std::vector<std::string>& file_and_network_functions();

// Takes one recorded statement into account: learned when it ran as allowed (allow, log, or in
// `mode: monitor` a would_deny of the default), and counted with the reason otherwise.
void learn(Learning* learning, const ObservedStatement& observed);

// Where the statements came from, for the header of the proposed file.
struct LearnSource {
  std::string store;           // the store as messages name it
  std::string since;           // --since as given, or empty
  std::string until;           // --until as given, or empty
  std::string principal_glob;  // --principal as given, or empty
  std::string period;          // "from T to T" of the records read (Learning's first_us, last_us)
};

// The proposed rules file (YAML, with comments for the reviewer). `pgwarden check` accepts it
// and its `tests:` pass.
std::string proposed_rules(const Learning& learning, const LearnSource& source);

}  // namespace pgw::rules
