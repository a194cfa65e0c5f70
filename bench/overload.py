#!/usr/bin/env python3
"""Overload: scans at ten times the connections that measure the node's scan capacity, for 20 s,
while health checks, a resident's status reads and passes are timed beside them. Prints the
scan capacity first, then for the overload run: scans admitted and shed per second, and p50 and
p99 of /healthz, /readyz, status and pass. The target: reads and health checks under 50 ms p99
while scans are shed (admission control, docs/OPERATIONS.md `[admission]`).

Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server at
$HEALTHCODE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
Usage: python3 bench/overload.py [seconds, default 20] [capacity connections, default 64] [store ...]
Environment: OVERLOAD_CONNECTIONS (default ten times the capacity's connections) for the flood;
OVERLOAD_SCAN_LISTENER=1 sends the scans to the node's checkpoint listener (`scans.listen`) while
the probes use the main one.
"""
import os, re, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scans  # noqa: E402  (the same node set-up, passes and wrk scripts)

SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CONNS = int(sys.argv[2]) if len(sys.argv) > 2 else 64
PHONE = "13900000042"


def wrk_run(url, token, script=None, conns=2, threads=1, secs=SECS):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency", "--timeout", "10s",
           "-H", f"authorization: Bearer {token}", "-H", "content-type: application/json"]
    if script:
        cmd += ["-s", script]
    return subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True)


def parse(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    p50 = re.search(r"\s50%\s+(\S+)", out).group(1)
    p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
    timeouts = re.search(r"timeout (\d+)", out)
    return rps, total, bad, p50, p99, int(timeouts.group(1)) if timeouts else 0


def resident_token(base, log):
    scans.call(base, "/api/v1/auth/code", "none", {"phone": PHONE})
    for _ in range(100):
        m = re.findall(r"login code is (\d{6})", open(log, encoding="utf-8", errors="replace").read())
        if m:
            req = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
                                         data=scans.json.dumps({"phone": PHONE, "code": m[-1]}).encode(),
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req) as r:
                return scans.json.loads(r.read())["token"]
        time.sleep(0.1)
    raise SystemExit("no login code in the node's log")


