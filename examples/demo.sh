#!/usr/bin/env bash
# pgwarden in two minutes. Installs what is missing, builds pgwarden, starts a throw-away
# PostgreSQL 15 in a temporary directory and pgwarden in front of it with examples/pgwarden.yaml,
# runs the migration in examples/migrations through it with psql (one step allowed, one denied,
# one held until a DBA approves it on the admin console from a second psql), prints the audit as
# CSV, verifies its hash chain, and stops everything it started, also when a step fails.
#
# Usage: examples/demo.sh    (as root on Debian 12, or as a user who can run initdb)
# PGWARDEN_BUILD_DIR picks the build directory (default: build/ in the repository).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${PGWARDEN_BUILD_DIR:-$root/build}"
pgbin=/usr/lib/postgresql/15/bin
export PGCONNECT_TIMEOUT=10

step() { printf '\n== %s\n' "$*"; }

step "installing what is missing"
bash "$root/test/install-deps.sh" build
step "building pgwarden in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target pgwarden >/dev/null
pgwarden="$build/proxy/pgwarden"

work=$(mktemp -d "${TMPDIR:-/tmp}/pgwarden-demo.XXXXXX")
chmod 755 "$work"
pgwarden_pid=""
held_pid=""
as_postgres() {  # the server refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  local rc=$?
  set +e
  for pid in $held_pid $pgwarden_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -f "$work/pg/postmaster.pid" ] && as_postgres "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1
  if [ "$rc" != 0 ]; then
    echo "demo failed (exit $rc); the last lines pgwarden logged:" >&2
    tail -n 20 "$work/pgwarden.log" >&2 2>/dev/null
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
px_port=$(free_port)
export MIGRATOR_PASSWORD="migrator-$RANDOM$RANDOM"   # known to PostgreSQL and pgwarden only

step "starting PostgreSQL 15 on 127.0.0.1:$pg_port (data in $work/pg)"
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_postgres "$pgbin/initdb" -D "$work/pg" -U postgres -E UTF8 --locale=C --auth-local=trust \
  --auth-host=scram-sha-256 >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -p "$pg_port" -U postgres -d postgres \
  -c "CREATE ROLE migrator LOGIN PASSWORD '$MIGRATOR_PASSWORD'" -c "CREATE DATABASE app OWNER migrator"

step "starting pgwarden on 127.0.0.1:$px_port"
sed -e "s/^listen: .*/listen: 127.0.0.1:$px_port/" -e "s/^  port: 5432$/  port: $pg_port/" \
  "$here/pgwarden.yaml" > "$work/pgwarden.yaml"
cp "$here/rules.yaml" "$work/rules.yaml"
"$pgwarden" check -c "$work/pgwarden.yaml"
"$pgwarden" test -c "$work/pgwarden.yaml"
"$pgwarden" serve -c "$work/pgwarden.yaml" 2> "$work/pgwarden.log" &
pgwarden_pid=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $px_port), 0.2)" 2>/dev/null && break
  kill -0 "$pgwarden_pid" || { echo "pgwarden exited" >&2; exit 1; }
  sleep 0.1
done

# The pipeline: principal acme/shop@refs/heads/main (user deploy), job 4711 at commit 3f2a9c1,
# each migration file in one transaction.
migrate() {
  echo "-- $1"
  PGPASSWORD=deploy-demo-pw PGOPTIONS="-c pgwarden.job_id=4711 -c pgwarden.commit=3f2a9c1" \
    "$pgbin/psql" -X -1 -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$px_port" -U deploy -d app \
    -f "$here/migrations/$1"
}
# The DBA: principal dba:alice (user alice) on the admin console, the virtual database pgwarden.
console() {
  PGPASSWORD=alice-demo-pw "$pgbin/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$px_port" -U alice -d pgwarden "$@"
}

step "the pipeline runs the migration through pgwarden"
migrate 001_customers.sql
if migrate 002_cleanup.sql; then echo "002_cleanup.sql should have been denied" >&2; exit 1; fi
migrate 003_drop_legacy.sql &
held_pid=$!

step "a DBA approves the held statement from a second psql"
id=""
for _ in $(seq 100); do
  id=$(console -A -t -c "SHOW APPROVALS" | awk -F'|' '$2 == "pending" { print $1; exit }')
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] || { echo "no statement was held for approval" >&2; exit 1; }
console -c "SHOW APPROVALS"
console -c "APPROVE $id"
wait "$held_pid"
held_pid=""

step "the database now"
"$pgbin/psql" -X -h "$work/pg" -p "$pg_port" -U postgres -d app -c '\dt' -c 'TABLE customers'

step "the audit of job 4711, as compliance exports it (pgwarden audit export prints all 28 columns)"
"$pgwarden" audit export --store "$work/audit.db" --job 4711 | python3 -c '
import csv, sys
columns = "seq principal job_id commit command decision rule approver rows sqlstate statement".split()
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(columns)
for r in csv.DictReader(sys.stdin):
    out.writerow([r[c] for c in columns])'

step "verifying the audit hash chain"
"$pgwarden" audit verify --store "$work/audit.db"
