#!/usr/bin/env python3
"""End-to-end throughput: redis-benchmark against redis-server directly, through twemproxy
(nutcracker), and through the sidecar: `sidecar` forwards with no policies configured (the
metrics layer is always on), `policies` forwards with every layer on (a tenant, the budget, the
slow log, compression), `embedded` serves from its embedded store (persisting only with
`--aof`, which turns on redis-server's append-only file too, so the two always compare like for like). Also the CPU time each
target's own process spent per 100,000 commands.

Targets are run in interleaved rounds (the order rotates every round) so that drift on this
shared 2-core machine hits all of them alike; the report gives medians and ratios to direct.

    python3 benches/e2e.py                      # defaults: 5 rounds, SET/GET, -c 50, -P 1 and 16
    python3 benches/e2e.py --rounds 3 --clients 200 --pipelines 16
    python3 benches/e2e.py --targets direct,sidecar,policies --tests set --datasize 102400

Needs: redis-server, redis-benchmark (apt-get install redis-server redis-tools), nutcracker
(apt-get install nutcracker; skipped with a note if missing). Everything listens on 127.0.0.1.
"""
import argparse
import csv
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=20.0):
    """Polls PING until the server on `port` answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered PING on port {port}")


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port)
    return proc


# The `policies` target: every layer on at once, as issue 7 asks (a tenant, the budget, the slow
# log, compression of values over 1 KiB: redis-benchmark's 3-byte values pass under it).
POLICIES = """
[[tenants]]
user = "bench"
password = "bench-secret"
prefix = "ws:bench:"

[budget]
limit = 1000000000000
window = "24h"

[slowlog]
threshold_ms = 100

