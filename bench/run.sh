#!/usr/bin/env bash
# End-to-end benchmark: pgbench through pgwarden compared with PostgreSQL directly and with
# pgbouncer (session pooling), all on this machine. Prints one table row per query mode and
# pgwarden worker count with the median tps of each target and the ratios.
#
# Usage (as root): bash bench/run.sh
# Knobs (environment):
#   BENCH_SECONDS=10          length of one pgbench run
#   BENCH_ROUNDS=3            rounds; each round runs every mode against every target once
#   BENCH_CLIENTS=8           pgbench clients (-c); pgbench threads (-j) is BENCH_THREADS=2
#   BENCH_SCALE=10            pgbench -i scale
#   BENCH_MODES="simple extended prepared"
#   PGWARDEN_WORKERS="1 2"    one pgwarden per value, each measured as its own target
#   PGWARDEN_DURABILITY=commit  audit.durability of pgwarden (commit or fsync)
#   PGWARDEN_CONFIG_EXTRA     YAML appended to pgwarden's config (limits, admin users...)
#   PGWARDEN_BIN              use this binary instead of building one in build-bench
#
# A case is a function that fills VARIANT_ARGS (label -> pgbench arguments), calls measure with
# its labels and then print_table. Add cases next to case_select_only and list them in CASES.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_MODES=${BENCH_MODES:-simple extended prepared}
PGWARDEN_WORKERS=${PGWARDEN_WORKERS:-1 2}
CASES=${CASES:-select_only}

trap run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TARGETS=()                 # in the order they are measured in round 1
declare -A TARGET_PORT TARGET_USER TARGET_PASSWORD
declare -A TARGET_PID      # the proxy's process, whose CPU time is measured; empty for direct
declare -A VARIANT_ARGS    # label -> pgbench arguments (word-split)
declare -A RESULTS         # "label|target" -> tps of every round, space separated
declare -A CPU_US          # "label|target" -> proxy CPU microseconds per transaction, every round
CLOCK_TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# Installs missing packages and sets PGWARDEN_BIN, building pgwarden (Release) unless it is given.
prepare() {
  bash "$root/test/install-deps.sh"
  if [ -n "${PGWARDEN_BIN:-}" ]; then
    [ -x "$PGWARDEN_BIN" ] || die "PGWARDEN_BIN=$PGWARDEN_BIN is not an executable"
    return
  fi
  say "building pgwarden (Release) in build-bench"
  # -O2 rather than CMake's default -O3 for Release: GCC 12 at -O3 reports false -Wrestrict
  # warnings in std::string concatenation, which -Werror turns into errors.
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" >/dev/null
  cmake --build "$root/build-bench" -j"$(nproc)" --target pgwarden >/dev/null
  PGWARDEN_BIN="$root/build-bench/proxy/pgwarden"
}

# Registers a target clients can reach at port $2 as user $3 with password $4; $5 is the pid of
# the proxy process in between, if any.
add_target() {
  TARGETS+=("$1")
  TARGET_PORT[$1]=$2
  TARGET_USER[$1]=$3
  TARGET_PASSWORD[$1]=$4
  TARGET_PID[$1]=${5:-}
}

# Starts PostgreSQL with pgbench's tables, pgbouncer and one pgwarden per worker count.
start_targets() {
  say "starting PostgreSQL 15"
  start_postgres
  add_target direct "$PG_PORT" "$ROLE" "$ROLE_PASSWORD"
  say "pgbench -i -s $BENCH_SCALE"
  pgbench_init
  say "starting pgbouncer"
  start_pgbouncer
  add_target pgbouncer "$BOUNCER_PORT" "$ROLE" "$ROLE_PASSWORD" "$BOUNCER_PID"
  local w
  for w in $PGWARDEN_WORKERS; do
    say "starting pgwarden (workers: $w)"
    start_pgwarden "$w"
    add_target "pgwarden-w$w" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
  done
}

pgbench_init() {
  PGPASSWORD=$ROLE_PASSWORD "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U "$ROLE" -i -q \
    -s "$BENCH_SCALE" "$DATABASE" >/dev/null 2>&1 || die "pgbench -i failed"
}

# Runs every label once against every target, untimed, so caches and connections warm up.
warm_up() {
  local label target
  for label in "$@"; do
    for target in "${TARGETS[@]}"; do
      # shellcheck disable=SC2086
      pgbench_run "$target" ${VARIANT_ARGS[$label]} -T 2 >/dev/null
    done
  done
}

