#!/usr/bin/env python3
"""Bounded soak of the sidecar in front of a redis-server that is killed and restarted.

Loopback only. Starts its own redis-server (free port, its own temp dir, appendonly yes,
appendfsync always so redis itself loses nothing on SIGKILL) and the sidecar's release binary
in front of it (free ports, its own journal and data dirs). N client threads run the
platform's traffic mix (SET with EX, GET, INCR, HSET/HGETALL, LPUSH/BRPOP queue, EXPIRE, DEL)
for --duration seconds, while redis-server gets SIGKILL every --kill-every seconds and is
restarted on the same port and data dir --down seconds later.

Every acknowledged write has a checkable effect, so at the end, once the sidecar reports it is
serving from the upstream again with an empty journal, everything is read back DIRECTLY from
redis-server and lost writes are counted (must be 0):
- SET soak:{c}:s:{n} v{n} EX 3600: the key holds v{n} (unless an acknowledged DEL removed it);
- INCR soak:{c}:ctr: the final value is at least the number of acknowledged INCRs;
- HSET soak:{c}:h f{n} {n}: the field holds {n};
- LPUSH soak:{c}:q i{n}: the item is in the list or was returned by a BRPOP;
- EXPIRE key 7200 answered 1: the key's TTL is above 3600 s; DEL key answered 1: it is gone.
A DEL answered 0 (during an outage, for a key written before it) deleted nothing as far as the
client was told; whether such keys are still upstream afterwards is reported apart.
A command answered with an error (or a dropped connection) was not acknowledged: its effect is
unknown, it is counted by kind and never counted as lost.

Reports commands done, errors by kind, p50/p99 latency per minute, the sidecar's RSS every
5 s (/proc/PID/status), lost writes; exits 1 if any write was lost or the sidecar hung.
Example: python3 benches/soak.py --duration 300 --clients 200 --kill-every 60
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYDEPS = REPO / "target" / "pydeps"


def import_redis():
    """redis-py from the machine, else installed once into target/pydeps (as the tests do)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(PYDEPS))
        try:
            import redis  # noqa: F401
        except ImportError:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PYDEPS), "redis"],
                check=True,
            )
    import redis

    return redis


redis = import_redis()
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, timeout, cond, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


class Upstream:
    """A redis-server on a fixed loopback port and data dir, killed and restarted at will."""

    def __init__(self, port, workdir):
        self.port, self.dir, self.proc = port, workdir, None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        wait_until("redis-server to load its data", 30, lambda: client.ping())

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


