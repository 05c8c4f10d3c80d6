#!/usr/bin/env bash
# End-to-end benchmark: pgbench through pgwarden compared with PostgreSQL directly, with pgbouncer
# (session pooling) and with a PostgreSQL that audits every statement with pgAudit, all on this
# machine. Prints one table row per query mode and pgwarden worker count with the median tps of
# each target, the ratios and the proxies' CPU per transaction, and the latency each target adds
# at one client.
#
# Usage (as root): bash bench/run.sh
# Knobs (environment):
#   BENCH_SECONDS=10          length of one pgbench run
#   BENCH_ROUNDS=3            rounds; each round runs every mode against every target once
#   BENCH_CLIENTS=8           pgbench clients (-c); pgbench threads (-j) is BENCH_THREADS=2
#   BENCH_SCALE=10            pgbench -i scale
#   BENCH_MODES="simple extended prepared"
#   PGWARDEN_WORKERS="1 2"    one pgwarden per value (audit durability commit), each its own target
#   PGWARDEN_FSYNC_WORKERS="1"  one more pgwarden per value with audit durability fsync
#   PGWARDEN_CONFIG_EXTRA     YAML appended to pgwarden's config (limits, admin users...)
#   PGWARDEN_BIN              use this binary instead of building one in build-bench
#   CASES="select_only latency micro"  cases to run: select_only, latency, result_heavy, logins,
#                             pg_store, micro
#   PG_STORE_CLIENTS="8 32"   pg_store's pgbench clients, one row each
#   PG_STORE_DURABILITY="commit fsync"  pg_store's audit durabilities, one row each per client count
#   BENCH_RESULT_ROWS=1000000 rows of result_heavy's table; BENCH_RESULT_CLIENTS=1 its clients
#   BENCH_RESULT_FETCH=0      >0: result_heavy reads through a cursor, this many rows per FETCH
#
# A case is a function that sets CASE_TARGETS, fills VARIANT_ARGS (label -> pgbench arguments),
# calls measure with its labels and prints its table. Add cases next to case_select_only and
# list them in CASES.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
# shellcheck source=bench/jwt.sh
source "$root/bench/jwt.sh"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_MODES=${BENCH_MODES:-simple extended prepared}
PGWARDEN_WORKERS=${PGWARDEN_WORKERS:-1 2}
PGWARDEN_FSYNC_WORKERS=${PGWARDEN_FSYNC_WORKERS-1}
BENCH_RESULT_ROWS=${BENCH_RESULT_ROWS:-1000000}
BENCH_RESULT_CLIENTS=${BENCH_RESULT_CLIENTS:-1}
BENCH_RESULT_FETCH=${BENCH_RESULT_FETCH:-0}
PG_STORE_CLIENTS=${PG_STORE_CLIENTS:-8 32}
PG_STORE_DURABILITY=${PG_STORE_DURABILITY:-commit fsync}
CASES=${CASES:-select_only latency micro}

trap run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TARGETS=()                 # started for every case: direct, pgbouncer, pgaudit, one pgwarden per worker count and durability
CASE_TARGETS=()            # what the running case measures, in the order of round 1
declare -A TARGET_PORT TARGET_USER TARGET_PASSWORD
declare -A TARGET_PID      # the proxy's process, whose CPU time is measured; empty for direct
declare -A VARIANT_ARGS    # label -> pgbench arguments (word-split)
declare -A RESULTS         # "label|target" -> tps of every round, space separated
declare -A CPU_US          # "label|target" -> proxy CPU microseconds per transaction, every round
declare -A LAT_AVG LAT_P99 # "label|target" -> average and p99 latency in microseconds, every round
TX_LOG_DIR=""              # set by a case: pgbench logs every transaction here, measure_once keeps the latencies
RUN_HOOK=""                # set by a case: a function measure_once calls around every run (see measure_once)
CLOCK_TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# Installs missing packages and sets PGWARDEN_BIN, building pgwarden (Release) unless it is given.
# pgAudit is the benchmark's alone, so it is installed here rather than by test/install-deps.sh.
prepare() {
  bash "$root/test/install-deps.sh"
  if ! dpkg-query -W -f='${Status}' postgresql-15-pgaudit 2>/dev/null | grep -q "install ok installed"; then
    say "installing postgresql-15-pgaudit"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq postgresql-15-pgaudit >/dev/null; } \
      || die "apt-get install postgresql-15-pgaudit failed"
  fi
  if [ -n "${PGWARDEN_BIN:-}" ]; then
    [ -x "$PGWARDEN_BIN" ] || die "PGWARDEN_BIN=$PGWARDEN_BIN is not an executable"
    return
  fi
  build_bench pgwarden
  PGWARDEN_BIN="$root/build-bench/proxy/pgwarden"
}