[compression]
enabled = true
threshold_bytes = 1024
"""
AUTH = {"policies": ["--user", "bench", "-a", "bench-secret"]}


def bench(port, tests, requests, clients, pipeline, extra=(), datasize=None):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", tests, "-n", str(requests), "-c", str(clients),
         "-P", str(pipeline), "-r", "100000", "--csv"] + list(extra)
        + (["-d", str(datasize)] if datasize else []),
        check=True, capture_output=True, text=True).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if row and row[0] != "test":
            rows[row[0]] = {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6])}
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--tests", default="set,get")
    ap.add_argument("--targets", default="direct,twemproxy,sidecar,policies,embedded")
    ap.add_argument("--datasize", type=int, default=0, help="value size in bytes (redis-benchmark -d)")
    ap.add_argument("--sidecar-args", default="", help="extra flags for the forwarding sidecar")
    ap.add_argument("--aof", action="store_true",
                    help="persistence on both sides: redis-server with appendonly yes (everysec) and the "
                         "embedded store with its append-only file (its default); without it, neither persists")
    ap.add_argument("--baseline-binary", default="",
                    help="another redis-sidecar build to run as target 'baseline' (forwarding), side by side")
    ap.add_argument("--config", default="/dev/null",
                    help="config file for the forwarding sidecar (e.g. one with every policy on)")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "redis-sidecar")
    tmp = tempfile.mkdtemp(prefix="sidecar-e2e-")
    procs, ports = [], {}
    try:
        ports["direct"] = free_port()
        appendonly = "yes" if args.aof else "no"
        procs.append(start(["redis-server", "--port", str(ports["direct"]), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", appendonly, "--appendfsync", "everysec",
                            "--dir", tmp], ports["direct"]))
        pids = {"direct": procs[-1].pid}
        targets = args.targets.split(",")
        if "twemproxy" in targets:
            if shutil.which("nutcracker"):
                ports["twemproxy"] = free_port()
                conf = os.path.join(tmp, "nutcracker.yml")
                with open(conf, "w") as f:
                    f.write(f"bench:\n  listen: 127.0.0.1:{ports['twemproxy']}\n  redis: true\n"
                            f"  hash: fnv1a_64\n  distribution: ketama\n  auto_eject_hosts: false\n"
                            f"  servers:\n   - 127.0.0.1:{ports['direct']}:1\n")
                procs.append(subprocess.Popen(["nutcracker", "-c", conf, "-s", str(free_port())],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                pids["twemproxy"] = procs[-1].pid
                deadline = time.time() + 10
                while True:  # twemproxy forwards PING only when redis: true; poll a SET instead
                    try:
                        with socket.create_connection(("127.0.0.1", ports["twemproxy"]), timeout=1) as s:
                            s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\ny\r\n")
                            if s.recv(16).startswith(b"+OK"):
                                break
                    except OSError:
                        pass
                    if time.time() > deadline:
                        raise RuntimeError("twemproxy did not start")
                    time.sleep(0.05)
            else:
                print("note: nutcracker not installed (apt-get install nutcracker); twemproxy skipped")
                targets.remove("twemproxy")
        policies = os.path.join(tmp, "policies.toml")
        with open(policies, "w") as f:
            f.write(POLICIES)
        forwarding = [("sidecar", binary, args.config), ("policies", binary, policies)]
        if args.baseline_binary:
            if "baseline" not in targets:
                targets.append("baseline")
            forwarding.append(("baseline", args.baseline_binary, "/dev/null"))
        for name, exe, config in forwarding:
            if name not in targets:
                continue
            ports[name] = free_port()
            procs.append(start([exe, "--listen", f"127.0.0.1:{ports[name]}", "--http", f"127.0.0.1:{free_port()}",
                                "--upstream", f"redis://127.0.0.1:{ports['direct']}", "--config", config]
                               + (["--journal-dir", os.path.join(tmp, f"journal-{name}")] + args.sidecar_args.split()
                                  if name != "baseline" else []), ports[name]))
            pids[name] = procs[-1].pid
        if "embedded" in targets:
            ports["embedded"] = free_port()
            # Like for like with the direct redis-server: both persist (--aof) or neither does.
            store = os.path.join(tmp, "embedded.toml")
            with open(store, "w") as f:
                f.write(f"[store]\nappendonly = {'true' if args.aof else 'false'}\n")
            procs.append(start([binary, "--listen", f"127.0.0.1:{ports['embedded']}", "--http", f"127.0.0.1:{free_port()}",
                                "--config", store, "--data-dir", os.path.join(tmp, "embedded-data")],
                               ports["embedded"]))
            pids["embedded"] = procs[-1].pid

        pipelines = [int(p) for p in args.pipelines.split(",")]
        results = {}  # (target, pipeline, test) -> [rps...]
        cpu = {}  # (target, pipeline) -> CPU seconds of the target's own process, all rounds
        for rnd in range(args.rounds):
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
            for p in pipelines:
                for t in order:
                    before = cpu_seconds(pids[t])
                    rows = bench(ports[t], args.tests, args.requests, args.clients, p, AUTH.get(t, ()), args.datasize)
                    cpu[(t, p)] = cpu.get((t, p), 0.0) + cpu_seconds(pids[t]) - before
                    for test, row in rows.items():
                        results.setdefault((t, p, test), []).append(row)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

        print(f"\nredis-benchmark -t {args.tests} -n {args.requests} -c {args.clients} -r 100000"
              f"{f' -d {args.datasize}' if args.datasize else ''}, "
              f"{args.rounds} interleaved rounds, medians\n")
        # "ratio to direct" compares the medians; "per round" compares each round's run with the
        # direct run of the same round (minutes apart at most, so drifts of the shared machine's
        # speed cancel): the median of those ratios, and their range.
        print("| target | -P | test | ops/s | ratio to direct | per round: median (range) | p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|---|")
        for p in pipelines:
            for test in sorted({k[2] for k in results}):
                direct = results[("direct", p, test)]
                base = statistics.median(r["rps"] for r in direct)
                for t in targets:
                    rows = results.get((t, p, test))
                    if not rows:
                        continue
                    rps = statistics.median(r["rps"] for r in rows)
                    p50 = statistics.median(r["p50"] for r in rows)
                    p99 = statistics.median(r["p99"] for r in rows)
                    ratios = [r["rps"] / d["rps"] for r, d in zip(rows, direct)]
                    per_round = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                    print(f"| {t} | {p} | {test} | {rps:,.0f} | {rps / base:.2f} | {per_round} "
                          f"| {p50:.3f} | {p99:.3f} |")
        # The proxies' figure is their own process only (the redis-server behind them is extra).
        commands = args.rounds * args.requests * len(args.tests.split(","))
        print("\n| target | -P | CPU ms per 100,000 commands (own process) |")
        print("|---|---|---|")
        for p in pipelines:
            for t in targets:
                if (t, p) in cpu:
                    print(f"| {t} | {p} | {cpu[(t, p)] * 1000 * 100000 / commands:.0f} |")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
