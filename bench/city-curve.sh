#!/usr/bin/env bash
# Bigger cities: for each size (millions of people), builds the 14-day city of "Synthetic city"
# in docs/BENCHMARKS.md (50,000 venues a million people, so the crowd per venue stays the same)
# in a fresh store, then measures what grows with it: build time, disk and tracing (100 cases,
# cold then twice warm; re-deriving everyone is bench/reassess.py, which needs facts to derive
# from). Each city is dropped before the next, so the
# disk needs room for the largest alone (about 18 GB a million).
# Usage: bash bench/city-curve.sh [sizes in millions, default "1 2 3"]
# STORE is postgres (default) or sqlite; PostgreSQL at $HEALTHCODE_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test). Data directories go under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${HEALTHCODE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
store="${STORE:-postgres}"
cargo build --release -q -p healthcode
bin="$PWD/target/release/healthcode"

for millions in ${1:-1 2 3}; do
  dir=$(mktemp -d)
  node=("$bin" --data-dir "$dir")
  if [ "$store" = postgres ]; then
    db="hc_city_${millions}m"
    url="${pg%/*}/$db"
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
    psql "$pg" -qc "CREATE DATABASE $db" >/dev/null
    node+=(--database-url "$url")
  fi
  start=$(date +%s)
  RUST_LOG=warn "${node[@]}" simulate --people "${millions}000000" --venues $((millions * 50000)) \
    --days 14 --visits-per-day 3 --seed 1 --until 2026-11-23 >/dev/null
  built=$(( $(date +%s) - start ))
  if [ "$store" = postgres ]; then
    psql "$url" -qc "VACUUM ANALYZE" >/dev/null
    size=$(psql "$url" -tAc "SELECT pg_size_pretty(pg_database_size('$db'))")
    visits=$(psql "$url" -tAc "SELECT count(*) FROM visits")
  else
    size=$(du -sh "$dir" | cut -f1)
    visits="$((millions * 42))M" # what simulate writes: 3 a day for 14 days, per person
  fi
  echo "$store ${millions}M people: ${visits} visits, built in ${built} s, ${size}"
  for run in cold warm warm; do
    echo -n "  trace ($run): "
    RUST_LOG=warn "${node[@]}" trace-bench --cases 100 --window-end 2026-11-22T16:00:00Z | tail -n1
  done
  if [ "$store" = postgres ]; then psql "$pg" -qc "DROP DATABASE $db" >/dev/null; fi
  rm -rf "$dir"
done