# Runs label $1 against target $2 once for BENCH_SECONDS and records its tps and, for a proxy,
# the CPU time the proxy spent per transaction: unlike tps, that figure barely depends on what
# else the machine is doing.
measure_once() {
  local label=$1 target=$2 pid=${TARGET_PID[$2]} before=0 tps txns cpu=-
  if [ -n "$pid" ]; then before=$(cpu_ticks "$pid"); fi
  # shellcheck disable=SC2086
  read -r tps txns < <(pgbench_run "$target" ${VARIANT_ARGS[$label]} -T "$BENCH_SECONDS")
  [ -n "$tps" ] || die "pgbench against $target gave no result"
  if [ -n "$pid" ]; then
    cpu=$(awk -v t=$(( $(cpu_ticks "$pid") - before )) -v us="$CLOCK_TICK_US" -v n="$txns" \
            'BEGIN { printf "%.1f\n", (n > 0 ? t * us / n : 0) }')
    CPU_US["$label|$target"]+=" $cpu"
  fi
  RESULTS["$label|$target"]+=" $tps"
  say "$label  $target  $tps tps  ${cpu} proxy CPU us/transaction"
}

# Measures each label against each target BENCH_ROUNDS times. Rounds are the outer loop and the
# target order rotates from one run to the next, so machine noise and position effects spread
# evenly over the targets.
measure() {
  local n=${#TARGETS[@]} round label i k=0
  warm_up "$@"
  for (( round=1; round<=BENCH_ROUNDS; round++ )); do
    say "round $round/$BENCH_ROUNDS"
    for label in "$@"; do
      for (( i=0; i<n; i++ )); do
        measure_once "$label" "${TARGETS[$(( (i + k) % n ))]}"
      done
      k=$(( k + 1 ))
    done
  done
}

# Prints, for each label and each pgwarden, the median tps of direct, pgbouncer and pgwarden,
# pgwarden's ratios to the other two, and the median CPU time each proxy spent per transaction.
print_table() {
  local title=$1 label target direct bouncer pgw row="%-10s %-7s %9.0f %9.0f %9.0f %7s %7s %9.1f %9.1f\n"; shift
  echo
  echo "$title  (median of $BENCH_ROUNDS x ${BENCH_SECONDS}s, -c $BENCH_CLIENTS -j $BENCH_THREADS, scale $BENCH_SCALE)"
  printf '%-10s %-7s %9s %9s %9s %7s %7s %9s %9s\n' mode workers direct pgbouncer pgwarden pgw/dir pgw/bnc \
    "bnc us/tx" "pgw us/tx"
  for label in "$@"; do
    # shellcheck disable=SC2086
    direct=$(median ${RESULTS["$label|direct"]})
    # shellcheck disable=SC2086
    bouncer=$(median ${RESULTS["$label|pgbouncer"]})
    for target in "${TARGETS[@]}"; do
      [[ $target == pgwarden-w* ]] || continue
      # shellcheck disable=SC2086
      pgw=$(median ${RESULTS["$label|$target"]})
      # shellcheck disable=SC2059,SC2086
      printf "$row" "$label" "${target#pgwarden-w}" "$direct" "$bouncer" "$pgw" \
        "$(ratio "$pgw" "$direct")" "$(ratio "$pgw" "$bouncer")" \
        "$(median ${CPU_US["$label|pgbouncer"]})" "$(median ${CPU_US["$label|$target"]})"
    done
  done
  echo "(us/tx: CPU time, user + system, of the proxy process per transaction)"
}

# pgbench -S (one primary-key SELECT per transaction) in each protocol mode.
case_select_only() {
  local mode labels=()
  for mode in $BENCH_MODES; do
    VARIANT_ARGS[$mode]="-S -n -M $mode -c $BENCH_CLIENTS -j $BENCH_THREADS"
    labels+=("$mode")
  done
  measure "${labels[@]}"
  print_table "pgbench -S (select-only)" "${labels[@]}"
}

main() {
  local start=$SECONDS c
  [ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and pgbouncer are started as the postgres user)"
  prepare
  start_targets
  for c in $CASES; do
    "case_$c"
  done
  echo
  echo "total time: $(( SECONDS - start ))s"
}

main "$@"
