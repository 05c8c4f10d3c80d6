#!/usr/bin/env bash
# Installs the Debian packages pgwarden needs to build, test, benchmark and run its demo.
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libpg-query-dev libuv1-dev libssl-dev libre2-dev libsqlite3-dev libfmt-dev catch2
      libyaml-cpp-dev libsimdjson-dev libpq-dev
      postgresql-15 postgresql-client-15 pgbouncer openssl python3 python3-psycopg2 sqlite3 procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
