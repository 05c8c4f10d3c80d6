// Fuzzes the startup phase's decoding: arbitrary bytes are split into untyped packets as the
// client leg does before login (read_startup_packet), and each is read by its protocol code:
// SSLRequest and GSSENCRequest, a CancelRequest looked up among registered cancel keys, or a v3
// startup packet whose parameters and `options` are parsed (parse_startup). What is left of
// `options` after the pgwarden settings are taken out must hold none.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/runtime/cancel.h"
#include "proxy/session/startup.h"
#include "proxy/wire/wire.h"

namespace {

pgw::CancelKeys& cancel_keys() {
  static pgw::CancelKeys* keys = [] {
    auto* k = new pgw::CancelKeys;
    pgw::cancel_register(*k, pgw::CancelKey{4242, 0x12345678}, pgw::CancelTarget{});
    return k;
  }();
  return *keys;
}

void on_cancel(std::string_view body) {
  pgw::Reader r(body);
  r.i32();
  pgw::CancelKey key;
  key.pid = r.i32();
  key.secret = r.i32();
  pgw::CancelTarget target;
  if (r.ok()) pgw::cancel_lookup(cancel_keys(), key, &target);
}

void on_startup(std::string_view body) {
  pgw::StartupParams params;
  std::string error;
  if (!pgw::parse_startup(body, &params, &error)) return;
  const std::string* options = params.get("options");
  if (!options) return;
  std::vector<std::pair<std::string, std::string>> again;
  pgw::strip_pgwarden_options(*options, &again);
  if (!again.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (true) {
    std::string error;
    auto body = pgw::read_startup_packet(rest, &error);
    if (!error.empty() || !body) return 0;
    pgw::Reader r(*body);
    int32_t code = r.i32();
    rest.remove_prefix(4 + body->size());
    if (code == pgw::kCancelRequestCode) on_cancel(*body);
    else if ((code >> 16) == 3) on_startup(body->substr(4));
    else if (code != pgw::kSslRequestCode && code != pgw::kGssEncRequestCode) return 0;
  }
}
