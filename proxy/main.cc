// pgwarden's command line (SPEC section 3).
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "version") == 0) {
    std::printf("pgwarden 0.1.0\n");
    return 0;
  }
  std::fprintf(stderr, "usage: pgwarden version\n");
  return 2;
}
