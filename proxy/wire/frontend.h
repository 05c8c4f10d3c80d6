// Typed views of the frontend messages pgwarden reads after login, each decoded once, here (as
// LevelDB's log_format.h is the one place its records' layout is written down): the session, the
// judging of parameters and masking all take these views instead of reading bytes themselves.
// A view's string_views point into the message it was decoded from.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pgw {

// The values of a Bind or the arguments of a FunctionCall, with their format codes.
struct ParameterValues {
  std::vector<int16_t> formats;                       // none: all text; one: for all; else one each
  std::vector<std::optional<std::string_view>> values;  // nullopt for NULL
  // Whether value `i` is in binary format.
  bool binary(size_t i) const;
};

struct ParseView {
  std::string_view statement;  // "" for the unnamed statement
  std::string_view query;
};

struct BindView {
  std::string_view portal;
  std::string_view statement;
  ParameterValues parameters;
};

struct ExecuteView {
  std::string_view portal;
  int32_t max_rows = 0;
};

// A Describe or Close: of a prepared statement ('S') or a portal ('P').
struct TargetView {
  char kind = 0;
  std::string_view name;
  bool portal() const { return kind == 'P'; }
};

struct FunctionCallView {
  uint32_t function_oid = 0;
  ParameterValues arguments;
};

// Each decodes a message body (after type and length); false when it is malformed (truncated,
// trailing bytes, a bad count or an unknown target kind).
bool decode_query(std::string_view body, std::string_view* query);
bool decode_parse(std::string_view body, ParseView* out);
bool decode_bind(std::string_view body, BindView* out);
bool decode_execute(std::string_view body, ExecuteView* out);
bool decode_target(std::string_view body, TargetView* out);
bool decode_function_call(std::string_view body, FunctionCallView* out);

}  // namespace pgw
