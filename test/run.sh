#!/usr/bin/env bash
# Installs what is missing, builds pgwarden, and runs every test (unit and integration) through ctest.
# Then, when time allows, builds with clang and the libFuzzer targets (test/fuzz), each run over its
# seed corpus and fuzzed briefly, and builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer to run the suite once more.   Usage: bash test/run.sh
# PGWARDEN_SKIP_FUZZ=1 or PGWARDEN_SKIP_SANITIZERS=1 leave a pass out.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)

bash "$root/test/install-deps.sh"

jobs=$(nproc)
ctest_args=()  # which tests, and how many at once (default: all, one at a time)
build_and_test() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGWARDEN_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure --timeout 600 "${ctest_args[@]}")
}

build_and_test "$root/build"

# The fuzz pass is the cheaper of the two that follow (a clang build and ten seconds per target)
# and keeps the fuzz targets building and alive, so it goes first; CI stops a run after 90 minutes.
budget=${PGWARDEN_TEST_BUDGET:-4500}
elapsed=$(( $(date +%s) - start ))
if [ "${PGWARDEN_SKIP_FUZZ:-0}" != 1 ] && [ "$elapsed" -lt $(( budget / 2 )) ]; then
  echo "== the fuzz targets, built with clang (${elapsed}s used so far)"
  ctest_args=(-L fuzz -j"$jobs")
  CC=clang CXX=clang++ build_and_test "$root/build-fuzz" -DPGWARDEN_FUZZ=ON
  ctest_args=()
else
  echo "== fuzz run skipped: ${elapsed}s used of a ${budget}s budget"
fi

elapsed=$(( $(date +%s) - start ))
if [ "${PGWARDEN_SKIP_SANITIZERS:-0}" != 1 ] && [ "$elapsed" -lt $(( budget / 2 )) ]; then
  echo "== again under AddressSanitizer and UndefinedBehaviorSanitizer (${elapsed}s used so far)"
  build_and_test "$root/build-asan" -DPGWARDEN_SANITIZE=ON
else
  echo "== sanitizer run skipped: ${elapsed}s used of a ${budget}s budget"
fi