# Builds the given targets in build-bench (Release).
build_bench() {
  say "building $* (Release) in build-bench"
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build-bench" -j"$(nproc)" --target "$@" >/dev/null
}

# Registers a target clients can reach at port $2 as user $3 with password $4; $5 is the pid of
# the proxy process in between, if any.
register_target() {
  TARGET_PORT[$1]=$2
  TARGET_USER[$1]=$3
  TARGET_PASSWORD[$1]=$4
  TARGET_PID[$1]=${5:-}
}

# Registers a target (as register_target does) and lists it in TARGETS.
add_target() {
  register_target "$@"
  TARGETS+=("$1")
}

# Starts PostgreSQL with pgbench's tables, pgbouncer, a second PostgreSQL with pgAudit logging
# every statement and the same tables, and one pgwarden per worker count and durability:
# pgwarden-w<N> commits its audit records, pgwarden-w<N>-fsync also syncs them. pgAudit works
# inside the server, so it has no process of its own whose CPU time could be measured.
start_targets() {
  say "starting PostgreSQL 15"
  start_postgres
  add_target direct "$PG_PORT" "$ROLE" "$ROLE_PASSWORD"
  say "pgbench -i -s $BENCH_SCALE"
  pgbench_init "$PG_PORT"
  say "starting pgbouncer"
  start_pgbouncer
  add_target pgbouncer "$BOUNCER_PORT" "$ROLE" "$ROLE_PASSWORD" "$BOUNCER_PID"
  say "starting PostgreSQL 15 with pgAudit (pgaudit.log = all, log_parameter = on)"
  start_pgaudit
  check_pgaudit
  say "pgbench -i -s $BENCH_SCALE (pgAudit)"
  pgbench_init "$PGAUDIT_PORT"
  add_target pgaudit "$PGAUDIT_PORT" "$ROLE" "$ROLE_PASSWORD"
  local w
  for w in $PGWARDEN_WORKERS; do
    say "starting pgwarden (workers: $w, audit durability: commit)"
    PGWARDEN_DURABILITY=commit start_pgwarden "$w"
    add_target "pgwarden-w$w" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
  done
  for w in $PGWARDEN_FSYNC_WORKERS; do
    say "starting pgwarden (workers: $w, audit durability: fsync)"
    PGWARDEN_DURABILITY=fsync start_pgwarden "$w"
    add_target "pgwarden-w$w-fsync" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
  done
}

# Creates pgbench's tables at scale BENCH_SCALE in the PostgreSQL listening on port $1.
pgbench_init() {
  PGPASSWORD=$ROLE_PASSWORD "$PG_BIN/pgbench" -h 127.0.0.1 -p "$1" -U "$ROLE" -i -q \
    -s "$BENCH_SCALE" "$DATABASE" >/dev/null 2>&1 || die "pgbench -i failed (port $1)"
}

# Runs every label once against every target of the case, untimed, so caches and connections warm up.
warm_up() {
  local label target
  for label in "$@"; do
    for target in "${CASE_TARGETS[@]}"; do
      # shellcheck disable=SC2086
      pgbench_run "$target" ${VARIANT_ARGS[$label]} -T 2 >/dev/null
    done
  done
}

# Runs label $1 against target $2 once for BENCH_SECONDS and records its tps and, for a proxy,
# the CPU time the proxy spent per transaction: unlike tps, that figure barely depends on what
# else the machine is doing. With TX_LOG_DIR set, pgbench logs every transaction there and the
# run's average and p99 latency are recorded too. With RUN_HOOK set to a function's name, it is
# called as `$RUN_HOOK before LABEL TARGET` right before pgbench and as
# `$RUN_HOOK after LABEL TARGET TRANSACTIONS TPS` right after it, in this shell, to record
# figures of its own.
measure_once() {
  local label=$1 target=$2 pid=${TARGET_PID[$2]} before=0 tps txns cpu=- latency="" log=()
  if [ -n "$TX_LOG_DIR" ]; then
    rm -f "$TX_LOG_DIR"/tx.*
    log=(-l --log-prefix "$TX_LOG_DIR/tx")
  fi
  if [ -n "$RUN_HOOK" ]; then "$RUN_HOOK" before "$label" "$target"; fi
  if [ -n "$pid" ]; then before=$(cpu_ticks "$pid"); fi
  # shellcheck disable=SC2086
  read -r tps txns < <(pgbench_run "$target" ${VARIANT_ARGS[$label]} "${log[@]}" -T "$BENCH_SECONDS")
  [ -n "$tps" ] || die "pgbench against $target gave no result"
  if [ -n "$RUN_HOOK" ]; then "$RUN_HOOK" after "$label" "$target" "$txns" "$tps"; fi
  if [ -n "$TX_LOG_DIR" ]; then
    latency=$(tx_latency "$TX_LOG_DIR"/tx.*) || die "pgbench against $target logged no transaction"
    LAT_AVG["$label|$target"]+=" ${latency% *}"
    LAT_P99["$label|$target"]+=" ${latency#* }"
    rm -f "$TX_LOG_DIR"/tx.*
    latency="  latency avg ${latency% *} us, p99 ${latency#* } us"
  fi
  if [ -n "$pid" ]; then
    cpu=$(awk -v t=$(( $(cpu_ticks "$pid") - before )) -v us="$CLOCK_TICK_US" -v n="$txns" \
            'BEGIN { printf "%.1f\n", (n > 0 ? t * us / n : 0) }')
    CPU_US["$label|$target"]+=" $cpu"
  fi
  RESULTS["$label|$target"]+=" $tps"
  say "$label  $target  $tps tps  ${cpu} proxy CPU us/transaction$latency"
}

