#!/usr/bin/env python3
"""Contact tracing on a simulated city, side by side (docs/BENCHMARKS.md).

For each store given, runs `healthcode trace-bench` (100 random cases, close contacts, the
node's own indexed tracing) under /usr/bin/time, then asks DuckDB the same question for the
same cases: the contact self-join an analyst would write, over the same visits loaded into a
DuckDB table (sorted by venue and time, DuckDB's best case). Prints latency percentiles, the
ratio, peak memory, and checks that both found the same contacts.

    python3 bench/tracing.py --window-end 2026-11-22T16:00:00Z \
        --sqlite-dir /work/bench-data/sim1m-sqlite \
        --pg-url postgres://postgres@127.0.0.1:5432/sim1m --pg-dir /work/bench-data/sim1m-pg

Needs a release build (cargo build --release -p healthcode), `pip install duckdb`, and the
sqlite3 / psql command-line clients to export the visits once.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "healthcode")


def percentile(values, p):
    ordered = sorted(values)
    k = max(1, min(len(ordered), int(-(-len(ordered) * p // 1))))
    return ordered[k - 1]


def healthcode_run(args, store_args, export):
    cmd = ["/usr/bin/time", "-v", BIN, *store_args, "trace-bench", "--cases", str(args.cases),
           "--seed", str(args.seed), "--window-end", args.window_end, "--export", export]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    print("  " + out.stdout.strip())
    with open(export) as f:
        return json.load(f), rss


def export_visits(args, csv_path):
    """The visits that count as presence, as CSV, from whichever store was given."""
    if os.path.exists(csv_path):
        return
    started = time.time()
    if args.pg_url:
        query = ("\\copy (SELECT subject, venue_id, direction, at, until_at FROM visits "
                 "WHERE confirmed) TO PROGRAM 'gzip -1 > %s' WITH (FORMAT csv)" % csv_path)
        subprocess.run(["psql", args.pg_url, "-c", query], check=True, capture_output=True)
    else:
        db = os.path.join(args.sqlite_dir, "healthcode.db")
        sql = "SELECT subject, venue_id, direction, at, until_at FROM visits WHERE confirmed"
        subprocess.run(f"sqlite3 -csv '{db}' '{sql}' | gzip -1 > '{csv_path}'", shell=True, check=True)
    print(f"  exported the visits to {csv_path} in {time.time() - started:.0f} s")


CONTACTS = """
WITH c AS (
    SELECT venue_id, greatest("at", $wf) AS f, least(until_at, $wu) AS u
    FROM visits
    WHERE subject = $s AND direction = 'entry' AND "at" < $wu AND until_at > $wf
)
SELECT DISTINCT v.subject
FROM visits v JOIN c ON v.venue_id = c.venue_id
WHERE v.subject <> $s AND v.direction = 'entry'
  AND least(v.until_at, c.u + $m) - greatest(v."at", c.f - $m) >= $min
"""


def duckdb_run(args, exported):
    import duckdb

    path = os.path.join(args.work, "visits.duckdb")
    con = duckdb.connect(path)
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'visits'").fetchone()[0]:
        csv_path = os.path.join(args.work, "visits.csv.gz")
        export_visits(args, csv_path)
        started = time.time()
        con.execute(
            "CREATE TABLE visits AS SELECT * FROM read_csv(?, header = false, columns = "
            "{'subject': 'VARCHAR', 'venue_id': 'VARCHAR', 'direction': 'VARCHAR', "
            "'at': 'BIGINT', 'until_at': 'BIGINT'}) ORDER BY venue_id, \"at\"", [csv_path])
        print(f"  loaded DuckDB in {time.time() - started:.0f} s")
    rows = con.execute("SELECT count(*) FROM visits").fetchone()[0]
    params = {"wf": exported["window_from"], "wu": exported["window_until"],
              "m": exported["margin_ms"], "min": max(1, exported["min_overlap_ms"])}
    timings, mismatches = [], 0
    for case in exported["cases"]:
        started = time.perf_counter()
        found = con.execute(CONTACTS, {**params, "s": case["subject"]}).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
        if case["contact_subjects"] is not None and sorted(r[0] for r in found) != case["contact_subjects"]:
            mismatches += 1
    return timings, rows, mismatches


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--window-end", required=True, help="the end of every case's window (RFC 3339)")
    p.add_argument("--sqlite-dir", help="a data directory holding a simulated city on SQLite")
    p.add_argument("--pg-url", help="a PostgreSQL database holding the same city")
    p.add_argument("--pg-dir", help="the data directory (data key) that goes with --pg-url")
    p.add_argument("--cases", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--work", default="/work/bench-data", help="where the DuckDB copy is kept")
    args = p.parse_args()
    runs = []
    if args.sqlite_dir:
        runs.append(("sqlite", ["--data-dir", args.sqlite_dir]))
    if args.pg_url:
        runs.append(("postgres", ["--data-dir", args.pg_dir or args.sqlite_dir, "--database-url", args.pg_url]))
    if not runs:
        sys.exit("give --sqlite-dir and/or --pg-url")
    results = []
    exported = None
    for name, store_args in runs:
        print(f"healthcode on {name}:")
        exported, rss = healthcode_run(args, store_args, os.path.join(args.work, f"trace-{name}.json"))
        results.append((name, exported["timings_ms"], rss,
                        statistics.mean(c["contacts"] for c in exported["cases"])))
    print("DuckDB, the same cases:")
    duck, rows, mismatches = duckdb_run(args, exported)
    print(f"  {rows} visits; {len(duck) - mismatches}/{len(duck)} cases found the same contacts")
    print()
    print("| engine | p50 ms | p99 ms | contacts per case | peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for name, t, rss, contacts in results:
        print(f"| healthcode on {name} | {percentile(t, .5):.1f} | {percentile(t, .99):.1f} | {contacts:.0f} | {rss / 1024:.0f} MiB |")
    print(f"| DuckDB {__import__('duckdb').__version__} | {percentile(duck, .5):.1f} | {percentile(duck, .99):.1f} | | |")
    for name, t, _, _ in results:
        print(f"ratio DuckDB / healthcode on {name}: p50 {percentile(duck, .5) / percentile(t, .5):.1f}x, "
              f"p99 {percentile(duck, .99) / percentile(t, .99):.1f}x")
    if mismatches:
        sys.exit(f"{mismatches} cases found different contacts")


if __name__ == "__main__":
    main()
