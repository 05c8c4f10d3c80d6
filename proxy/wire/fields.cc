#include "proxy/wire/fields.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <iterator>

#include <fmt/format.h>

#include "proxy/wire/wire.h"

namespace pgw {

bool parse_row_description(std::string_view body, std::vector<FieldDesc>* fields) {
  Reader r(body);
  int16_t count = r.i16();
  if (count < 0) return false;
  fields->clear();
  for (int i = 0; i < count && r.ok(); ++i) {
    FieldDesc f;
    f.name = r.cstr();
    f.table_oid = static_cast<uint32_t>(r.i32());
    f.attnum = r.i16();
    f.type_oid = static_cast<uint32_t>(r.i32());
    r.i16();  // type size
    r.i32();  // type modifier
    f.format = r.i16();
    fields->push_back(f);
  }
  return r.ok() && r.at_end();
}

bool split_data_row(std::string_view body, std::vector<std::optional<std::string_view>>* values) {
  Reader r(body);
  int16_t count = r.i16();
  if (count < 0) return false;
  values->clear();
  for (int i = 0; i < count && r.ok(); ++i) {
    int32_t len = r.i32();
    if (len < -1 || static_cast<size_t>(std::max(len, 0)) > r.remaining()) return false;
    if (len == -1) values->push_back(std::nullopt);
    else values->push_back(r.bytes(static_cast<size_t>(len)));
  }
  return r.ok() && r.at_end();
}

void write_data_row_values(std::string& out, const std::vector<std::optional<std::string_view>>& values) {
  Writer w(out);
  w.begin('D').i16(static_cast<int16_t>(values.size()));
  for (const auto& v : values) {
    if (v) w.i32(static_cast<int32_t>(v->size())).bytes(*v);
    else w.i32(-1);
  }
  w.end();
}

namespace {

uint64_t big_endian(std::string_view v) {
  uint64_t out = 0;
  for (unsigned char c : v) out = out << 8 | c;
  return out;
}

std::string numeric_text(std::string_view value) {
  Reader r(value);
  int16_t ndigits = r.i16();
  int16_t weight = r.i16();
  uint16_t sign = static_cast<uint16_t>(r.i16());
  int16_t dscale = r.i16();
  std::vector<int16_t> digits;
  for (int i = 0; i < ndigits && r.ok(); ++i) digits.push_back(r.i16());
  if (!r.ok() || !r.at_end() || ndigits < 0 || dscale < 0) return {};
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  auto digit = [&](int i) { return i >= 0 && i < ndigits ? digits[i] : 0; };
  std::string out = sign == 0x4000 ? "-" : "";
  if (weight < 0) out += '0';
  for (int i = 0; i <= weight; ++i) {
    if (i == 0) fmt::format_to(std::back_inserter(out), "{}", digit(i));
    else fmt::format_to(std::back_inserter(out), "{:04}", digit(i));
  }
  if (dscale > 0) {
    out += '.';
    size_t fraction_start = out.size();
    for (int i = weight + 1; out.size() - fraction_start < static_cast<size_t>(dscale); ++i) {
      fmt::format_to(std::back_inserter(out), "{:04}", digit(i));
    }
    out.resize(fraction_start + static_cast<size_t>(dscale));
  }
  return out;
}

template <typename T>
std::string shortest(T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string();
}

}  // namespace

std::optional<std::string> binary_number_text(uint32_t type_oid, std::string_view v) {
  switch (type_oid) {
    case 21:  // int2
      if (v.size() == 2) return std::to_string(static_cast<int16_t>(big_endian(v)));
      break;
    case 23:  // int4
      if (v.size() == 4) return std::to_string(static_cast<int32_t>(big_endian(v)));
      break;
    case 26:  // oid
      if (v.size() == 4) return std::to_string(static_cast<uint32_t>(big_endian(v)));
      break;
    case 20:  // int8
      if (v.size() == 8) return std::to_string(static_cast<int64_t>(big_endian(v)));
      break;
    case 700:  // float4
      if (v.size() == 4) return shortest(std::bit_cast<float>(static_cast<uint32_t>(big_endian(v))));
      break;
    case 701:  // float8
      if (v.size() == 8) return shortest(std::bit_cast<double>(big_endian(v)));
      break;
    case 1700: {  // numeric
      std::string text = numeric_text(v);
      if (!text.empty()) return text;
      break;
    }
  }
  return std::nullopt;
}

CopyFormat copy_format_defaults(bool csv) {
  CopyFormat f;
  f.csv = csv;
  if (csv) {
    f.delimiter = ',';
    f.null.clear();
  }
  return f;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the backslash escapes of one text-format field, as COPY FROM reads them.
bool unescape_text(std::string_view raw, std::string* out) {
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i == raw.size()) return false;
    c = raw[i];
    if (c >= '0' && c <= '7') {
      int v = c - '0';
      for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7'; ++k) v = v * 8 + (raw[++i] - '0');
      out->push_back(static_cast<char>(v));
    } else if (c == 'x' && i + 1 < raw.size() && hex_value(raw[i + 1]) >= 0) {
      int v = hex_value(raw[++i]);
      if (i + 1 < raw.size() && hex_value(raw[i + 1]) >= 0) v = v * 16 + hex_value(raw[++i]);
      out->push_back(static_cast<char>(v));
    } else {
      static const std::string_view from = "bfnrtv", to = "\b\f\n\r\t\v";
      size_t k = from.find(c);
      out->push_back(k == std::string_view::npos ? c : to[k]);
    }
  }
  return true;
}

