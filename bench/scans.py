#!/usr/bin/env python3
"""Checkpoint scans per second end to end over HTTP on loopback, with p50 and p99, next to the
same node's trivial /healthz in the same run (the ratio), single scans and offline batches, on
SQLite and PostgreSQL. Every scan is a distinct scan_id, so every one is verified, judged and
written (group commit); passes rotate over 200 people.

Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server at
$HEALTHCODE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
Usage: python3 bench/scans.py [seconds per run, default 10] [connections, default 64] [stores]
HEALTHCODE_BIN runs another build (an earlier commit's, for a before and after) instead.
"""
import json, os, re, resource, shutil, socket, subprocess, sys, tempfile, time, urllib.request

SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
CONNS = int(sys.argv[2]) if len(sys.argv) > 2 else 64
PG = os.environ.get("HEALTHCODE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HEALTHCODE_BIN") or os.path.join(ROOT, "target", "release", "healthcode")
BATCH = 1000
PEOPLE = 200

# Each wrk thread reads the passes and numbers its scans with its own prefix.
LUA_PRELUDE = r"""
local passes, n, id = {}, 0, 0
for line in io.lines("%(passes)s") do passes[#passes + 1] = line end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) id = tid end
local function scan(tag)
  n = n + 1
  return '{"scan_id":"' .. tag .. id .. '-' .. n .. '","text":"' .. passes[n %% #passes + 1] .. '"}'
end
"""

LUA_SINGLE = LUA_PRELUDE + r"""
function request()
  return wrk.format("POST", "/api/v1/scans", nil, scan("t"))
end
"""

LUA_BATCH = LUA_PRELUDE + r"""
function request()
  local items = {}
  for i = 1, %(batch)d do items[i] = scan("b") end
  return wrk.format("POST", "/api/v1/scans/batch", nil, '{"scans":[' .. table.concat(items, ",") .. ']}')
end
"""


def resident_id(n):
    body = "330106199001%02d%03d" % (n % 28 + 1, n % 1000)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(body, weights))
    return body + "10X98765432"[total % 11]


def call(base, path, token, body=None, raw=False):
    req = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    req.add_header("authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, data) as r:
        text = r.read().decode()
        return text if raw else json.loads(text)


def ticks(node):
    """CPU seconds so far: the node, the whole machine (user, system, irq), this script's children."""
    with open(f"/proc/{node}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((int(fields[11]) + int(fields[12])) / tick, (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) / tick,
            children.ru_utime + children.ru_stime)


def wrk(label, store, url, token, script=None, conns=CONNS, per_request=1, node=None):
    before = ticks(node) if node else None
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{SECS}s", "--latency", "-H", f"authorization: Bearer {token}",
           "-H", "content-type: application/json"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"\s50%\s+(\S+)", out).group(1)
    p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    print(f"{store:<9} {label:<14} {rps:>10.0f} req/s  {rps * per_request:>10.0f} scans/s  p50 {p50:>8}  "
          f"p99 {p99:>8}  non-2xx {non2xx.group(1) if non2xx else 0}" + (f"  socket errors: {errors.group(1)}" if errors else ""),
          flush=True)
    if node:
        # Where the machine's time per request went (what a node needs with the database
        # elsewhere): the node, wrk, and the rest (the database's processes and the kernel's
        # network work).
        own, machine, load = [(b - a) * 1e6 / (rps * SECS) for a, b in zip(before, ticks(node))]
        print("          cpu per request: node %.0f us, load generator %.0f us, rest %.0f us (machine %.0f us)"
              % (own, load, machine - own - load, machine), flush=True)
    return rps


def wait_for(url, seconds=60):
    """Waits until `url` answers (a node starting)."""
    for _ in range(seconds * 10):
        try:
            urllib.request.urlopen(url)
            return
        except OSError:
            time.sleep(0.1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(store):
    work = tempfile.mkdtemp(prefix="hc-bench-")
    args = [BIN, "--data-dir", work]
    db = None
    if store == "postgres":
        db = f"hc_bench_{os.getpid()}"
        subprocess.run(["psql", PG, "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True)
        subprocess.run(["psql", PG, "-qc", f"CREATE DATABASE {db}"], check=True)
        args += ["--database-url", PG.rsplit("/", 1)[0] + "/" + db]
    env = dict(os.environ, HEALTHCODE_PASS_VALIDITY_SECONDS="3600", RUST_LOG="warn")
    env.pop("HEALTHCODE_TEST_DATABASE_URL", None)
    out = subprocess.run(args + ["accounts", "create", "--role", "admin", "--name", "bench"],
                         capture_output=True, text=True, check=True, env=env).stdout
    admin = re.search(r"token \(shown once; keep it secret\): (\S+)", out).group(1)
    port = free_port()
    env["HEALTHCODE_LISTEN"] = f"127.0.0.1:{port}"
    node = subprocess.Popen(args + ["serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/readyz")
        venue = call(base, "/api/v1/venues", admin, {"name": "Line 1 Wulin Square", "address": "Wulin Square",
                                                     "region": "330106", "category": "metro"})["id"]
        scanner = call(base, f"/api/v1/venues/{venue}/checkpoints", admin, {"name": "Gate A"})["token"]
        passes = os.path.join(work, "passes.txt")
        with open(passes, "w") as f:
            for n in range(PEOPLE):
                pid = call(base, "/api/v1/people", admin, {"document_kind": "resident_id",
                                                           "document_number": resident_id(n), "name": "张三"})["id"]
                f.write(call(base, f"/api/v1/people/{pid}/pass?format=text", admin, raw=True) + "\n")
        single = os.path.join(work, "single.lua")
        batch = os.path.join(work, "batch.lua")
        open(single, "w").write(LUA_SINGLE % {"passes": passes})
        open(batch, "w").write(LUA_BATCH % {"passes": passes, "batch": BATCH})
        floor = wrk("healthz", store, base + "/healthz", scanner, node=node.pid)
        scans = wrk("scan", store, base + "/api/v1/scans", scanner, single, node=node.pid)
        wrk(f"batch x{BATCH}", store, base + "/api/v1/scans/batch", scanner, batch, conns=4, per_request=BATCH)
        print(f"{store:<9} scan/healthz ratio: {scans / floor:.3f}", flush=True)
    finally:
        node.terminate()
        node.wait()
        if db:
            subprocess.run(["psql", PG, "-qc", f"DROP DATABASE IF EXISTS {db}"])
        shutil.rmtree(work, ignore_errors=True)


def build():
    """Builds the release binary, unless HEALTHCODE_BIN names another build to run."""
    if not os.environ.get("HEALTHCODE_BIN"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "healthcode"], cwd=ROOT, check=True)


if __name__ == "__main__":
    build()
    for store in sys.argv[3:] or ["sqlite", "postgres"]:
        bench(store)
