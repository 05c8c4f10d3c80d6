// The startup packet: parameters a client sends to open a session, and the pgwarden-specific
// options (`-c pgwarden.job_id=...`) that are taken out before the upstream sees them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgw {

struct StartupParams {
  // In the order sent; `user`, `database` and `options` included.
  std::vector<std::pair<std::string, std::string>> params;
  // pgwarden.* settings found in `options` or as parameters, with the prefix removed.
  std::vector<std::pair<std::string, std::string>> pgwarden;

  const std::string* get(std::string_view name) const;
  void set(const std::string& name, std::string value);
};

// Parses the body of a v3 startup packet after the protocol word. False on malformed input.
bool parse_startup(std::string_view body, StartupParams* out, std::string* error);

// Removes `-c pgwarden.X=V` / `--pgwarden.X=V` from an `options` value, collecting them.
std::string strip_pgwarden_options(std::string_view options,
                                   std::vector<std::pair<std::string, std::string>>* found);

}  // namespace pgw