# Measures each label against each target of CASE_TARGETS BENCH_ROUNDS times. Rounds are the outer loop and the
# target order rotates from one run to the next, so machine noise and position effects spread
# evenly over the targets.
measure() {
  local n=${#CASE_TARGETS[@]} round label i k=0
  warm_up "$@"
  for (( round=1; round<=BENCH_ROUNDS; round++ )); do
    say "round $round/$BENCH_ROUNDS"
    for label in "$@"; do
      for (( i=0; i<n; i++ )); do
        measure_once "$label" "${CASE_TARGETS[$(( (i + k) % n ))]}"
      done
      k=$(( k + 1 ))
    done
  done
}

# Prints the median of the values array $1 (RESULTS, CPU_US, LAT_AVG, LAT_P99) holds for key $2,
# or "-" when it holds none; with one decimal, or in printf format $3.
median_of() {
  local -n values=$1
  # shellcheck disable=SC2086
  if [ -n "${values[$2]:-}" ]; then median_fmt "${3:-%.1f}" ${values[$2]}; else echo -; fi
}

# Prints, for each label and each pgwarden, the median tps of direct, pgbouncer, pgAudit and
# pgwarden, pgwarden's ratios to the three, the median CPU time pgbouncer and pgwarden spent per
# transaction and their ratio; then pgwarden's CPU per transaction over that of the pgwarden with
# the first of PGWARDEN_WORKERS and the same durability, and for durability fsync its tps over
# that of the commit pgwarden with the same workers (the targets of issue 16 are in the footer).
print_table() {
  local title=$1 label target direct bouncer audit pgw workers durability bcpu pcpu base
  local first=${PGWARDEN_WORKERS%% *} to_commit
  local row="%-9s %7s %-6s %8.0f %9.0f %8.0f %8.0f %7s %7s %7s %9.1f %9.1f %7s %7s %9s\n"; shift
  echo
  echo "$title  (median of $BENCH_ROUNDS x ${BENCH_SECONDS}s, -c $BENCH_CLIENTS -j $BENCH_THREADS, scale $BENCH_SCALE)"
  printf '%-9s %7s %-6s %8s %9s %8s %8s %7s %7s %7s %9s %9s %7s %7s %9s\n' mode workers audit \
    direct pgbouncer pgaudit pgwarden pgw/dir pgw/bnc pgw/aud "bnc us/tx" "pgw us/tx" cpu/bnc \
    "cpu/w$first" fsync/cmt
  for label in "$@"; do
    direct=$(median_of RESULTS "$label|direct")
    bouncer=$(median_of RESULTS "$label|pgbouncer")
    audit=$(median_of RESULTS "$label|pgaudit")
    bcpu=$(median_of CPU_US "$label|pgbouncer")
    for target in "${TARGETS[@]}"; do
      [[ $target == pgwarden-w* ]] || continue
      pgw=$(median_of RESULTS "$label|$target")
      pcpu=$(median_of CPU_US "$label|$target")
      workers=${target#pgwarden-w}
      durability=commit
      base="pgwarden-w$first"
      to_commit=-
      if [[ $workers == *-fsync ]]; then
        workers=${workers%-fsync}
        durability=fsync
        base+=-fsync
        to_commit=$(ratio "$pgw" "$(median_of RESULTS "$label|pgwarden-w$workers")")
      fi
      # shellcheck disable=SC2059
      printf "$row" "$label" "$workers" "$durability" "$direct" "$bouncer" "$audit" "$pgw" \
        "$(ratio "$pgw" "$direct")" "$(ratio "$pgw" "$bouncer")" "$(ratio "$pgw" "$audit")" \
        "$bcpu" "$pcpu" "$(ratio "$pcpu" "$bcpu")" \
        "$(ratio "$pcpu" "$(median_of CPU_US "$label|$base")")" "$to_commit"
    done
  done
  echo "(us/tx: CPU time, user + system, of the proxy process per transaction; pgAudit's is spent"
  echo " inside PostgreSQL, which no proxy figure compares with, so only its tps is shown."
  echo " cpu/w$first: pgw us/tx over that of the pgwarden with workers: $first and the same audit"
  echo " durability; fsync/cmt: tps with durability fsync over tps with commit at the same workers."
  echo " Targets: pgw/bnc >= 0.6, cpu/bnc <= 2, cpu/w$first <= 1 with more workers,"
  echo " fsync/cmt >= 0.7)"
}

# pgbench -S (one primary-key SELECT per transaction) in each protocol mode.
case_select_only() {
  local mode labels=()
  CASE_TARGETS=("${TARGETS[@]}")
  for mode in $BENCH_MODES; do
    VARIANT_ARGS[$mode]="-S -n -M $mode -c $BENCH_CLIENTS -j $BENCH_THREADS"
    labels+=("$mode")
  done
  measure "${labels[@]}"
  print_table "pgbench -S (select-only)" "${labels[@]}"
}

# Added latency at one client: pgbench -S -c 1 -j 1 in each protocol mode against direct,
# pgbouncer, pgAudit and pgwarden (the first of PGWARDEN_WORKERS, durability commit), each
# transaction logged by pgbench so that the average and p99 latency of every run can be computed.
case_latency() {
  local w=${PGWARDEN_WORKERS%% *} mode labels=()
  make_dir pgw-bench-latency
  CASE_TARGETS=(direct pgbouncer pgaudit "pgwarden-w$w")
  for mode in $BENCH_MODES; do
    VARIANT_ARGS[latency-$mode]="-S -n -M $mode -c 1 -j 1"
    labels+=("latency-$mode")
  done
  TX_LOG_DIR=$DIR
  measure "${labels[@]}"
  TX_LOG_DIR=""
  print_latency_table "${labels[@]}"
}

# Prints the latency table: per label and target the median tps and the medians of the rounds'
# average and p99 latency; for the targets other than direct the latency they add over direct,
# and for pgAudit and pgwarden their added latency over pgbouncer's.
print_latency_table() {
  local label target avg p99 dir_avg dir_p99 bnc_avg bnc_p99 add_avg add_p99 vs_avg vs_p99
  local row="%-9s %-12s %8.0f %9.1f %9.1f %9s %9s %9s %9s\n"
  echo
  echo "latency: pgbench -S at one client (-c 1 -j 1), median of $BENCH_ROUNDS x ${BENCH_SECONDS}s;" \
    "microseconds per transaction"
  printf '%-9s %-12s %8s %9s %9s %9s %9s %9s %9s\n' mode target tps avg p99 "+avg" "+p99" \
    "+avg/bnc" "+p99/bnc"
  for label in "$@"; do
    dir_avg=$(median_of LAT_AVG "$label|direct")
    dir_p99=$(median_of LAT_P99 "$label|direct")
    bnc_avg=$(minus "$(median_of LAT_AVG "$label|pgbouncer")" "$dir_avg")
    bnc_p99=$(minus "$(median_of LAT_P99 "$label|pgbouncer")" "$dir_p99")
    for target in "${CASE_TARGETS[@]}"; do
      avg=$(median_of LAT_AVG "$label|$target")
      p99=$(median_of LAT_P99 "$label|$target")
      add_avg=- add_p99=- vs_avg=- vs_p99=-
      if [ "$target" != direct ]; then
        add_avg=$(minus "$avg" "$dir_avg")
        add_p99=$(minus "$p99" "$dir_p99")
      fi
      if [ "$target" != direct ] && [ "$target" != pgbouncer ]; then
        vs_avg=$(ratio "$add_avg" "$bnc_avg")
        vs_p99=$(ratio "$add_p99" "$bnc_p99")
      fi
      # shellcheck disable=SC2059
      printf "$row" "${label#latency-}" "$target" "$(median_of RESULTS "$label|$target")" \
        "$avg" "$p99" "$add_avg" "$add_p99" "$vs_avg" "$vs_p99"
    done
  done
  echo "(+avg, +p99: latency added over direct; +avg/bnc, +p99/bnc: that over pgbouncer's."
  echo " Issue 16 target: pgwarden's +avg/bnc and +p99/bnc <= 1.5)"
}

# The result_heavy table: BENCH_RESULT_ROWS rows of 5 text columns, mostly md5 hex; every 10th row
# has a card number, another 10th an email, and every 20th note an email too, so value masks
# have something to rewrite (a quarter of the rows). Sets RESULT_BYTES to the bytes of the
# DataRow messages of one SELECT of all of it: per row 1 type byte, a 4-byte length, a 2-byte
# column count and, per column, a 4-byte length and the value.
create_result_table() {
  say "creating bench_result ($BENCH_RESULT_ROWS rows)"
  pg_admin "$DATABASE" "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_result;
    CREATE TABLE bench_result (account text, email text, card text, token text, note text);
    INSERT INTO bench_result
      SELECT 'acct-' || md5(i::text),
             CASE WHEN i % 10 = 0 THEN 'customer' || i || '@example.com' ELSE md5((i + 1)::text) END,
             CASE WHEN i % 10 = 1 THEN '4111 ' || lpad((i % 10000)::text, 4, '0') || ' '
                                       || lpad((i / 10000 % 10000)::text, 4, '0') || ' 1111'
                  ELSE md5((i + 2)::text) END,
             md5((i + 3)::text),
             'order ' || i || CASE WHEN i % 20 = 5 THEN ' for jane.doe' || i || '@example.org'
                                   ELSE ' shipped, ref ' || md5((i + 4)::text) END
      FROM generate_series(1, $BENCH_RESULT_ROWS) AS i;
    ALTER TABLE bench_result OWNER TO $ROLE"
  pg_admin "$DATABASE" "VACUUM (FREEZE, ANALYZE) bench_result"
  RESULT_BYTES=$(pg_admin "$DATABASE" "SELECT sum(7 + 5 * 4 + octet_length(account) + octet_length(email)
    + octet_length(card) + octet_length(token) + octet_length(note)) FROM bench_result")
}

# Writes to $1 result_heavy's pgbench script: the SELECT of the whole table as one statement or,
# with BENCH_RESULT_FETCH=N, through a cursor, N rows per FETCH. pgbench (libpq) keeps a whole
# result in memory, which costs it more CPU than any proxy spends on the rows; fetching in
# chunks makes that cost smaller, so the proxies' share of the time shows more.
result_script() {
  local select="SELECT account, email, card, token, note FROM bench_result" i
  if [ "$BENCH_RESULT_FETCH" -le 0 ]; then
    printf '%s;\n' "$select" >"$1"
    return
  fi
  {
    echo "BEGIN;"
    echo "DECLARE result_heavy NO SCROLL CURSOR FOR $select;"
    for (( i=0; i<BENCH_RESULT_ROWS; i+=BENCH_RESULT_FETCH )); do
      echo "FETCH $BENCH_RESULT_FETCH FROM result_heavy;"
    done
    echo "COMMIT;"
  } >"$1"
}

# Prints what target $1 returns for SQL $2 (one value), through the target as a client.
target_value() {
  PGPASSWORD=${TARGET_PASSWORD[$1]} "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "${TARGET_PORT[$1]}" -U "${TARGET_USER[$1]}" -d "$DATABASE" -c "$2"
}

# Prints, one a line, the MB/s (10^6 bytes) of every round of label $1 against target $2 at $3
# bytes per transaction.
rates() {
  local tps
  for tps in ${RESULTS["$1|$2"]}; do awk -v t="$tps" -v b="$3" 'BEGIN { printf "%.1f\n", t * b / 1e6 }'; done
}

# A SELECT of the whole bench_result table per transaction, at BENCH_RESULT_CLIENTS clients
# (default 1: one session streaming a large result, as a report or an export does; each pgbench
# client holds a whole result in memory, and on a small machine more clients measure CPU
# contention rather than the DataRow path). Against direct, pgbouncer, pgwarden (the first of
# PGWARDEN_WORKERS) and a second such pgwarden whose rules add the 10 value masks of masks10.
case_result_heavy() {
  local w=${PGWARDEN_WORKERS%% *} masked_card
  create_result_table
  say "starting pgwarden with 10 value masks (workers: $w)"
  PGW_RULES_EXTRA=$(masks10) start_pgwarden "$w"
  register_target "pgwarden-masks" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
  masked_card=$(target_value pgwarden-masks "SELECT card FROM bench_result WHERE card LIKE '4111 %' LIMIT 1")
  [[ $masked_card == 4111-\*\*\*\*-\*\*\*\*-1111 ]] || die "the masks did not mask a card number: $masked_card"
  result_script "$PGW_DIR/result_heavy.sql"
  CASE_TARGETS=(direct pgbouncer "pgwarden-w$w" pgwarden-masks)
  VARIANT_ARGS[result_heavy]="-n -M simple -c $BENCH_RESULT_CLIENTS -j 1 -f $PGW_DIR/result_heavy.sql"
  measure result_heavy
  print_result_table "pgwarden-w$w"
}

# Prints the result_heavy table: MB/s of DataRows per target, ratios to direct and pgbouncer, and
# the proxy's CPU time per transaction. $1 is the pgwarden target without masks.
print_result_table() {
  local target rate bouncer direct row="%-20s %8.2f %9.1f %7s %7s %11s\n"
  local -A name=([direct]=direct [pgbouncer]=pgbouncer [$1]="pgwarden" [pgwarden-masks]="pgwarden 10 masks")
  # shellcheck disable=SC2046
  direct=$(median $(rates result_heavy direct "$RESULT_BYTES"))
  # shellcheck disable=SC2046
  bouncer=$(median $(rates result_heavy pgbouncer "$RESULT_BYTES"))
  echo
  echo "result_heavy: SELECT of $BENCH_RESULT_ROWS rows x 5 text columns," \
    "$(awk -v b="$RESULT_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB of DataRows per transaction"
  printf '(median of %s x %ss, -c %s -j 1%s, MB = 10^6 bytes)\n' "$BENCH_ROUNDS" "$BENCH_SECONDS" \
    "$BENCH_RESULT_CLIENTS" "$(if [ "$BENCH_RESULT_FETCH" -gt 0 ]; then echo ", cursor FETCH $BENCH_RESULT_FETCH"; fi)"
  printf '%-20s %8s %9s %7s %7s %11s\n' target tps MB/s "/dir" "/bnc" "CPU ms/tx"
  for target in "${CASE_TARGETS[@]}"; do
    # shellcheck disable=SC2046
    rate=$(median $(rates result_heavy "$target" "$RESULT_BYTES"))
    # shellcheck disable=SC2059,SC2086
    printf "$row" "${name[$target]}" "$(awk -v r="$rate" -v b="$RESULT_BYTES" 'BEGIN { print r * 1e6 / b }')" \
      "$rate" "$(ratio "$rate" "$direct")" "$(ratio "$rate" "$bouncer")" \
      "$(if [ -n "${TARGET_PID[$target]}" ]; then median ${CPU_US["result_heavy|$target"]} | awk '{ printf "%.0f", $1 / 1000 }'; else echo -; fi)"
  done
  echo "(CPU ms/tx: CPU time, user + system, of the proxy process per transaction;"
  echo " targets: pgwarden/pgbouncer >= 0.9 without masks, >= 0.5 with 10 masks)"
}

declare -A STORE_INSTANCE  # target -> its pgwarden's instance name in the PostgreSQL audit store
# "label|target" -> store commits per transaction, records per commit, ms per commit, every round
declare -A STORE_CPT STORE_RPC STORE_MSPC
STORE_BEFORE=""            # store_counts before the running pgbench

# RUN_HOOK of pg_store: around each run against a pgwarden with the PostgreSQL store, reads the
# store's counts (store_counts) and records the store commits per pgbench transaction, the
# records per commit (group commit's batch size) and the writer's time per commit: the time
# pgbench measured transactions in (transactions / tps, without the connections' set-up) over
# the commits.
store_hook() {
  local instance=${STORE_INSTANCE[$3]:-} now xid0 rec0 xid1 rec1 commits
  [ -n "$instance" ] || return 0
  now=$(store_counts "$instance") || die "cannot read the audit store's counts"
  if [ "$1" = before ]; then
    STORE_BEFORE=$now
    return 0
  fi
  read -r xid0 rec0 <<<"$STORE_BEFORE"
  read -r xid1 rec1 <<<"$now"
  commits=$(( xid1 - xid0 ))
  [ "$commits" -gt 0 ] || die "no commit on the audit store during a run against $3"
  STORE_CPT["$2|$3"]+=" $(awk -v c="$commits" -v n="$4" 'BEGIN { printf "%.3f", (n > 0 ? c / n : 0) }')"
  STORE_RPC["$2|$3"]+=" $(awk -v c="$commits" -v r=$(( rec1 - rec0 )) 'BEGIN { printf "%.1f", r / c }')"
  STORE_MSPC["$2|$3"]+=" $(awk -v c="$commits" -v n="$4" -v t="$5" 'BEGIN { printf "%.3f", n / t * 1000 / c }')"
  say "$2  $3  store: $commits commits, $(( rec1 - rec0 )) records"
}

# pgbench -S through pgwarden with its audit in PostgreSQL (audit.backend: postgresql), in a
# third cluster started here (start_store), against the same pgwarden with the SQLite store, at
# each of PG_STORE_CLIENTS clients and each of PG_STORE_DURABILITY; the mode is the first of
# BENCH_MODES and the workers the first of PGWARDEN_WORKERS. The SQLite pgwardens are those of
# select_only when it has them (pgwarden-w<N>, pgwarden-w<N>-fsync), else started here.
case_pg_store() {
  local w=${PGWARDEN_WORKERS%% *} mode=${BENCH_MODES%% *} c d sqlite labels=()
  say "starting PostgreSQL 15 as the audit store (fsync = on)"
  start_store
  CASE_TARGETS=()
  for d in $PG_STORE_DURABILITY; do
    sqlite="pgwarden-w$w"
    if [ "$d" = fsync ]; then sqlite+=-fsync; fi
    if [ -z "${TARGET_PORT[$sqlite]:-}" ]; then
      say "starting pgwarden (workers: $w, audit: SQLite, durability: $d)"
      PGWARDEN_DURABILITY=$d start_pgwarden "$w"
      register_target "$sqlite" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
    fi
    say "starting pgwarden (workers: $w, audit: PostgreSQL, durability: $d)"
    PGWARDEN_AUDIT_DSN=$STORE_DSN PGWARDEN_DURABILITY=$d PGW_AUDIT_EXTRA="  backend: postgresql
  instance: gw-bench-$d
  postgresql: {dsn_env: PGWARDEN_AUDIT_DSN}" start_pgwarden "$w"
    register_target "pgwarden-pg-$d" "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
    STORE_INSTANCE[pgwarden-pg-$d]=gw-bench-$d
    CASE_TARGETS+=("$sqlite" "pgwarden-pg-$d")
  done
  for c in $PG_STORE_CLIENTS; do
    VARIANT_ARGS[pg_store-c$c]="-S -n -M $mode -c $c -j $BENCH_THREADS"
    labels+=("pg_store-c$c")
  done
  RUN_HOOK=store_hook
  measure "${labels[@]}"
  RUN_HOOK=""
  print_pg_store_table "$w" "$mode" "${labels[@]}"
}

# Prints the pg_store table: per client count and durability, the median tps with each store and
# their ratio, pgbench's average latency (clients / tps), the store's commits per transaction,
# records per commit and writer milliseconds per commit, and pgwarden's CPU per transaction with
# each store. $1 is the workers, $2 the mode, the rest the labels.
print_pg_store_table() {
  local w=$1 mode=$2 label c d sqlite pg stps ptps; shift 2
  local row="%7s %-6s %9.0f %9.0f %7s %9.2f %9.2f %10s %10s %9s %9s %9s\n"
  echo
  echo "pg_store: pgbench -S -M $mode through pgwarden (workers: $w), audit in PostgreSQL vs SQLite" \
    "(median of $BENCH_ROUNDS x ${BENCH_SECONDS}s, -j $BENCH_THREADS, scale $BENCH_SCALE)"
  printf '%7s %-6s %9s %9s %7s %9s %9s %10s %10s %9s %9s %9s\n' clients audit sqlite pg pg/sqlt \
    "sqlt ms" "pg ms" commits/tx rec/commit ms/commit "sqlt us" "pg us"
  for label in "$@"; do
    c=${label#pg_store-c}
    for d in $PG_STORE_DURABILITY; do
      sqlite="pgwarden-w$w"
      if [ "$d" = fsync ]; then sqlite+=-fsync; fi
      pg="pgwarden-pg-$d"
      stps=$(median_of RESULTS "$label|$sqlite")
      ptps=$(median_of RESULTS "$label|$pg")
      # shellcheck disable=SC2059
      printf "$row" "$c" "$d" "$stps" "$ptps" "$(ratio "$ptps" "$stps")" \
        "$(awk -v c="$c" -v t="$stps" 'BEGIN { print c * 1000 / t }')" \
        "$(awk -v c="$c" -v t="$ptps" 'BEGIN { print c * 1000 / t }')" \
        "$(median_of STORE_CPT "$label|$pg" %.3f)" "$(median_of STORE_RPC "$label|$pg")" \
        "$(median_of STORE_MSPC "$label|$pg" %.2f)" \
        "$(median_of CPU_US "$label|$sqlite")" "$(median_of CPU_US "$label|$pg")"
    done
  done
  echo "(sqlite, pg: tps with each audit store; pg/sqlt: their ratio (issue 17 target at 32 clients,"
  echo " durability commit: >= 0.5); sqlt ms, pg ms: pgbench's average latency, clients / tps;"
  echo " commits/tx: store commits per pgbench transaction; rec/commit: audit records per store"
  echo " commit; ms/commit: pgbench's run time (transactions / tps) over the store commits, the"
  echo " writer's time per commit, whose commits run one after another: the store's commit round"
  echo " trip when the writer never waits; sqlt us, pg us: pgwarden's CPU time per transaction)"
}

OIDC_ISSUER="https://token.actions.githubusercontent.com"

# Logins: pgbench -C -S (a new connection per transaction, then one primary-key SELECT) against
# direct, pgbouncer, and one pgwarden (the first of PGWARDEN_WORKERS) both as a static identity
# that logs in with SCRAM and as an OIDC identity whose password is an ID token, RS256 and ES256,
# minted here with openssl against a JWKS file made here. The tokens stay valid for a day.
case_logins() {
  local w=${PGWARDEN_WORKERS%% *} keys claims
  make_dir pgw-bench-issuer
  keys=$DIR
  make_issuer_keys "$keys"
  say "starting pgwarden with an OIDC identity (workers: $w)"
  PGW_IDENTITIES_EXTRA="  oidc:
    - {issuer: \"$OIDC_ISSUER\", audience: pgwarden, jwks_file: $keys/jwks.json, user: ci,
       principal: \"{repository}@{ref}\", job_id: \"{run_id}-{run_attempt}\", commit: \"{sha}\",
       upstream_role: $ROLE}" start_pgwarden "$w"
  claims=$(ci_claims "$OIDC_ISSUER" pgwarden 86400)
  register_target pgwarden-scram "$PGW_PORT" "$PGW_USER" "$PGW_PASSWORD" "$PGW_PID"
  register_target pgwarden-rs256 "$PGW_PORT" ci "$(mint_token "$keys" RS256 "$claims")" "$PGW_PID"
  register_target pgwarden-es256 "$PGW_PORT" ci "$(mint_token "$keys" ES256 "$claims")" "$PGW_PID"
  CASE_TARGETS=(direct pgbouncer pgwarden-scram pgwarden-rs256 pgwarden-es256)
  VARIANT_ARGS[logins]="-C -S -n -M simple -c $BENCH_CLIENTS -j $BENCH_THREADS"
  measure logins
  print_logins_table
}

# Prints the logins table: connections per second, the ratio to pgwarden's SCRAM login, and the
# CPU time the proxy spent per login (both legs: the client's authentication and pgwarden's own
# SCRAM login upstream).
print_logins_table() {
  local target rate scram row="%-26s %9.1f %9s %12s\n"
  local -A name=([direct]="direct (SCRAM)" [pgbouncer]="pgbouncer (SCRAM)" [pgwarden-scram]="pgwarden SCRAM"
                 [pgwarden-rs256]="pgwarden OIDC token RS256" [pgwarden-es256]="pgwarden OIDC token ES256")
  # shellcheck disable=SC2086
  scram=$(median ${RESULTS["logins|pgwarden-scram"]})
  echo
  echo "logins: pgbench -C -S, a new connection per transaction" \
    "(median of $BENCH_ROUNDS x ${BENCH_SECONDS}s, -c $BENCH_CLIENTS -j $BENCH_THREADS)"
  printf '%-26s %9s %9s %12s\n' target conn/s /scram "CPU us/conn"
  for target in "${CASE_TARGETS[@]}"; do
    # shellcheck disable=SC2086
    rate=$(median ${RESULTS["logins|$target"]})
    # shellcheck disable=SC2059,SC2086
    printf "$row" "${name[$target]}" "$rate" "$(ratio "$rate" "$scram")" \
      "$(if [ -n "${TARGET_PID[$target]}" ]; then median ${CPU_US["logins|$target"]}; else echo -; fi)"
  done
  echo "(CPU us/conn: CPU time, user + system, of the proxy process per connection and its SELECT)"
}

# The micro-benchmarks of the audit store and the rule engine, built in build-bench: records per
# second into the store from 4 threads as the proxy's loops commit them (64 appends per commit
# and thread) and as far as group commit goes (16384), and from 1 thread committing 1024 at a
# time (what the store itself costs a record), each with durability commit and fsync; and the
# median and p99 microseconds of parse + evaluate of pgbench's statements against 50 rules.
case_micro() {
  local args
  build_bench store_bench rules_bench
  make_dir pgw-bench-store
  echo
  echo "micro: store_bench (records/s into a fresh audit store; target 200000)"
  for args in "64 $DIR 4" "16384 $DIR 4" "1024 $DIR 1"; do
    # shellcheck disable=SC2086
    "$root/build-bench/store/store_bench" 200000 $args || die "store_bench failed"
  done
  echo "micro: rules_bench (parse + evaluate against 50 rules; target median < 5 us)"
  "$root/build-bench/rules/rules_bench" || die "rules_bench failed"
}

main() {
  local start=$SECONDS c
  [ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and pgbouncer are started as the postgres user)"
  for c in $CASES; do
    declare -F "case_$c" >/dev/null || die "unknown case \"$c\" in CASES (known: select_only latency result_heavy logins pg_store micro)"
  done
  prepare
  start_targets
  for c in $CASES; do
    "case_$c"
  done
  echo
  echo "total time: $(( SECONDS - start ))s"
}

main "$@"