bool split_text_row(std::string_view row, const CopyFormat& f, std::vector<CopyField>* fields) {
  size_t start = 0;
  for (size_t i = 0; i <= row.size(); ++i) {
    if (i < row.size() && row[i] == '\\') {
      if (++i == row.size()) return false;
      continue;
    }
    if (i < row.size() && row[i] != f.delimiter) continue;
    CopyField field;
    field.raw = row.substr(start, i - start);
    if (field.raw != f.null) {
      field.value.emplace();
      if (!unescape_text(field.raw, &*field.value)) return false;
    }
    fields->push_back(std::move(field));
    start = i + 1;
  }
  return true;
}

bool split_csv_row(std::string_view row, const CopyFormat& f, std::vector<CopyField>* fields) {
  size_t start = 0;
  std::string value;
  bool quoted = false;
  bool in_quotes = false;
  for (size_t i = 0; i <= row.size(); ++i) {
    if (in_quotes) {
      if (i == row.size()) return false;
      char c = row[i];
      if (c == f.escape && i + 1 < row.size() && (row[i + 1] == f.quote || row[i + 1] == f.escape)) {
        value.push_back(row[++i]);
      } else if (c == f.quote) {
        in_quotes = false;
      } else {
        value.push_back(c);
      }
      continue;
    }
    if (i < row.size() && row[i] == f.quote) {
      in_quotes = quoted = true;
      continue;
    }
    if (i < row.size() && row[i] != f.delimiter) {
      value.push_back(row[i]);
      continue;
    }
    CopyField field;
    field.raw = row.substr(start, i - start);
    if (quoted || field.raw != f.null) field.value = std::move(value);
    fields->push_back(std::move(field));
    value.clear();
    quoted = false;
    start = i + 1;
  }
  return true;
}

}  // namespace

bool split_copy_row(std::string_view row, const CopyFormat& format, std::vector<CopyField>* fields) {
  fields->clear();
  if (!row.empty() && row.back() == '\n') row.remove_suffix(1);
  return format.csv ? split_csv_row(row, format, fields) : split_text_row(row, format, fields);
}

void append_copy_field(std::string& out, std::string_view value, const CopyFormat& f) {
  if (f.csv) {
    out.push_back(f.quote);
    for (char c : value) {
      if (c == f.quote || c == f.escape) out.push_back(f.escape);
      out.push_back(c);
    }
    out.push_back(f.quote);
    return;
  }
  static const std::string_view from = "\b\f\n\r\t\v", to = "bfnrtv";
  for (char c : value) {
    size_t k = from.find(c);
    if (k != std::string_view::npos) {
      out.push_back('\\');
      out.push_back(to[k]);
      continue;
    }
    if (c == '\\' || c == f.delimiter) out.push_back('\\');
    out.push_back(c);
  }
}

}  // namespace pgw