def bench(store):
    work = tempfile.mkdtemp(prefix="hc-overload-")
    args = [scans.BIN, "--data-dir", work]
    db = None
    if store == "postgres":
        db = f"hc_overload_{os.getpid()}"
        subprocess.run(["psql", scans.PG, "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True)
        subprocess.run(["psql", scans.PG, "-qc", f"CREATE DATABASE {db}"], check=True)
        args += ["--database-url", scans.PG.rsplit("/", 1)[0] + "/" + db]
    env = dict(os.environ, HEALTHCODE_PASS_VALIDITY_SECONDS="3600", RUST_LOG="info",
               HEALTHCODE_LOGIN__CODES_PER_ADDRESS_PER_HOUR="1000",
               HEALTHCODE_LOGIN__LOG_CODES="true")
    env.pop("HEALTHCODE_TEST_DATABASE_URL", None)
    out = subprocess.run(args + ["accounts", "create", "--role", "admin", "--name", "bench"],
                         capture_output=True, text=True, check=True, env=env).stdout
    admin = re.search(r"token \(shown once; keep it secret\): (\S+)", out).group(1)
    port = scans.free_port()
    env["HEALTHCODE_LISTEN"] = f"127.0.0.1:{port}"
    scan_port = port
    if os.environ.get("OVERLOAD_SCAN_LISTENER"):
        scan_port = scans.free_port()
        env["HEALTHCODE_SCANS__LISTEN"] = f"127.0.0.1:{scan_port}"
    log = os.path.join(work, "node.log")
    node = subprocess.Popen(args + ["serve"], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        scans.wait_for(base + "/readyz")
        venue = scans.call(base, "/api/v1/venues", admin, {"name": "Line 1 Wulin Square", "address": "Wulin Square",
                                                           "region": "330106", "category": "metro"})["id"]
        scanner = scans.call(base, f"/api/v1/venues/{venue}/checkpoints", admin, {"name": "Gate A"})["token"]
        passes = os.path.join(work, "passes.txt")
        with open(passes, "w") as f:
            for n in range(scans.PEOPLE):
                pid = scans.call(base, "/api/v1/people", admin, {"document_kind": "resident_id",
                                 "document_number": scans.resident_id(n), "name": "张三"})["id"]
                f.write(scans.call(base, f"/api/v1/people/{pid}/pass?format=text", admin, raw=True) + "\n")
        me = scans.call(base, "/api/v1/people", admin, {"document_kind": "resident_id", "phone": PHONE,
                        "document_number": scans.resident_id(scans.PEOPLE + 1), "name": "李四"})["id"]
        resident = resident_token(base, log)
        single = os.path.join(work, "single.lua")
        open(single, "w").write(scans.LUA_SINGLE % {"passes": passes})

        scan_base = f"http://127.0.0.1:{scan_port}"
        scans.wait_for(scan_base + "/healthz", 10)
        cap = wrk_run(scan_base + "/api/v1/scans", scanner, single, conns=CONNS, threads=2, secs=10)
        capacity = parse(cap.communicate()[0])
        print(f"{store:<9} capacity ({CONNS} connections, 10 s): {(capacity[1] - capacity[2]) / 10:.0f} scans/s "
              f"(and {capacity[2] / 10:.0f}/s shed)  p50 {capacity[3]}  p99 {capacity[4]}", flush=True)
        lines_before = sum(1 for _ in open(log, encoding="utf-8", errors="replace"))

        flood_conns = int(os.environ.get("OVERLOAD_CONNECTIONS", CONNS * 10))
        scan_base = f"http://127.0.0.1:{scan_port}"
        flood = wrk_run(scan_base + "/api/v1/scans", scanner, single, conns=flood_conns, threads=2)
        time.sleep(1)  # the flood is on before the probes start
        probes = {
            "healthz": wrk_run(base + "/healthz", scanner, secs=SECS - 2),
            "readyz": wrk_run(base + "/readyz", scanner, secs=SECS - 2),
            "status": wrk_run(base + f"/api/v1/people/{me}/status", resident, secs=SECS - 2),
            "pass": wrk_run(base + f"/api/v1/people/{me}/pass?format=text", resident, secs=SECS - 2),
        }
        rps, total, shed, p50, p99, timeouts = parse(flood.communicate()[0])
        admitted = (total - shed) / SECS
        where = "scan listener" if scan_port != port else "main listener"
        print(f"{store:<9} overload ({flood_conns} connections to the {where}, {SECS} s): offered {rps:.0f} req/s, "
              f"admitted {admitted:.0f} scans/s, shed {shed / SECS:.0f}/s ({shed / max(total, 1):.0%}), "
              f"p50 {p50} p99 {p99}, timeouts {timeouts}", flush=True)
        for name, probe in probes.items():
            prps, ptotal, pbad, pp50, pp99, pto = parse(probe.communicate()[0])
            print(f"{store:<9}   {name:<8} {prps:>8.0f} req/s  p50 {pp50:>8}  p99 {pp99:>8}  "
                  f"non-2xx {pbad}  timeouts {pto}", flush=True)
        lines = sum(1 for _ in open(log, encoding="utf-8", errors="replace")) - lines_before
        metrics = scans.call(base, "/metrics", admin, raw=True)
        counted = re.findall(r'healthcode_requests_shed_total\{class="scan"\} (\d+)', metrics)
        print(f"{store:<9}   log lines during the overload: {lines}; shed scans counted in /metrics: "
              f"{counted[0] if counted else 0}", flush=True)
    finally:
        node.terminate()
        node.wait()
        if db:
            subprocess.run(["psql", scans.PG, "-qc", f"DROP DATABASE IF EXISTS {db}"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    scans.build()
    for store in sys.argv[3:] or ["sqlite", "postgres"]:
        bench(store)
