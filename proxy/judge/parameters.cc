#include "proxy/judge/parameters.h"

#include <algorithm>
#include <vector>

#include "proxy/wire/encoding.h"

namespace pgw {
namespace {

void json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

// One parameter value as the audit shows it: masked by the session's value masks (a binary
// value is tried as text: text types are sent as their bytes), else text as it is and binary as
// \x hex.
void append_parameter(std::string& out, std::string_view v, bool binary, const rules::SessionMasks* masks) {
  std::string masked;
  int count = 0;
  if (masks && rules::mask_value(*masks, v, &masked, &count)) {
    json_string(out, masked);
  } else if (binary) {
    json_string(out, "\\x" + to_hex(v));
  } else {
    json_string(out, v);
  }
}

}  // namespace

std::string parameters_json(const ParameterValues& values, const rules::SessionMasks* masks) {
  if (values.values.empty()) return {};
  std::string out = "[";
  for (size_t i = 0; i < values.values.size(); ++i) {
    if (i) out.push_back(',');
    if (!values.values[i]) out += "null";
    else append_parameter(out, *values.values[i], values.binary(i), masks);
  }
  out.push_back(']');
  return out;
}

}  // namespace pgw
