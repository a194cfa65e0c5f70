#!/usr/bin/env bash
# Residents' reads with and without a read replica, on one machine: makes a PostgreSQL primary
# and its streaming standby (two clusters in a temporary directory, PostgreSQL's own programs,
# run as the postgres user when root), then runs bench/http-status.sh against the primary alone
# and against the primary with the standby serving residents' reads.
# Usage: bash bench/replica.sh [seconds per run, default 10] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pg_config --bindir)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
root=$(mktemp -d /tmp/hc-replica-bench.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres:postgres "$root"
primary=15432
standby=15433
stop() {
  for c in standby primary; do as_pg "$bin/pg_ctl" -D "$root/$c" stop -m fast >/dev/null 2>&1 || true; done
  rm -rf "$root"
}
trap stop EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
as_pg "$bin/initdb" -U postgres --auth=trust -E UTF8 --locale=C -D "$root/primary" >/dev/null
cat >>"$root/primary/postgresql.conf" <<CONF
port = $primary
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root'
max_connections = 200
CONF
as_pg "$bin/pg_ctl" -D "$root/primary" -l "$root/primary.log" -w start >/dev/null
as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -R -X stream -D "$root/standby"
echo "port = $standby" >>"$root/standby/postgresql.conf"
as_pg "$bin/pg_ctl" -D "$root/standby" -l "$root/standby.log" -w start >/dev/null
STORES="postgres postgres-replica" \
  HEALTHCODE_BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$primary/postgres" \
  HEALTHCODE_BENCH_REPLICA_URL="postgres://postgres@127.0.0.1:$standby/postgres" \
  bash bench/http-status.sh "${1:-10}" "${2:-64}" || { tail -5 /tmp/hc-bench-node.log; exit 1; }
