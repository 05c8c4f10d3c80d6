#include "proxy/wire/frontend.h"

#include <algorithm>

#include "proxy/wire/wire.h"

namespace pgw {

namespace {

// Format codes, then the values (Bind) or arguments (FunctionCall), each length-prefixed.
void read_parameters(Reader& r, ParameterValues* out) {
  int16_t nformats = r.i16();
  for (int i = 0; i < nformats && r.ok(); ++i) out->formats.push_back(r.i16());
  int16_t nvalues = r.i16();
  for (int i = 0; i < nvalues && r.ok(); ++i) {
    int32_t len = r.i32();
    if (len < 0) out->values.emplace_back(std::nullopt);
    else out->values.emplace_back(r.bytes(static_cast<size_t>(len)));
  }
}

// Result format codes: read and dropped, nothing pgwarden decides depends on them.
void skip_result_formats(Reader& r) {
  int16_t n = r.i16();
  for (int i = 0; i < n && r.ok(); ++i) r.i16();
}

}  // namespace

bool ParameterValues::binary(size_t i) const {
  if (formats.empty()) return false;
  return formats[formats.size() == 1 ? 0 : std::min(i, formats.size() - 1)] == 1;
}

bool decode_query(std::string_view body, std::string_view* query) {
  Reader r(body);
  *query = r.cstr();
  return r.ok() && r.at_end();
}

bool decode_parse(std::string_view body, ParseView* out) {
  Reader r(body);
  out->statement = r.cstr();
  out->query = r.cstr();
  int16_t ntypes = r.i16();
  for (int i = 0; i < ntypes && r.ok(); ++i) r.i32();
  return r.ok() && r.at_end() && ntypes >= 0;
}

bool decode_bind(std::string_view body, BindView* out) {
  Reader r(body);
  out->portal = r.cstr();
  out->statement = r.cstr();
  read_parameters(r, &out->parameters);
  skip_result_formats(r);
  return r.ok() && r.at_end();
}

bool decode_execute(std::string_view body, ExecuteView* out) {
  Reader r(body);
  out->portal = r.cstr();
  out->max_rows = r.i32();
  return r.ok() && r.at_end();
}

bool decode_target(std::string_view body, TargetView* out) {
  Reader r(body);
  out->kind = static_cast<char>(r.u8());
  out->name = r.cstr();
  return r.ok() && r.at_end() && (out->kind == 'S' || out->kind == 'P');
}

bool decode_function_call(std::string_view body, FunctionCallView* out) {
  Reader r(body);
  out->function_oid = static_cast<uint32_t>(r.i32());
  read_parameters(r, &out->arguments);
  r.i16();  // the result's format code
  return r.ok() && r.at_end();
}

}  // namespace pgw