class Stats:
    """Latencies per minute, errors by kind, commands done; shared by the client threads."""

    def __init__(self, start):
        self.start, self.lock = start, threading.Lock()
        self.lat = defaultdict(list)
        self.errors = Counter()
        self.done = 0
        self.misses = 0

    def ok(self, began, took):
        with self.lock:
            self.done += 1
            self.lat[int((began - self.start) // 60)].append(took)

    def miss(self):
        with self.lock:
            self.misses += 1

    def error(self, cmd, exc):
        kind = f"{cmd}: {type(exc).__name__}: {str(exc)[:60]}"
        with self.lock:
            self.errors[kind] += 1


class Client(threading.Thread):
    """One application connection; remembers what was acknowledged so it can be checked."""

    MIX = [("SET", 30), ("GET", 22), ("INCR", 15), ("HSET", 10), ("HGETALL", 5),
           ("LPUSH", 7), ("BRPOP", 6), ("EXPIRE", 3), ("DEL", 2)]

    def __init__(self, cid, port, stats, stop):
        super().__init__(daemon=True)
        self.cid, self.stats, self.stop = cid, stats, stop
        self.r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=15,
                             socket_connect_timeout=5, retry=Retry(NoBackoff(), 0))
        self.rng = random.Random(cid)
        self.n = 0
        self.values = {}         # key -> value acknowledged (None: acknowledged DEL)
        self.unknown = set()     # keys whose last write failed: effect unknown
        self.ttl_long = set()    # keys with an acknowledged EXPIRE 7200
        self.incr_acked = self.incr_tried = 0
        self.fields = {}         # field -> value acknowledged
        self.pushed, self.popped = set(), set()
        self.push_unknown, self.pop_failed = set(), 0
        self.wrong_reads = 0
        self.del_zero = set()    # keys whose DEL answered 0

    def key(self, n):
        return f"soak:{self.cid}:s:{n}"

    def run(self):
        names = [m for m, _ in self.MIX]
        weights = [w for _, w in self.MIX]
        while not self.stop.is_set():
            cmd = self.rng.choices(names, weights)[0]
            self.n += 1
            began = time.monotonic()
            try:
                self.do(cmd, self.n)
                self.stats.ok(began, time.monotonic() - began)
            except (redis.RedisError, OSError) as exc:
                self.stats.error(cmd, exc)
                self.failed(cmd, self.n)
                time.sleep(0.05)

    def live_key(self):
        live = [k for k, v in self.values.items() if v is not None and k not in self.ttl_long]
        return self.rng.choice(live) if live else None

    def do(self, cmd, n):
        self.pending = None
        if cmd == "SET":
            key = self.pending = self.key(n)
            assert self.r.set(key, f"v{n}", ex=3600)
            self.values[key] = f"v{n}"
        elif cmd == "GET":
            key = self.live_key()
            if key:
                got = self.r.get(key)
                if got is None:
                    self.stats.miss()  # expected during an outage: the store has no copy
                elif got.decode() != self.values[key]:
                    self.wrong_reads += 1
        elif cmd == "INCR":
            self.incr_tried += 1
            self.r.incr(f"soak:{self.cid}:ctr")
            self.incr_acked += 1
        elif cmd == "HSET":
            self.pending = f"f{n}"
            self.r.hset(f"soak:{self.cid}:h", f"f{n}", str(n))
            self.fields[f"f{n}"] = str(n)
        elif cmd == "HGETALL":
            self.r.hgetall(f"soak:{self.cid}:h")
        elif cmd == "LPUSH":
            self.pending = f"i{n}"
            self.r.lpush(f"soak:{self.cid}:q", f"i{n}")
            self.pushed.add(f"i{n}")
        elif cmd == "BRPOP":
            if len(self.pushed) > len(self.popped):
                got = self.r.brpop([f"soak:{self.cid}:q"], timeout=1)
                if got is not None:
                    self.popped.add(got[1].decode())
        elif cmd == "EXPIRE":
            key = self.pending = self.live_key()
            if key and self.r.expire(key, 7200):
                self.ttl_long.add(key)
        elif cmd == "DEL":
            key = self.pending = self.live_key()
            if key:
                if self.r.delete(key):
                    self.values[key] = None
                else:
                    # Reply 0: nothing deleted (during an outage the fallback store does not
                    # have keys written before it). Not an acknowledged delete; watched apart.
                    self.del_zero.add(key)
                    del self.values[key]

    def failed(self, cmd, n):
        """A write that got an error: its effect is unknown, so it is not checked."""
        if cmd == "BRPOP":
            self.pop_failed += 1
        elif cmd == "LPUSH":
            self.push_unknown.add(self.pending)
        elif cmd == "HSET" and self.pending:
            self.fields.pop(self.pending, None)
            self.unknown.add(("field", self.pending))
        elif cmd in ("SET", "EXPIRE", "DEL") and self.pending:
            self.unknown.add(self.pending)

    def verify(self, direct):
        """Lost writes, read from redis-server itself; each kind counted separately."""
        lost = Counter({kind: 0 for kind in ("SET", "INCR", "HSET", "LPUSH", "EXPIRE", "DEL")})
        pipe = direct.pipeline(transaction=False)
        keys = [k for k in self.values if k not in self.unknown]
        for k in keys:
            pipe.get(k)
            pipe.ttl(k)
        pipe.get(f"soak:{self.cid}:ctr")
        pipe.hgetall(f"soak:{self.cid}:h")
        pipe.lrange(f"soak:{self.cid}:q", 0, -1)
        zero = sorted(self.del_zero - self.unknown)
        for k in zero:
            pipe.exists(k)
        out = pipe.execute()
        survived = sum(out[len(out) - len(zero):]) if zero else 0
        out = out[: len(out) - len(zero)]
        for i, k in enumerate(keys):
            got, ttl = out[2 * i], out[2 * i + 1]
            want = self.values[k]
            if want is None:
                lost["DEL"] += got is not None
            elif got is None or got.decode() != want:
                lost["SET"] += 1
            elif k in self.ttl_long and ttl <= 3600:
                lost["EXPIRE"] += 1
        ctr = int(out[-3] or 0)
        lost["INCR"] += max(0, self.incr_acked - ctr)
        h = {k.decode(): v.decode() for k, v in out[-2].items()}
        lost["HSET"] += sum(1 for f, v in self.fields.items() if h.get(f) != v)
        queue = [x.decode() for x in out[-1]]
        missing = self.pushed - set(queue) - self.popped
        # A BRPOP that failed may have taken an item without telling us which.
        lost["LPUSH"] += max(0, len(missing) - self.pop_failed)
        extra_incr = max(0, ctr - self.incr_tried)
        dup = len(queue) - len(set(queue)) + len(set(queue) & self.popped)
        return lost, {"incr_beyond_tried": extra_incr, "queue_duplicates": dup,
                      "wrong_reads": self.wrong_reads, "del_answered_0": len(zero),
                      "del_answered_0_key_still_upstream": survived}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def health(http_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health/redis", timeout=5) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def safe_health(http_port):
    try:
        return health(http_port)
    except Exception as e:  # a report, not a crash, if the sidecar stopped answering
        return {"error": repr(e)}


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=300, help="seconds of traffic")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--kill-every", type=float, default=60, help="seconds between SIGKILLs")
    ap.add_argument("--down", type=float, default=3, help="seconds redis stays down")
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "redis-sidecar"))
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release")
    ap.add_argument("--json", help="also write the report to this file")
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)
    tmp = tempfile.TemporaryDirectory(prefix="soak-")
    rdir, jdir, ddir = (os.path.join(tmp.name, d) for d in ("redis", "journal", "data"))
    for d in (rdir, jdir, ddir):
        os.makedirs(d)
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sidecar binary at {binary}: run cargo build --release or pass --binary")
    up = Upstream(free_port(), rdir)
    up.start()
    port, http_port = free_port(), free_port()
    sidecar = subprocess.Popen(
        [binary, "--listen", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http_port}",
         "--upstream", f"redis://127.0.0.1:{up.port}", "--journal-dir", jdir, "--data-dir", ddir,
         "--config", os.devnull],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp.name, "sidecar.log"), "w"),
        cwd=tmp.name)
    report = {"command": " ".join(sys.argv), "clients": args.clients, "duration_s": args.duration}
    try:
        wait_until("the sidecar to serve", 30,
                   lambda: redis.Redis(port=port, socket_timeout=2).ping())
        report.update(run(args, up, sidecar, port, http_port))
    finally:
        sidecar.terminate()
        try:
            sidecar.wait(10)
        except subprocess.TimeoutExpired:
            sidecar.kill()
        if up.proc.poll() is None:
            up.proc.terminate()
            up.proc.wait()
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    sys.exit(0 if report.get("lost_writes_total") == 0 and not report.get("hang") else 1)


