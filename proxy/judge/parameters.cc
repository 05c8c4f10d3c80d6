#include "proxy/judge/parameters.h"

#include <algorithm>
#include <vector>

#include "proxy/wire/encoding.h"
#include "proxy/wire/wire.h"

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

// The format codes and values of a Bind or FunctionCall, read from `r`, as a JSON array of strings;
// empty when there are none.
std::string parameters_json(Reader& r, const rules::SessionMasks* masks) {
  int16_t nformats = r.i16();
  std::vector<int16_t> formats;
  for (int i = 0; i < nformats && r.ok(); ++i) formats.push_back(r.i16());
  int16_t nparams = r.i16();
  std::string out = "[";
  for (int i = 0; i < nparams && r.ok(); ++i) {
    int32_t len = r.i32();
    if (i) out.push_back(',');
    if (len < 0) {
      out += "null";
      continue;
    }
    std::string_view v = r.bytes(static_cast<size_t>(len));
    int16_t fmt = formats.empty() ? 0 : formats[formats.size() == 1 ? 0 : std::min<size_t>(i, formats.size() - 1)];
    append_parameter(out, v, fmt == 1, masks);
  }
  out.push_back(']');
  return nparams > 0 ? out : std::string();
}

}  // namespace

std::string bind_parameters_json(std::string_view body, const rules::SessionMasks* masks, std::string* portal,
                                 std::string* statement) {
  Reader r(body);
  *portal = std::string(r.cstr());
  *statement = std::string(r.cstr());
  return parameters_json(r, masks);
}

std::string function_call_arguments(std::string_view body, const rules::SessionMasks* masks, uint32_t* oid) {
  Reader r(body);
  *oid = static_cast<uint32_t>(r.i32());
  return parameters_json(r, masks);
}

}  // namespace pgw
