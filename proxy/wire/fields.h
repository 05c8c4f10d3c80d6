// The values inside result messages, for rewriting them: the columns of a RowDescription, the
// values of a DataRow, and the fields of one row of `COPY ... TO STDOUT` in text or CSV format.
// Pure functions over message bodies; like the rest of the codec, no length is trusted before it
// is checked against the bytes actually received.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgw {

// One column of a RowDescription: where its values come from and how they are sent.
struct FieldDesc {
  std::string_view name;
  uint32_t table_oid = 0;  // 0 when the column is not a plain column of a table or view
  int16_t attnum = 0;
  uint32_t type_oid = 0;
  int16_t format = 0;  // 0 text, 1 binary
};

// Reads a RowDescription body; false when it is malformed.
bool parse_row_description(std::string_view body, std::vector<FieldDesc>* fields);

// Reads a DataRow body into its values (nullopt for NULL); false when it is malformed.
bool split_data_row(std::string_view body, std::vector<std::optional<std::string_view>>* values);
// Appends a whole DataRow message with these values.
void write_data_row_values(std::string& out, const std::vector<std::optional<std::string_view>>& values);

// The text form PostgreSQL gives a number sent in binary format (int2, int4, int8, oid, float4,
// float8, numeric: `type_oid`), for value masks to look at; nullopt for another type or a
// malformed value.
std::optional<std::string> binary_number_text(uint32_t type_oid, std::string_view value);

// How a COPY TO STDOUT writes its rows (the options of the COPY statement).
struct CopyFormat {
  bool csv = false;
  char delimiter = '\t';
  char quote = '"';
  char escape = '"';
  std::string null = "\\N";
};
// The COPY format of PostgreSQL's defaults for text (csv false) or CSV (csv true).
CopyFormat copy_format_defaults(bool csv);

// One field of a COPY row: its bytes as sent, and its value (nullopt for the NULL marker).
struct CopyField {
  std::string_view raw;
  std::optional<std::string> value;
};
// Splits one row (the body of a CopyData, one row and its newline) into fields; false when it
// is malformed (an unterminated quote, a dangling backslash).
bool split_copy_row(std::string_view row, const CopyFormat& format, std::vector<CopyField>* fields);
// Appends `value` encoded as one COPY field (CSV values are always quoted).
void append_copy_field(std::string& out, std::string_view value, const CopyFormat& format);

}  // namespace pgw
