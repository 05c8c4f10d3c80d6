// `pgwarden serve`: starts the workers, listens, and runs until SIGTERM/SIGINT has drained every
// session (or the grace period ran out). SIGHUP reloads the rules.
#pragma once

#include <string>

namespace pgw {

// Runs the proxy with the configuration file at `config_path`; returns the process exit code.
int serve(const std::string& config_path);

}  // namespace pgw
