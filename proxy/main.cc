// pgwarden's command line (SPEC section 3). Exit codes: 0 success, 1 a check failed, 2 bad usage
// or unreadable input.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "proxy/config.h"
#include "proxy/scram.h"
#include "proxy/serve.h"

namespace {

const char* kUsage =
    "usage: pgwarden serve   -c pgwarden.yaml\n"
    "       pgwarden check   -c pgwarden.yaml\n"
    "       pgwarden scram-verifier            (reads a password on stdin, prints its verifier)\n"
    "       pgwarden version\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "pgwarden: %s\n%s", why.c_str(), kUsage);
  return 2;
}

// Finds `-c FILE` among the arguments.
bool config_arg(int argc, char** argv, std::string* path) {
  for (int i = 2; i < argc; ++i) {
    if ((std::strcmp(argv[i], "-c") == 0 || std::strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
      *path = argv[i + 1];
      return true;
    }
  }
  return false;
}

int check(const std::string& path) {
  pgw::Config cfg;
  std::vector<std::string> errors;
  if (!pgw::load_config(path, &cfg, &errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  std::printf("%s: ok\n", path.c_str());
  return 0;
}

int scram_verifier() {
  std::string password;
  std::getline(std::cin, password);
  if (password.empty()) return usage("scram-verifier reads a non-empty password on stdin");
  std::printf("%s\n", pgw::format_scram_verifier(pgw::make_scram_verifier(password)).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no command given");
  std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::printf("pgwarden 0.1.0\n");
    return 0;
  }
  if (cmd == "scram-verifier") return scram_verifier();
  std::string config;
  if (cmd == "serve" || cmd == "check") {
    if (!config_arg(argc, argv, &config)) return usage(cmd + " needs -c pgwarden.yaml");
    return cmd == "serve" ? pgw::serve(config) : check(config);
  }
  return usage("unknown command \"" + cmd + "\"");
}
