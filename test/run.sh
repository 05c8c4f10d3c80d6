#!/usr/bin/env bash
# Installs what is missing, builds pgwarden, and runs every test (unit and integration) through ctest.
# Then, when time allows, builds again with AddressSanitizer and UndefinedBehaviorSanitizer and
# runs the suite once more.   Usage: bash test/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)

bash "$root/test/install-deps.sh"

jobs=$(nproc)
build_and_test() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGWARDEN_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure --timeout 600)
}

build_and_test "$root/build"

elapsed=$(( $(date +%s) - start ))
budget=${PGWARDEN_TEST_BUDGET:-3000}
if [ "${PGWARDEN_SKIP_SANITIZERS:-0}" != 1 ] && [ "$elapsed" -lt $(( budget / 2 )) ]; then
  echo "== again under AddressSanitizer and UndefinedBehaviorSanitizer (${elapsed}s used so far)"
  build_and_test "$root/build-asan" -DPGWARDEN_SANITIZE=ON
else
  echo "== sanitizer run skipped: ${elapsed}s used of a ${budget}s budget"
fi
