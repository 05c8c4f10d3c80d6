#!/usr/bin/env bash
# Fuzzes every decoder (the libFuzzer targets of test/fuzz) for longer than ctest does, and prints
# per target the executions, executions per second, coverage, corpus size and what it found.
#
# Usage: bash test/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS                   how long each target runs (default 600)
#   TARGET                    fuzz targets to run, by name (default: all of test/fuzz/*.cc)
# Knobs (environment):
#   PGWARDEN_FUZZ_JOBS=2      targets run at once, each at the lowest CPU priority
#   PGWARDEN_FUZZ_WORK        working directory (default ${TMPDIR:-/tmp}/pgwarden-fuzz): per target
#                             a corpus seeded from test/fuzz/corpus/<target> that grows run after run,
#                             the crash inputs (crashes/), and the log of the last run
#
# Builds build-fuzz (clang, -DPGWARDEN_FUZZ=ON) when its targets are missing or out of date. A
# crash input is kept in crashes/; once understood, minimize it (fuzz_<target> -minimize_crash=1)
# and commit it to the target's seed corpus with a unit test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/test/fuzz/*.cc; do targets+=("$(basename "$f" .cc)"); done
fi
jobs=${PGWARDEN_FUZZ_JOBS:-2}
work=${PGWARDEN_FUZZ_WORK:-${TMPDIR:-/tmp}/pgwarden-fuzz}
build="$root/build-fuzz"

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DPGWARDEN_FUZZ=ON -DPGWARDEN_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

# Runs one target for $seconds over its working corpus.
run_target() {
  local t=$1 dir="$work/$1"
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp -n "$root/test/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null || true
  (cd "$dir" && nice -n 19 "$build/test/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=60 \
     -print_final_stats=1 -artifact_prefix="$dir/crashes/" "$dir/corpus" >"$dir/log" 2>&1) || true
}

# One line per target from its log: what libFuzzer reported last.
report() {
  local t=$1 dir="$work/$1" log="$work/$1/log" execs rate cov found
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  found=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^ ]+( [^ ]+)?|runtime error: .*' "$log" || true)
  printf '%-10s %12s %8s  %-22s %7s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "$(find "$dir/corpus" -type f | wc -l)" "${found:-none}"
}

echo "== fuzzing ${targets[*]} for ${seconds}s each, $jobs at once, in $work"
mkdir -p "$work"
touch "$work/.started"
running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

printf '%-10s %12s %8s  %-22s %7s  %s\n' target executions exec/s coverage corpus findings
for t in "${targets[@]}"; do report "$t"; done
crashes=$(find "$work" -path '*/crashes/*' -type f -newer "$work/.started" -not -name 'slow-unit-*' | sort)
if [ -n "$crashes" ]; then
  echo "== crash inputs:"
  echo "$crashes"
  exit 1
fi
