// Fuzzes the frontend message decoder: arbitrary bytes are framed as the client leg frames them
// after login (in two chunks, split where the input's first byte says), and every message is
// decoded by the typed view of its type (frontend.h), as the session would.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/wire/frontend.h"
#include "proxy/wire/wire.h"

namespace {

// Reads each value the way parameter judging does: its format, then its bytes.
void touch(const pgw::ParameterValues& p) {
  volatile size_t sink = 0;
  for (size_t i = 0; i < p.values.size(); ++i) {
    if (p.binary(i)) sink = sink + 1;
    if (p.values[i] && !p.values[i]->empty()) sink = sink + static_cast<unsigned char>(p.values[i]->back());
  }
}

void decode(const pgw::Message& m) {
  std::string_view query;
  pgw::ParseView parse;
  pgw::BindView bind;
  pgw::ExecuteView execute;
  pgw::TargetView target;
  pgw::FunctionCallView call;
  switch (m.type) {
    case 'Q': pgw::decode_query(m.body, &query); break;
    case 'P': pgw::decode_parse(m.body, &parse); break;
    case 'B':
      if (pgw::decode_bind(m.body, &bind)) touch(bind.parameters);
      break;
    case 'E': pgw::decode_execute(m.body, &execute); break;
    case 'C':
    case 'D': pgw::decode_target(m.body, &target); break;
    case 'F':
      if (pgw::decode_function_call(m.body, &call)) touch(call.arguments);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = data[0] % (in.size() + 1);
  pgw::Framer framer(64u << 20);
  for (std::string_view chunk : {in.substr(0, split), in.substr(split)}) {
    framer.feed(chunk.data(), chunk.size());
    while (auto m = framer.next()) decode(*m);
    framer.compact();
    if (framer.error()) break;
  }
  return 0;
}
