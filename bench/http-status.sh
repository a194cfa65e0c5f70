#!/usr/bin/env bash
# Status reads and fresh passes (a new signature each) per second over HTTP on loopback, next to the same node's trivial /healthz (the
# floor), on SQLite and PostgreSQL. Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL,
# a server at $HEALTHCODE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
# Usage: bash bench/http-status.sh [seconds per run, default 10] [connections, default 64]
# STORES (default "sqlite postgres") may also name postgres-replica: PostgreSQL with residents'
# reads on the streaming replica at $HEALTHCODE_BENCH_REPLICA_URL (bench/replica.sh makes a pair).
# HEALTHCODE_BIN runs another build (an earlier commit's, for a before and after) instead.
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-64}"
pg="${HEALTHCODE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
bin="${HEALTHCODE_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release -q -p healthcode
  bin="$PWD/target/release/healthcode"
fi
port=18390

# CPU ticks so far: the node, the whole machine (user, system, irq).
ticks() {
  echo "$(awk '{print $14+$15}' "/proc/$node/stat") $(awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat)"
}

run_wrk() { # label url [token]
  local out before after load
  load=$(mktemp)
  before=$(ticks)
  if [ -n "${3:-}" ]; then
    out=$(/usr/bin/time -f '%U %S' -o "$load" wrk -t2 -c"$conns" -d"${secs}s" --latency -H "authorization: Bearer $3" "$2")
  else
    out=$(/usr/bin/time -f '%U %S' -o "$load" wrk -t2 -c"$conns" -d"${secs}s" --latency "$2")
  fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  after=$(ticks)
  printf '%-9s %-22s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$store" "$1" "$rps" "$p50" "$p99" "${errors:-0}"
  # Where the machine's time per request went (what a node needs with the database elsewhere):
  # the node, wrk, and the rest (the database's processes and the kernel's network work).
  python3 -c "
b, a = [int(x) for x in '$before'.split()], [int(x) for x in '$after'.split()]
n = $rps * $secs
node, machine = [(y - x) * 1e6 / $(getconf CLK_TCK) / n for x, y in zip(b, a)]
load = sum(float(x) for x in open('$load').read().split()) * 1e6 / n
print('          cpu per request: node %.0f us, load generator %.0f us, rest %.0f us (machine %.0f us)'
      % (node, load, machine - node - load, machine))"
  rm -f "$load"
  echo "$rps" > "/tmp/hc-bench-$1"
}

for store in ${STORES:-sqlite postgres}; do
  dir=$(mktemp -d)
  args=(--data-dir "$dir")
  replica=()
  if [ "$store" != sqlite ]; then
    db="hc_bench_$$"
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
    psql "$pg" -qc "CREATE DATABASE $db" >/dev/null
    args+=(--database-url "${pg%/*}/$db")
  fi
  if [ "$store" = postgres-replica ]; then
    replica=(env "HEALTHCODE_REPLICA__URL=${HEALTHCODE_BENCH_REPLICA_URL%/*}/$db")
  fi
  log="$dir/node.log"
  RUST_LOG=warn,healthcode_server::usecases::notices=info "${replica[@]}" "$bin" "${args[@]}" demo --listen "127.0.0.1:$port" >"$log" 2>&1 &
  node=$!
  for _ in $(seq 1 600); do grep -q "demo node" "$log" 2>/dev/null && break; sleep 0.1; done
  base="http://127.0.0.1:$port"
  phone=13800000004
  curl -s -XPOST "$base/api/v1/auth/code" -H 'content-type: application/json' -d "{\"phone\":\"$phone\"}" >/dev/null
  code=""
  for _ in $(seq 1 100); do
    code=$(grep -o 'login code is [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*$' || true)
    [ -n "$code" ] && break
    sleep 0.1
  done
  token=$(curl -s -XPOST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"phone\":\"$phone\",\"code\":\"$code\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  person=$(curl -s "$base/api/v1/me" -H "authorization: Bearer $token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["people"][0]["id"])')
  run_wrk healthz "$base/healthz"
  run_wrk status "$base/api/v1/people/$person/status" "$token"
  run_wrk pass "$base/api/v1/people/$person/pass?format=text" "$token"
  for what in status pass; do
    ratio=$(python3 -c "print(round($(cat /tmp/hc-bench-$what)/$(cat /tmp/hc-bench-healthz), 3))")
    echo "$store    $what/healthz ratio: $ratio"
  done
  kill "$node"; wait "$node" 2>/dev/null || true
  if [ "$store" != sqlite ]; then psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; fi
  rm -rf "$dir"
done
