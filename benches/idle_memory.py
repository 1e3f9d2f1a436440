#!/usr/bin/env python3
"""Memory per idle client connection: RSS of a server before and after N idle connections that
each sent one PING (so every per-connection structure exists), for redis-server and the sidecar.

    python3 benches/idle_memory.py            # 10,000 connections
    python3 benches/idle_memory.py --connections 2000
"""
import argparse, os, resource, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_ping(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not answer")


def measure(name, cmd, port, n):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(port)
        time.sleep(0.5)  # let start-up allocations settle before the baseline reading
        before = rss_kib(proc.pid)
        conns = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"PING\r\n")
            conns.append(s)
        for s in conns:
            assert s.recv(16).startswith(b"+PONG")
        # Connections give back their buffers after 1 s of quiet (connection/limits.rs).
        time.sleep(2.5)
        after = rss_kib(proc.pid)
        per = (after - before) * 1024 / n
        print(f"| {name} | {n} | {before} | {after} | {per / 1024:.2f} |")
        for s in conns:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections * 3 + 1000), hard))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "redis-sidecar")
    print("| server | idle connections | RSS before (KiB) | RSS after (KiB) | KiB per connection |")
    print("|---|---|---|---|---|")
    tmp = tempfile.mkdtemp()
    p = free_port()
    measure("redis-server 7.0", ["redis-server", "--port", str(p), "--save", "", "--maxclients", str(args.connections + 100),
                                 "--dir", tmp], p, args.connections)
    p = free_port()
    measure("redis-sidecar (embedded store)", [binary, "--listen", f"127.0.0.1:{p}", "--http", "127.0.0.1:0",
                                               "--config", "/dev/null", "--data-dir", os.path.join(tmp, "data")],
            p, args.connections)
    upstream_port = free_port()
    upstream = subprocess.Popen(["redis-server", "--port", str(upstream_port), "--save", "", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(upstream_port)
        p = free_port()
        measure("redis-sidecar (forwarding)", [binary, "--listen", f"127.0.0.1:{p}", "--http", "127.0.0.1:0",
                                               "--config", "/dev/null", "--upstream", f"redis://127.0.0.1:{upstream_port}",
                                               "--journal-dir", os.path.join(tmp, "journal")],
                p, args.connections)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


if __name__ == "__main__":
    main()
