#!/usr/bin/env python3
"""Publishing a risk area on a simulated city, and re-deriving everyone (docs/BENCHMARKS.md).

Serves the store with a release build, proposes the busiest venue of the last day as a
high-risk area for the last three days (which finds everyone who was there), has a second
official approve it (which records their facts, re-derives and announces their colours), then
stops the node and runs `healthcode reassess` over everyone, under /usr/bin/time.

    python3 bench/reassess.py --data-dir /work/bench-data/sim1m-sqlite --window-end 2026-11-22T16:00:00Z
    python3 bench/reassess.py --data-dir /work/bench-data/sim1m-pg \
        --database-url postgres://postgres@127.0.0.1:5432/sim1m --window-end 2026-11-22T16:00:00Z

It changes the store (facts, colours, messages): run it on a copy you can throw away.
HEALTHCODE_BIN runs another build (an earlier commit's, for a before and after) instead.
"""

import argparse
import datetime
import json
import os
import re
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HEALTHCODE_BIN") or os.path.join(ROOT, "target", "release", "healthcode")


def call(base, path, token, body=None):
    req = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    req.add_header("authorization", "Bearer " + token)
    data = None
    if body is not None:
        req.add_header("content-type", "application/json")
        data = json.dumps(body).encode()
    with urllib.request.urlopen(req, data, timeout=3600) as resp:
        return json.loads(resp.read())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--database-url")
    p.add_argument("--window-end", required=True)
    args = p.parse_args()
    store = ["--data-dir", args.data_dir] + (["--database-url", args.database_url] if args.database_url else [])

    def account(name):
        out = subprocess.run([BIN, *store, "accounts", "create", "--role", "health_official", "--name", name],
                             capture_output=True, text=True, check=True).stdout
        return re.search(r"token \(shown once; keep it secret\): (\S+)", out).group(1)

    first, second = account("bench proposer"), account("bench approver")
    end = datetime.datetime.fromisoformat(args.window_end.replace("Z", "+00:00"))
    end_ms = int(end.timestamp() * 1000)
    day_ms = 86_400_000
    sql = (f"SELECT venue_id FROM visits WHERE at >= {end_ms - day_ms} AND at < {end_ms} "
           "GROUP BY venue_id ORDER BY count(*) DESC LIMIT 1")
    if args.database_url:
        venue = subprocess.run(["psql", args.database_url, "-tAc", sql], capture_output=True, text=True,
                               check=True).stdout.strip()
    else:
        venue = subprocess.run(["sqlite3", os.path.join(args.data_dir, "healthcode.db"), sql],
                               capture_output=True, text=True, check=True).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HEALTHCODE_LISTEN=f"127.0.0.1:{port}", RUST_LOG="warn",
               HEALTHCODE_NOTIFICATIONS__SENDER="none")
    node = subprocess.Popen([BIN, *store, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        start = (end - datetime.timedelta(days=3)).isoformat().replace("+00:00", "Z")
        t0 = time.time()
        proposal = call(base, "/api/v1/risk-areas", first, {
            "region": "330100", "venue_id": venue, "name": "bench market", "level": "high",
            "starts_at": start, "legal_basis": "bench"})
        t1 = time.time()
        batch = proposal["batch"]["id"]
        call(base, f"/api/v1/batches/{batch}/approve", second, {})
        t2 = time.time()
        affected = proposal["risk_area"]["affected"]
        print(f"risk area at venue {venue}: {affected} people affected")
        print(f"  proposed (finding them) in {t1 - t0:.2f} s")
        print(f"  approved (their facts recorded, colours re-derived and announced) in {t2 - t1:.2f} s "
              f"({affected / max(t2 - t1, 1e-9):.0f} people/s)")
    finally:
        node.terminate()
        node.wait()
    out = subprocess.run(["/usr/bin/time", "-v", BIN, *store, "reassess"], capture_output=True, text=True, check=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    print("healthcode reassess: " + out.stdout.strip() + f"; peak RSS {rss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