def run(args, up, sidecar, port, http_port):
    start = time.monotonic()
    stats, stop = Stats(start), threading.Event()
    clients = [Client(c, port, stats, stop) for c in range(args.clients)]
    for c in clients:
        c.start()
    rss, kills, events = [], 0, []
    next_kill, next_rss = start + args.kill_every, start
    end = start + args.duration
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_rss:
            rss.append((round(now - start), rss_kib(sidecar.pid)))
            next_rss += 5
        if now >= next_kill and now + args.down < end:
            up.kill()
            kills += 1
            events.append((round(now - start, 1), "redis killed"))
            time.sleep(args.down)
            up.start()
            events.append((round(time.monotonic() - start, 1), "redis back"))
            next_kill += args.kill_every
        time.sleep(0.2)
    stop.set()
    hang = False
    for c in clients:
        c.join(30)
        hang |= c.is_alive()
    rss.append((round(time.monotonic() - start), rss_kib(sidecar.pid)))
    # Wait for the sidecar to replay its journal and serve from the upstream again.
    settle = time.monotonic()
    try:
        wait_until("the sidecar to be back on the upstream with an empty journal", 120,
                   lambda: (lambda h: h.get("state") == "upstream"
                            and h.get("journal_bytes") == 0)(health(http_port)), every=0.5)
    except RuntimeError:
        hang = True
    settled_s = round(time.monotonic() - settle, 1)
    direct = up.client()
    lost, extra = Counter(), Counter()
    for c in clients:
        l, e = c.verify(direct)
        lost.update(l)
        extra.update(e)
    per_minute = {f"minute {m + 1}": {"commands": len(v), "p50_ms": round(pct(v, 50) * 1e3, 2),
                                      "p99_ms": round(pct(v, 99) * 1e3, 2)}
                  for m, v in sorted(stats.lat.items())}
    return {
        "commands_ok": stats.done, "errors_total": sum(stats.errors.values()),
        "errors_by_kind": dict(stats.errors.most_common()), "get_misses": stats.misses,
        "latency_per_minute": per_minute, "redis_kills": kills, "events": events,
        "sidecar_rss_kib_every_5s": rss, "settle_seconds": settled_s,
        "final_health": safe_health(http_port), "lost_writes": dict(lost),
        "lost_writes_total": sum(lost.values()), "other_checks": dict(extra), "hang": hang,
    }


if __name__ == "__main__":
    main()
