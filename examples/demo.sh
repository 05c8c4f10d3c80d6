#!/usr/bin/env bash
# pgwarden in two minutes: builds it, starts a throw-away PostgreSQL 15 and pgwarden in front of
# it with examples/pgwarden.yaml and examples/rules.yaml, runs a small migration through it with
# psql (one step allowed, one denied, one held for a DBA), prints the audit as CSV, verifies the
# hash chain, and stops everything it started.   Usage: examples/demo.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
pgbin=/usr/lib/postgresql/15/bin

bash "$root/test/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target pgwarden >/dev/null
pgwarden="$root/build/proxy/pgwarden"

work=$(mktemp -d /tmp/pgwarden-demo.XXXXXX)
chmod 755 "$work"
pgwarden_pid=""
cleanup() {
  [ -n "$pgwarden_pid" ] && kill "$pgwarden_pid" 2>/dev/null && wait "$pgwarden_pid" 2>/dev/null || true
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
px_port=$(free_port)
export MIGRATOR_PASSWORD=migrator-demo-pw ALICE_PASSWORD=alice-demo-pw DEPLOY_PASSWORD=deploy-demo-pw

echo "== starting PostgreSQL 15 on 127.0.0.1:$pg_port"
mkdir "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
runuser -u postgres -- "$pgbin/psql" -X -q -h "$work/pg" -p "$pg_port" -d postgres \
  -c "CREATE ROLE migrator LOGIN CREATEDB PASSWORD '$MIGRATOR_PASSWORD'" -c "CREATE DATABASE app OWNER migrator"

echo "== starting pgwarden on 127.0.0.1:$px_port"
sed -e "s/^listen: .*/listen: 127.0.0.1:$px_port/" -e "s/^  port: 5432/  port: $pg_port/" \
  "$here/pgwarden.yaml" > "$work/pgwarden.yaml"
cp "$here/rules.yaml" "$work/rules.yaml"
"$pgwarden" check -c "$work/pgwarden.yaml"
"$pgwarden" test -c "$work/pgwarden.yaml"
"$pgwarden" serve -c "$work/pgwarden.yaml" 2> "$work/pgwarden.log" &
pgwarden_pid=$!
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $px_port), 0.2)" 2>/dev/null && break
  sleep 0.1
done

run() {  # run FILE as the CI principal
  echo "-- $1"
  PGPASSWORD=$DEPLOY_PASSWORD PGOPTIONS="-c pgwarden.job_id=demo-42 -c pgwarden.commit=3f2a9c1" \
    "$pgbin/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$px_port" -U deploy -d app -f "$here/migrations/$1" || true
}
echo "== the migration, run by the pipeline as acme/shop@refs/heads/main"
run 001_customers.sql
run 002_cleanup.sql
run 003_drop_legacy.sql

echo "== the audit, as compliance exports it"
"$pgwarden" audit export --store "$work/audit.db" --job demo-42 |
  python3 -c 'import csv,sys; w=csv.writer(sys.stdout); [w.writerow([r[k] for k in ("seq","principal","job_id","command","decision","rule","rows","sqlstate","statement")]) for r in csv.DictReader(sys.stdin)]'
echo "== verifying the hash chain"
"$pgwarden" audit verify --store "$work/audit.db"
