#!/usr/bin/env bash
# Installs the Debian packages pgwarden needs, only those missing (apt-get update, then install).
#   bash test/install-deps.sh         everything: build, tests, compatibility tools, benchmarks
#   bash test/install-deps.sh build   what builds pgwarden and runs examples/demo.sh
set -euo pipefail
build=(build-essential cmake pkg-config
       libpg-query-dev libuv1-dev libssl-dev libre2-dev libsqlite3-dev libfmt-dev catch2
       libyaml-cpp-dev libsimdjson-dev nlohmann-json3-dev libpq-dev libcurl4-openssl-dev prometheus-cpp-dev
       postgresql-15 postgresql-client-15 openssl python3 procps)
# The real clients and migration tools of test/integration (test_tools.py, test_migration_tools.py,
# psycopg 3 in test_pipeline_errors.py), the benchmarks' pgbouncer, and promtool (Debian's
# prometheus) that checks the metrics exposition in test_metrics.py; clang, its sanitizer runtimes
# (a recommendation of clang, which --no-install-recommends leaves out) and libFuzzer build the
# fuzz targets of test/fuzz.
tools=(python3-psycopg2 python3-psycopg sqlite3 pgbouncer clang libclang-rt-14-dev libfuzzer-14-dev
       libpostgresql-jdbc-java default-jdk-headless
       python3-alembic python3-sqlalchemy
       sqitch libdbd-pg-perl python3-django sql-migrate prometheus)
pkgs=("${build[@]}")
[ "${1:-}" = build ] || pkgs+=("${tools[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from another source than Debian's packages; only their commands matter.
if [ "${1:-}" != build ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
