#include "sqlparse/kinds.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <utility>

namespace pgw::sql {
namespace {

using Names = std::unordered_map<std::string_view, std::string_view>;

// Statement nodes whose kind does not depend on their fields.
constexpr std::pair<std::string_view, std::string_view> kFixedKinds[] = {
    {"SelectStmt", "select"},
    {"InsertStmt", "insert"},
    {"UpdateStmt", "update"},
    {"DeleteStmt", "delete"},
    {"MergeStmt", "merge"},
    {"TruncateStmt", "truncate"},
    {"CreateStmt", "create_table"},
    {"CreateForeignTableStmt", "create_foreign_table"},
    {"IndexStmt", "create_index"},
    {"ViewStmt", "create_view"},
    {"CreateSchemaStmt", "create_schema"},
    {"CreateFunctionStmt", "create_function"},
    {"AlterFunctionStmt", "alter_function"},
    {"CreateSeqStmt", "create_sequence"},
    {"AlterSeqStmt", "alter_sequence"},
    {"CreateTrigStmt", "create_trigger"},
    {"CreateEventTrigStmt", "create_event_trigger"},
    {"AlterEventTrigStmt", "alter_event_trigger"},
    {"RuleStmt", "create_rule"},
    {"CreatePolicyStmt", "create_policy"},
    {"AlterPolicyStmt", "alter_policy"},
    {"CreateDomainStmt", "create_domain"},
    {"AlterDomainStmt", "alter_domain"},
    {"CompositeTypeStmt", "create_type"},
    {"CreateEnumStmt", "create_type"},
    {"CreateRangeStmt", "create_type"},
    {"AlterEnumStmt", "alter_type"},
    {"AlterTypeStmt", "alter_type"},
    {"AlterOperatorStmt", "alter_operator"},
    {"CreateCastStmt", "create_cast"},
    {"CreateConversionStmt", "create_conversion"},
    {"CreateOpClassStmt", "create_operator_class"},
    {"CreateOpFamilyStmt", "create_operator_family"},
    {"AlterOpFamilyStmt", "alter_operator_family"},
    {"CreatePLangStmt", "create_language"},
    {"CreateTransformStmt", "create_transform"},
    {"CreateAmStmt", "create_access_method"},
    {"CreateStatsStmt", "create_statistics"},
    {"AlterStatsStmt", "alter_statistics"},
    {"AlterCollationStmt", "alter_collation"},
    {"AlterTSDictionaryStmt", "alter_text_search_dictionary"},
    {"AlterTSConfigurationStmt", "alter_text_search_configuration"},
    {"CreateExtensionStmt", "create_extension"},
    {"AlterExtensionStmt", "alter_extension"},
    {"AlterExtensionContentsStmt", "alter_extension"},
    {"CreateFdwStmt", "create_foreign_data_wrapper"},
    {"AlterFdwStmt", "alter_foreign_data_wrapper"},
    {"CreateForeignServerStmt", "create_server"},
    {"AlterForeignServerStmt", "alter_server"},
    {"CreateUserMappingStmt", "create_user_mapping"},
    {"AlterUserMappingStmt", "alter_user_mapping"},
    {"DropUserMappingStmt", "drop_user_mapping"},
    {"ImportForeignSchemaStmt", "import_foreign_schema"},
    {"CreatePublicationStmt", "create_publication"},
    {"AlterPublicationStmt", "alter_publication"},
    {"CreateSubscriptionStmt", "create_subscription"},
    {"AlterSubscriptionStmt", "alter_subscription"},
    {"DropSubscriptionStmt", "drop_subscription"},
    {"CreatedbStmt", "create_database"},
    {"DropdbStmt", "drop_database"},
    {"AlterDatabaseStmt", "alter_database"},
    {"AlterDatabaseSetStmt", "alter_database"},
    {"AlterDatabaseRefreshCollStmt", "alter_database"},
    {"CreateTableSpaceStmt", "create_tablespace"},
    {"DropTableSpaceStmt", "drop_tablespace"},
    {"AlterTableSpaceOptionsStmt", "alter_tablespace"},
    {"AlterTableMoveAllStmt", "alter_table"},
    {"AlterSystemStmt", "alter_system"},
    {"RefreshMatViewStmt", "refresh_matview"},
    {"CommentStmt", "comment"},
    {"SecLabelStmt", "security_label"},
    {"ClusterStmt", "cluster"},
    {"ReindexStmt", "reindex"},
    {"CreateRoleStmt", "create_role"},
    {"AlterRoleStmt", "alter_role"},
    {"AlterRoleSetStmt", "alter_role"},
    {"DropRoleStmt", "drop_role"},
    {"AlterDefaultPrivilegesStmt", "alter_default_privileges"},
    {"DropOwnedStmt", "drop_owned"},
    {"ReassignOwnedStmt", "reassign_owned"},
    {"DoStmt", "do"},
    {"CallStmt", "call"},
    {"VariableShowStmt", "show"},
    {"DiscardStmt", "discard"},
    {"ListenStmt", "listen"},
    {"NotifyStmt", "notify"},
    {"UnlistenStmt", "unlisten"},
    {"LockStmt", "lock"},
    {"CheckPointStmt", "checkpoint"},
    {"LoadStmt", "load"},
    {"ConstraintsSetStmt", "set_constraints"},
    {"PrepareStmt", "prepare"},
    {"ExecuteStmt", "execute"},
    {"DeallocateStmt", "deallocate"},
    {"DeclareCursorStmt", "declare_cursor"},
    {"ClosePortalStmt", "close"},
    {"ExplainStmt", "explain"},
};

// Kinds whose class is not ddl.
constexpr std::pair<std::string_view, std::string_view> kClasses[] = {
    {"select", "read"},         {"copy_to", "read"},
    {"insert", "write"},        {"update", "write"},
    {"delete", "write"},        {"merge", "write"},
    {"truncate", "write"},      {"copy_from", "write"},
    {"do", "function"},         {"call", "function"},
    {"grant", "role"},          {"revoke", "role"},
    {"grant_role", "role"},     {"revoke_role", "role"},
    {"create_role", "role"},    {"alter_role", "role"},
    {"drop_role", "role"},      {"alter_default_privileges", "role"},
    {"drop_owned", "role"},     {"reassign_owned", "role"},
    {"set", "misc"},            {"reset", "misc"},
    {"show", "misc"},           {"begin", "misc"},
    {"commit", "misc"},         {"rollback", "misc"},
    {"savepoint", "misc"},      {"release", "misc"},
    {"rollback_to", "misc"},    {"prepare_transaction", "misc"},
    {"commit_prepared", "misc"}, {"rollback_prepared", "misc"},
    {"vacuum", "misc"},         {"analyze", "misc"},
    {"discard", "misc"},        {"listen", "misc"},
    {"notify", "misc"},         {"unlisten", "misc"},
    {"lock", "misc"},           {"checkpoint", "misc"},
    {"load", "misc"},           {"fetch", "misc"},
    {"move", "misc"},           {"close", "misc"},
    {"prepare", "misc"},        {"execute", "misc"},
    {"deallocate", "misc"},     {"explain", "misc"},
    {"declare_cursor", "misc"}, {"reindex", "misc"},
    {"set_constraints", "misc"},
};

// TransactionStmt kinds by its `kind` field.
constexpr std::pair<std::string_view, std::string_view> kTransactionKinds[] = {
    {"TRANS_STMT_BEGIN", "begin"},
    {"TRANS_STMT_START", "begin"},
    {"TRANS_STMT_COMMIT", "commit"},
    {"TRANS_STMT_ROLLBACK", "rollback"},
    {"TRANS_STMT_SAVEPOINT", "savepoint"},
    {"TRANS_STMT_RELEASE", "release"},
    {"TRANS_STMT_ROLLBACK_TO", "rollback_to"},
    {"TRANS_STMT_PREPARE", "prepare_transaction"},
    {"TRANS_STMT_COMMIT_PREPARED", "commit_prepared"},
    {"TRANS_STMT_ROLLBACK_PREPARED", "rollback_prepared"},
};

// ObjectType values whose kind word is not simply their lower-cased suffix.
constexpr std::pair<std::string_view, std::string_view> kObjectWords[] = {
    {"OBJECT_FDW", "foreign_data_wrapper"},
    {"OBJECT_FOREIGN_SERVER", "server"},
    {"OBJECT_STATISTIC_EXT", "statistics"},
    {"OBJECT_TSCONFIGURATION", "text_search_configuration"},
    {"OBJECT_TSDICTIONARY", "text_search_dictionary"},
    {"OBJECT_TSPARSER", "text_search_parser"},
    {"OBJECT_TSTEMPLATE", "text_search_template"},
    {"OBJECT_OPCLASS", "operator_class"},
    {"OBJECT_OPFAMILY", "operator_family"},
    {"OBJECT_LARGEOBJECT", "large_object"},
    {"OBJECT_TABCONSTRAINT", "constraint"},
    {"OBJECT_DOMCONSTRAINT", "constraint"},
};

// ObjectType values a DROP, ALTER ... RENAME/SET SCHEMA/OWNER TO or DefineStmt can name.
constexpr std::string_view kObjectTypes[] = {
    "OBJECT_ACCESS_METHOD", "OBJECT_AGGREGATE",      "OBJECT_CAST",
    "OBJECT_COLLATION",     "OBJECT_CONVERSION",     "OBJECT_DATABASE",
    "OBJECT_DOMAIN",        "OBJECT_EVENT_TRIGGER",  "OBJECT_EXTENSION",
    "OBJECT_FDW",           "OBJECT_FOREIGN_SERVER", "OBJECT_FOREIGN_TABLE",
    "OBJECT_FUNCTION",      "OBJECT_INDEX",          "OBJECT_LANGUAGE",
    "OBJECT_LARGEOBJECT",   "OBJECT_MATVIEW",        "OBJECT_OPCLASS",
    "OBJECT_OPERATOR",      "OBJECT_OPFAMILY",       "OBJECT_POLICY",
    "OBJECT_PROCEDURE",     "OBJECT_PUBLICATION",    "OBJECT_ROUTINE",
    "OBJECT_RULE",          "OBJECT_SCHEMA",         "OBJECT_SEQUENCE",
    "OBJECT_SUBSCRIPTION",  "OBJECT_STATISTIC_EXT",  "OBJECT_TABCONSTRAINT",
    "OBJECT_TABLE",         "OBJECT_TABLESPACE",     "OBJECT_TRANSFORM",
    "OBJECT_TRIGGER",       "OBJECT_TSCONFIGURATION", "OBJECT_TSDICTIONARY",
    "OBJECT_TSPARSER",      "OBJECT_TSTEMPLATE",     "OBJECT_TYPE",
    "OBJECT_VIEW",
};

template <size_t N>
Names index(const std::pair<std::string_view, std::string_view> (&pairs)[N]) {
  return Names(std::begin(pairs), std::end(pairs));
}

std::string_view lookup(const Names& names, std::string_view key) {
  auto it = names.find(key);
  return it == names.end() ? std::string_view{} : it->second;
}

// Object word of the ObjectType named by `fields`' member `key`.
std::string object_of(object fields, std::string_view key) {
  return object_word(member_text(fields, key));
}

// RenameStmt: ALTER TABLE t RENAME COLUMN c is an alter_table, ALTER INDEX i RENAME an alter_index.
std::string rename_kind(object fields) {
  std::string_view type = member_text(fields, "renameType");
  bool part = type == "OBJECT_COLUMN" || type == "OBJECT_TABCONSTRAINT";
  return "alter_" + object_of(fields, part ? "relationType" : "renameType");
}

std::string variable_set_kind(object fields) {
  std::string_view kind = member_text(fields, "kind");
  return kind == "VAR_RESET" || kind == "VAR_RESET_ALL" ? "reset" : "set";
}

}  // namespace

std::string object_word(std::string_view object_type) {
  static const Names special = index(kObjectWords);
  if (std::string_view word = lookup(special, object_type); !word.empty()) return std::string(word);
  std::string_view suffix = object_type.substr(object_type.starts_with("OBJECT_") ? 7 : 0);
  std::string word(suffix);
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return word;
}

std::string snake_case(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool upper = std::isupper(static_cast<unsigned char>(c));
    bool after_lower = i > 0 && std::islower(static_cast<unsigned char>(name[i - 1]));
    bool ends_acronym = i > 0 && i + 1 < name.size() && std::isupper(static_cast<unsigned char>(name[i - 1])) &&
                        std::islower(static_cast<unsigned char>(name[i + 1]));
    if (upper && (after_lower || ends_acronym)) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string kind_of(std::string_view type, object fields) {
  static const Names fixed = index(kFixedKinds);
  static const Names transactions = index(kTransactionKinds);
  if (std::string_view kind = lookup(fixed, type); !kind.empty()) return std::string(kind);
  if (type == "CopyStmt") return member_flag(fields, "is_from") ? "copy_from" : "copy_to";
  if (type == "CreateTableAsStmt")
    return member_text(fields, "objtype") == "OBJECT_MATVIEW" ? "create_matview" : "create_table_as";
  if (type == "AlterTableStmt") return "alter_" + object_of(fields, "objtype");
  if (type == "DropStmt") return "drop_" + object_of(fields, "removeType");
  if (type == "RenameStmt") return rename_kind(fields);
  if (type == "AlterObjectSchemaStmt" || type == "AlterOwnerStmt") return "alter_" + object_of(fields, "objectType");
  if (type == "DefineStmt") return "create_" + object_of(fields, "kind");
  if (type == "GrantStmt") return member_flag(fields, "is_grant") ? "grant" : "revoke";
  if (type == "GrantRoleStmt") return member_flag(fields, "is_grant") ? "grant_role" : "revoke_role";
  if (type == "VariableSetStmt") return variable_set_kind(fields);
  if (type == "VacuumStmt") return member_flag(fields, "is_vacuumcmd") ? "vacuum" : "analyze";
  if (type == "FetchStmt") return member_flag(fields, "ismove") ? "move" : "fetch";
  if (type == "TransactionStmt") {
    std::string_view kind = lookup(transactions, member_text(fields, "kind"));
    return kind.empty() ? "transaction" : std::string(kind);
  }
  std::string_view base = type.ends_with("Stmt") ? type.substr(0, type.size() - 4) : type;
  return snake_case(base);
}

std::string_view class_of(std::string_view kind) {
  static const Names classes = index(kClasses);
  std::string_view c = lookup(classes, kind);
  return c.empty() ? "ddl" : c;
}

const std::vector<std::string>& all_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> out;
    for (const auto& [node, kind] : kFixedKinds) out.emplace_back(kind);
    for (const auto& [value, kind] : kTransactionKinds) out.emplace_back(kind);
    for (std::string_view object_type : kObjectTypes) {
      out.push_back("drop_" + object_word(object_type));
      out.push_back("alter_" + object_word(object_type));
    }
    for (std::string_view defined : {"aggregate", "operator", "type", "collation", "text_search_parser",
                                     "text_search_dictionary", "text_search_template", "text_search_configuration"})
      out.push_back("create_" + std::string(defined));
    for (std::string_view kind : {"copy_from", "copy_to", "create_table_as", "create_matview", "grant", "revoke",
                                  "grant_role", "revoke_role", "set", "reset", "vacuum", "analyze", "fetch", "move",
                                  "alter_table_drop_column"})
      out.emplace_back(kind);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }();
  return kinds;
}

}  // namespace pgw::sql
