# shellcheck shell=bash disable=SC2034
# Helpers for bench/run.sh: start and stop a throw-away PostgreSQL 15, a second one with pgAudit,
# pgbouncer and pgwarden on free loopback ports, run pgbench against any of them, and summarise
# the figures.
# Sourced, not executed. Everything started here registers its own stop in CLEANUPS.

PG_BIN=/usr/lib/postgresql/15/bin
ROLE=migrator                      # the upstream role every target ends up as
ROLE_PASSWORD=bench-upstream-secret
PGW_USER=alice                     # the user name clients give pgwarden
PGW_PASSWORD=bench-alice-secret
DATABASE=app

CLEANUPS=()

# Registers a shell command to run at exit; commands run newest first.
on_exit() { CLEANUPS+=("$1"); }

# Runs every registered cleanup, newest first, ignoring failures so the rest still run.
run_cleanups() {
  local i
  for (( i=${#CLEANUPS[@]}-1; i>=0; i-- )); do
    eval "${CLEANUPS[$i]}" >/dev/null 2>&1 || true
  done
  CLEANUPS=()
}

# Prints a progress line on stderr so stdout stays the table.
say() { echo "== $*" >&2; }

die() { echo "bench: $*" >&2; exit 1; }

# Prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 accepts connections; fails after 20 s or when pid $2 (if given) exits.
wait_port() {
  local port=$1 pid=${2:-} i
  for (( i=0; i<400; i++ )); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# Makes a temporary directory owned by $2 (default root), removed at exit, and sets DIR to it.
# (It sets a variable rather than printing, so that the cleanup it registers is not lost in a
# command-substitution subshell.)
make_dir() {
  local prefix=$1 owner=${2:-root}
  DIR=$(mktemp -d "/tmp/$prefix.XXXXXX")
  chmod 755 "$DIR"
  chown "$owner:" "$DIR"
  on_exit "rm -rf '$DIR'"
}

as_postgres() { runuser -u postgres -- "$@"; }

# Starts a PostgreSQL 15 cluster in a new temp dir named after $1, on a free loopback port, with
# the lines of $2 appended to its postgresql.conf; it is stopped at exit. Creates $ROLE (SCRAM
# password) owning database $DATABASE. Sets CLUSTER_DIR and CLUSTER_PORT.
start_cluster() {
  local d port
  make_dir "$1" postgres
  d=$DIR
  port=$(free_port)
  as_postgres "$PG_BIN/initdb" -D "$d/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C >"$d/initdb.log" 2>&1 \
    || die "initdb failed, see $d/initdb.log"
  cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$d'
max_connections = 200
fsync = off
synchronous_commit = off
shared_buffers = 256MB
${2:-}
EOF
  as_postgres "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w start >/dev/null \
    || die "PostgreSQL did not start, see $d/log${2:+ and the server log under $d}"
  on_exit "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$d/data' -m immediate -w stop"
  cluster_admin "$d" "$port" postgres "CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$ROLE_PASSWORD'"
  cluster_admin "$d" "$port" postgres "CREATE DATABASE $DATABASE OWNER $ROLE"
  CLUSTER_DIR=$d
  CLUSTER_PORT=$port
}

# Runs SQL $4 in database $3 as the superuser over the Unix socket of the cluster in directory $1
# listening on port $2.
cluster_admin() {
  as_postgres "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$1" -p "$2" -d "$3" -c "$4"
}

# Starts the PostgreSQL every proxy forwards to. Sets PG_DIR and PG_PORT.
start_postgres() {
  start_cluster pgw-bench-pg
  PG_DIR=$CLUSTER_DIR
  PG_PORT=$CLUSTER_PORT
}

# Runs SQL $2 in database $1 as the superuser over the Unix socket of start_postgres's cluster.
pg_admin() { cluster_admin "$PG_DIR" "$PG_PORT" "$@"; }

# Starts a second PostgreSQL with pgAudit logging every statement of every session, parameters
# included, to a file (the collector's log/postgresql.log in its data directory), as a DBA who
# audits in the server sets it up. Sets PGAUDIT_DIR and PGAUDIT_PORT. Needs postgresql-15-pgaudit.
start_pgaudit() {
  [ -f "$(dirname "$PG_BIN")/lib/pgaudit.so" ] || die "pgAudit is not installed (postgresql-15-pgaudit)"
  start_cluster pgw-bench-pgaudit "shared_preload_libraries = 'pgaudit'
pgaudit.log = 'all'
pgaudit.log_parameter = on
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0"
  PGAUDIT_DIR=$CLUSTER_DIR
  PGAUDIT_PORT=$CLUSTER_PORT
  cluster_admin "$PGAUDIT_DIR" "$PGAUDIT_PORT" "$DATABASE" "CREATE EXTENSION pgaudit"
}

# Fails the run unless the pgAudit cluster has the settings start_pgaudit gave it and writes an
# AUDIT line to its log file for a statement a client sends over TCP as $ROLE.
check_pgaudit() {
  local marker="pgaudit-check-$$-$RANDOM" log="$PGAUDIT_DIR/data/log/postgresql.log" out level params i
  local sql="SELECT current_setting('pgaudit.log'), current_setting('pgaudit.log_parameter'), '$marker'"
  out=$(PGPASSWORD=$ROLE_PASSWORD "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 \
      -p "$PGAUDIT_PORT" -U "$ROLE" -d "$DATABASE" -c "$sql" 2>&1) \
    || die "the pgAudit cluster did not run a statement: $out"
  IFS='|' read -r level params _ <<<"$out"
  if [ "$level" != all ] || [ "$params" != on ]; then
    die "the pgAudit cluster runs with pgaudit.log = '$level', pgaudit.log_parameter = $params"
  fi
  for (( i=0; i<100; i++ )); do
    if grep -q "AUDIT: SESSION,.*$marker" "$log" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  die "pgAudit wrote no AUDIT line to $log for a statement: $(tail -3 "$log" 2>/dev/null)"
}

# Starts a third PostgreSQL 15 that holds pgwarden's audit (`audit.backend: postgresql`), as a
# separate server does: set up like the others (temporary directory, free loopback port, $ROLE)
# but with `fsync = on` and `synchronous_commit = on`, so that a store session asking for a
# synced commit (`durability: fsync`) gets one; `durability: commit` turns synchronous_commit off
# on pgwarden's own session. The store is database `audit`, owned by $ROLE. Sets STORE_DIR,
# STORE_PORT and STORE_DSN (a libpq URI for pgwarden's audit.postgresql.dsn_env).
start_store() {
  start_cluster pgw-bench-store "fsync = on
synchronous_commit = on"
  STORE_DIR=$CLUSTER_DIR
  STORE_PORT=$CLUSTER_PORT
  cluster_admin "$STORE_DIR" "$STORE_PORT" postgres "CREATE DATABASE audit OWNER $ROLE"
  STORE_DSN="postgresql://$ROLE:$ROLE_PASSWORD@127.0.0.1:$STORE_PORT/audit"
}

# Prints "XMAX RECORDS" of the audit store: the store cluster's next transaction id (every commit
# that writes takes one, and nothing else writes there, so the difference of two readings counts
# the commits in between, at once and exactly, where pg_stat_database's counters lag by up to
# seconds) and the number of records in the chain of pgwarden instance $1 (its chain head, which
# every commit advances).
store_counts() {
  cluster_admin "$STORE_DIR" "$STORE_PORT" audit "SELECT pg_snapshot_xmax(pg_current_snapshot()) || ' ' ||
    coalesce((SELECT record_seq FROM pgwarden.audit_instance WHERE name = '$1'), 0)"
}

# Starts pgbouncer (session pooling, SCRAM to clients and server) in front of PostgreSQL.
# Sets BOUNCER_PORT. pgbouncer refuses to run as root, so it runs as postgres.
start_pgbouncer() {
  make_dir pgw-bench-bouncer postgres
  local d=$DIR
  BOUNCER_PORT=$(free_port)
  printf '"%s" "%s"\n' "$ROLE" "$ROLE_PASSWORD" >"$d/userlist.txt"
  cat >"$d/pgbouncer.ini" <<EOF
[databases]
$DATABASE = host=127.0.0.1 port=$PG_PORT dbname=$DATABASE

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir = $d
auth_type = scram-sha-256
auth_file = $d/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
EOF
  chown postgres: "$d"/*
  chmod 600 "$d/userlist.txt"
  as_postgres pgbouncer -d "$d/pgbouncer.ini" || die "pgbouncer did not start, see $d/pgbouncer.log"
  on_exit "kill \$(cat '$d/pgbouncer.pid')"
  wait_port "$BOUNCER_PORT" || die "pgbouncer did not open its port, see $d/pgbouncer.log"
  BOUNCER_PID=$(cat "$d/pgbouncer.pid")
}

# Writes to $1 a rules file of 50 rules as DBAs write them: 49 that pgbench's statements miss
# (other commands, schemas, principals, functions, columns, patterns) and, last, one that allows
# pgbench's tables, so every pgbench statement is evaluated against all 50.
write_rules50() {
  local i
  {
    echo "mode: enforce"
    echo "default: allow"
    echo "on_parse_error: deny"
    echo "rules:"
    for (( i=1; i<=49; i++ )); do
      echo "  - name: rule-$i"
      case $(( i % 7 )) in
        0) echo "    match: {commands: [drop_table, truncate], tables: [\"app$i.*\"]}" ;;
        1) echo "    match: {commands: [delete, update], where: absent, tables: [\"ledger$i.*\"]}" ;;
        2) echo "    match: {principals: [\"acme/team$i@*\"], classes: [ddl]}" ;;
        3) echo "    match: {functions: [pg_read_file, \"dblink$i*\", lo_export]}" ;;
        4) echo "    match: {columns: [\"*.customers$i.card_number\"], principals: [\"*@refs/heads/*\"]}" ;;
        5) echo "    match: {sql: '(?i)copy\\s+tab$i'}" ;;
        6) echo "    match: {databases: [\"billing$i\"], commands: [insert]}" ;;
      esac
      echo "    action: deny"
      echo "    message: \"rule $i\""
    done
    echo "  - name: pgbench"
    echo "    match: {tables: [\"public.pgbench_*\"]}"
    echo "    action: allow"
  } >"$1"
}

# Prints a `masks:` list of 10 value masks (SPEC section 6, RE2 patterns applied to every text value
# of every result) as a DBA protecting personal and secret data writes it: card numbers, emails,
# US social security numbers, IBANs, phone numbers, IPv4 addresses, AWS access keys, bearer tokens,
# `key=value` secrets and UK national insurance numbers. No `match:`, so they apply to everyone.
masks10() {
  cat <<'EOF'
masks:
  - {name: card-numbers, pattern: '\b(\d{4})[ -]?\d{4}[ -]?\d{4}[ -]?(\d{4})\b', replace: '\1-****-****-\2'}
  - {name: emails, pattern: '[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.[A-Za-z0-9.-]+)', replace: '***@\1'}
  - {name: us-ssn, pattern: '\b\d{3}-\d{2}-\d{4}\b', replace: '***-**-****'}
  - {name: iban, pattern: '\b([A-Z]{2}\d{2})(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b', replace: '\1 ****'}
  - {name: phone-numbers, pattern: '\+\d{1,3}[ -]?\(?\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,4}\b', replace: '+** ****'}
  - {name: ipv4, pattern: '\b(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}\b', replace: '\1.x.x.x'}
  - {name: aws-access-keys, pattern: '\b(AKIA|ASIA)[0-9A-Z]{16}\b', replace: '\1****************'}
  - {name: bearer-tokens, pattern: '(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*', replace: 'Bearer ***'}
  - {name: secrets, pattern: '(?i)\b(password|passwd|secret|api_key|token)=[^\s&;]+', replace: '\1=***'}
  - {name: uk-nino, pattern: '\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b', replace: '** ****** *'}
EOF
}

# Starts pgwarden with $1 workers and the rules of write_rules50; $PGWARDEN_CONFIG_EXTRA is appended
# to its config. Optional: $PGW_RULES_EXTRA is appended to its rules file (a `masks:` list, say),
# $PGW_IDENTITIES_EXTRA to its `identities:` (an `oidc:` list) and $PGW_AUDIT_EXTRA to its
# `audit:` (another backend, say). `pgwarden check` must accept the result. Sets PGW_PORT to
# the port it listens on, PGW_PID and PGW_DIR to its directory.
start_pgwarden() {
  local workers=$1 d port verifier pid
  make_dir pgw-bench-pgwarden
  d=$DIR
  port=$(free_port)
  verifier=$(printf '%s\n' "$PGW_PASSWORD" | "$PGWARDEN_BIN" scram-verifier) || die "pgwarden scram-verifier failed"
  printf '%s\n' "$ROLE_PASSWORD" >"$d/role.pw"
  chmod 600 "$d/role.pw"
  cat >"$d/pgwarden.yaml" <<EOF
listen: 127.0.0.1:$port
workers: $workers
upstream:
  host: 127.0.0.1
  port: $PG_PORT
  tls: disable
  roles:
    - {name: $ROLE, password_file: role.pw}
identities:
  static:
    - {principal: "bench:$PGW_USER", user: $PGW_USER, scram_verifier: "$verifier", upstream_role: $ROLE}
${PGW_IDENTITIES_EXTRA:-}
audit:
  path: audit.db
  durability: ${PGWARDEN_DURABILITY:-commit}
${PGW_AUDIT_EXTRA:-}
rules_file: rules.yaml
EOF
  write_rules50 "$d/rules.yaml"
  if [ -n "${PGW_RULES_EXTRA:-}" ]; then printf '%s\n' "$PGW_RULES_EXTRA" >>"$d/rules.yaml"; fi
  if [ -n "${PGWARDEN_CONFIG_EXTRA:-}" ]; then printf '%s\n' "$PGWARDEN_CONFIG_EXTRA" >>"$d/pgwarden.yaml"; fi
  "$PGWARDEN_BIN" check -c "$d/pgwarden.yaml" >"$d/check.log" 2>&1 \
    || die "pgwarden check refused the benchmark's config: $(cat "$d/check.log")"
  "$PGWARDEN_BIN" serve -c "$d/pgwarden.yaml" >"$d/pgwarden.log" 2>&1 &
  pid=$!
  on_exit "kill -9 $pid; wait $pid"
  wait_port "$port" "$pid" || die "pgwarden (workers: $workers) did not start: $(tail -5 "$d/pgwarden.log")"
  PGW_PORT=$port
  PGW_PID=$pid
  PGW_DIR=$d
}

# Runs pgbench with the extra arguments given against target $1 (a name in TARGET_PORT) and prints
# "TPS TRANSACTIONS", tps excluding connection time. Fails, with pgbench's output, when pgbench
# reports an error.
pgbench_run() {
  local target=$1 out; shift
  out=$(PGPASSWORD=${TARGET_PASSWORD[$target]} "$PG_BIN/pgbench" -h 127.0.0.1 -p "${TARGET_PORT[$target]}" \
          -U "${TARGET_USER[$target]}" "$@" "$DATABASE" 2>&1) \
    || die "pgbench against $target failed: $(tail -5 <<<"$out")"
  awk '/^number of transactions actually processed:/ { n=$6 }
       /^tps = / { t=$3 }
       END { if (t == "" || n == "") exit 1; print t, n }' <<<"$out" \
    || die "no tps in pgbench output against $target: $(tail -5 <<<"$out")"
}

# Prints the CPU time, user plus system, in clock ticks, that process $1 and its threads have used.
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# Prints the median of the numbers given as arguments, with one decimal.
median() { median_fmt %.1f "$@"; }

# Prints the median of the numbers given after $1, in printf format $1 (%.3f, say).
median_fmt() {
  local format=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v f="$format\n" '{ v[NR]=$1 } END {
    if (NR == 0) exit 1
    if (NR % 2) printf f, v[(NR+1)/2]; else printf f, (v[NR/2]+v[NR/2+1])/2 }'
}

# Prints $1/$2 with two decimals, or "-" when either is "-" or $2 is not above 0.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f\n", a/b; else print "-" }'
}

# Prints $1 - $2 with one decimal.
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", a - b }'; }

# Prints "AVG P99", in microseconds, of the transactions in the pgbench per-transaction log files
# given (pgbench -l: the third column is a transaction's latency in microseconds); P99 is the
# nearest-rank 99th percentile. Fails when the files hold no transaction.
tx_latency() {
  awk '{ print $3 }' "$@" | sort -n | awk '{ v[NR]=$1; s+=$1 } END {
    if (NR == 0) exit 1
    r = int(NR * 0.99); if (r < NR * 0.99) r++
    printf "%.1f %.1f\n", s / NR, v[r] }'
}
