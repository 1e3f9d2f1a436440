"""The platform's Redis patterns through redis-py, against REDIS_URL (the sidecar under test).

Runs every pattern three times: with redis-py's default protocol (RESP3 from redis-py 8 on, which
sends HELLO 3 first), with protocol=2 and with protocol=3. Each run uses its own key prefix and
asserts every reply. Exits 0 only if every section passed; otherwise prints the failing section,
the expected and the seen value, and exits 1.

The patterns come from the platform's Redis guide: flow:events:{id} streams (XADD MAXLEN ~,
XREVRANGE, EXPIRE, consumer groups), flow:state:{id} caches (SETEX), lock:* (SET NX EX and
redis-py's Lock), rate_limit:* sliding windows (sorted sets in MULTI), sse:* registries (hashes
and sets), flow:updates:{id} pub/sub, and SCAN-based cleanup.
"""

import json
import sys
import threading
import time
import warnings

import redis
from redis.exceptions import LockError, LockNotOwnedError, ResponseError, WatchError

import common
from common import Failure, expect, expect_raises, expect_true, wait_until
from workload_concurrency import concurrency_sections
from workload_pubsub import pubsub_sections

# The platform calls setex(), which redis-py marks deprecated; the warning is noise here.
warnings.filterwarnings("ignore", message=".*deprecated setex.*", category=DeprecationWarning)

TIMEOUT = 10  # seconds; any single reply slower than this is a hang, reported as a failure


def connect(protocol, **options):
    """A client as the platform builds one (decoded replies), with bounded socket timeouts and
    any extra redis-py `options`."""
    kwargs = dict(decode_responses=True, socket_timeout=TIMEOUT, socket_connect_timeout=5)
    if protocol is not None:
        kwargs["protocol"] = protocol
    kwargs.update(options)
    return redis.Redis.from_url(common.redis_url(), **kwargs)


def pipelines(r, p):
    pipe = r.pipeline(transaction=True)
    pipe.set(f"{p}:counter", 10).incr(f"{p}:counter").incrby(f"{p}:counter", 5)
    pipe.get(f"{p}:counter").expire(f"{p}:counter", 60).ttl(f"{p}:counter")
    expect("MULTI pipeline results", pipe.execute(), [True, 11, 16, "16", True, 60])

    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.rpush(f"{p}:list", f"item-{i}")
    pipe.llen(f"{p}:list").lrange(f"{p}:list", 0, 2).delete(f"{p}:list")
    results = pipe.execute()
    expect("plain pipeline: 50 RPUSH counts", results[:50], list(range(1, 51)))
    expect("plain pipeline: tail", results[50:], [50, ["item-0", "item-1", "item-2"], 1])

    # A command failing inside MULTI fails alone; the others are applied.
    r.set(f"{p}:str", "text")
    pipe = r.pipeline(transaction=True)
    pipe.incr(f"{p}:n").lpush(f"{p}:str", "x").incr(f"{p}:n")
    results = pipe.execute(raise_on_error=False)
    expect("MULTI with a WRONGTYPE: first INCR", results[0], 1)
    expect_true("MULTI with a WRONGTYPE: error in place", isinstance(results[1], ResponseError),
                f"saw {results[1]!r}")
    expect_true("MULTI with a WRONGTYPE: error names WRONGTYPE", "WRONGTYPE" in str(results[1]),
                f"saw {results[1]!r}")
    expect("MULTI with a WRONGTYPE: last INCR", results[2], 2)

    # Optimistic locking: WATCH, a concurrent write, EXEC aborts.
    other = connect(r.connection_pool.connection_kwargs.get("protocol"))
    with r.pipeline(transaction=True) as pipe:
        pipe.watch(f"{p}:watched")
        pipe.multi()
        pipe.set(f"{p}:watched", "mine")
        other.set(f"{p}:watched", "theirs")
        expect_raises("EXEC after a concurrent write to a WATCHed key", WatchError, pipe.execute)
    expect("WATCHed key keeps the concurrent write", r.get(f"{p}:watched"), "theirs")
    other.close()

    def bump(pipe):
        value = int(pipe.get(f"{p}:opt") or 0)
        pipe.multi()
        pipe.set(f"{p}:opt", value + 1)

    for _ in range(3):
        r.transaction(bump, f"{p}:opt")
    expect("Redis.transaction() retries to completion", r.get(f"{p}:opt"), "3")


def event_bus(r, p):
    stream = f"{p}:flow:events:abc123"
    ids = []
    for i in range(30):
        event = {"event_type": "phase_completed", "payload": json.dumps({"phase": i}),
                 "timestamp": f"2025-01-18T12:00:{i:02d}Z", "source": "system",
                 "correlation_id": ""}
        ids.append(r.xadd(stream, event, maxlen=10000, approximate=True))
        expect("EXPIRE on the stream", r.expire(stream, 86400), True)
    expect("XLEN", r.xlen(stream), 30)
    expect_true("XADD ids increase", ids == sorted(ids, key=lambda s: tuple(map(int, s.split("-")))))
    latest = r.xrevrange(stream, "+", "-", count=10)
    expect("XREVRANGE COUNT 10: ids", [e[0] for e in latest], ids[::-1][:10])
    expect("XREVRANGE: newest payload", json.loads(latest[0][1]["payload"]), {"phase": 29})
    expect("XRANGE all", len(r.xrange(stream, "-", "+")), 30)
    ttl = r.ttl(stream)
    expect_true("TTL of the stream", 86000 < ttl <= 86400, f"saw {ttl}")

    # Exact trimming keeps the newest entries.
    r.xadd(stream, {"event_type": "trim"}, maxlen=5, approximate=False)
    expect("XADD MAXLEN 5 trims", r.xlen(stream), 5)
    expect("XADD MAXLEN 5 keeps the newest", r.xrange(stream, "-", "+")[0][0], ids[26])

    # Consumer groups, as processors read the bus.
    r.xgroup_create(f"{p}:flow:events:new", "processors", id="$", mkstream=True)
    expect("MKSTREAM makes an empty stream", r.xlen(f"{p}:flow:events:new"), 0)
    r.xgroup_create(stream, "processors", id="0")
    got = r.xreadgroup("processors", "worker-1", {stream: ">"}, count=3)
    entries = got[stream][0] if isinstance(got, dict) else got[0][1]
    expect("XREADGROUP COUNT 3", len(entries), 3)
    expect("XACK", r.xack(stream, "processors", entries[0][0], entries[1][0]), 2)
    pending = r.xpending(stream, "processors")
    expect("XPENDING after XACK", pending["pending"], 1)
    expect("XPENDING consumer", pending["consumers"][0]["name"], "worker-1")
    expect_raises("XGROUP CREATE twice", ResponseError, r.xgroup_create, stream, "processors")


def flow_state_cache(r, p):
    state = {"status": "running", "current_phase": "field_mapping", "progress_percentage": 45}
    key, meta = f"{p}:flow:state:abc123", f"{p}:flow:meta:abc123"
    expect("SETEX state", r.setex(key, 300, json.dumps(state)), True)
    expect("SETEX meta", r.setex(meta, 3600, json.dumps({"status": "running"})), True)
    expect("GET state", json.loads(r.get(key)), state)
    expect_true("TTL state", 295 <= r.ttl(key) <= 300, f"saw {r.ttl(key)}")
    expect_true("PTTL meta", 3_590_000 < r.pttl(meta) <= 3_600_000, f"saw {r.pttl(meta)}")
    expect("GET a miss", r.get(f"{p}:flow:state:missing"), None)
    expect("TTL of a missing key", r.ttl(f"{p}:flow:state:missing"), -2)

    # A short TTL really expires.
    r.setex(f"{p}:flow:state:short", 1, "soon gone")
    r.psetex(f"{p}:flow:state:shorter", 200, "sooner gone")
    expect("EXISTS two fresh keys", r.exists(f"{p}:flow:state:short", f"{p}:flow:state:shorter"), 2)
    wait_until("short TTL keys expire", 5,
               lambda: r.exists(f"{p}:flow:state:short", f"{p}:flow:state:shorter") == 0)

    # Cache metrics in hashes, invalidation of both keys at once.
    for _ in range(3):
        r.hincrby(f"{p}:cache:metrics:access", "abc123", 1)
    r.hincrby(f"{p}:cache:metrics:hits", "abc123", 1)
    expect("HINCRBY access", r.hget(f"{p}:cache:metrics:access", "abc123"), "3")
    expect("invalidate deletes both keys", r.delete(key, meta), 2)
    expect("PERSIST on a missing key", r.persist(key), False)
    r.set(f"{p}:flow:state:plain", "x", ex=30)
    expect("PERSIST drops the TTL", r.persist(f"{p}:flow:state:plain"), True)
    expect("TTL after PERSIST", r.ttl(f"{p}:flow:state:plain"), -1)


def locks(r, p):
    name = f"{p}:lock:flow:abc123"
    # The raw pattern: SET NX EX.
    expect("SET NX EX acquires", r.set(f"{name}:raw", "owner-1", nx=True, ex=30), True)
    expect("SET NX EX on a held lock", r.set(f"{name}:raw", "owner-2", nx=True, ex=30), None)
    expect("the holder is unchanged", r.get(f"{name}:raw"), "owner-1")

    lock = r.lock(name, timeout=5)
    expect("Lock.acquire", lock.acquire(blocking=False), True)
    expect("Lock.locked", lock.locked(), True)
    expect("Lock.owned", lock.owned(), True)
    expect("a second Lock does not acquire", r.lock(name, timeout=5).acquire(blocking=False), False)
    expect("Lock.extend", lock.extend(10), True)
    expect_true("TTL after extend", 10 < r.pttl(name) <= 15000, f"saw {r.pttl(name)}")
    expect("Lock.reacquire", lock.reacquire(), True)
    expect_true("TTL after reacquire", 4000 < r.pttl(name) <= 5000, f"saw {r.pttl(name)}")
    lock.release()
    expect("Lock.locked after release", lock.locked(), False)
    expect_raises("release of a lock not held", LockError, lock.release)
    # A lock whose key was taken away: the release script finds another token and refuses.
    stolen = r.lock(name, timeout=5)
    expect("acquire before theft", stolen.acquire(blocking=False), True)
    r.set(name, "someone-else", ex=5)
    expect_raises("release of a stolen lock", LockNotOwnedError, stolen.release)
    expect("the thief keeps it", r.get(name), "someone-else")
    r.delete(name)

    # Contention: one thread holds the lock; another blocks on it until it is released.
    holder = r.lock(name, timeout=10)
    expect("holder acquires", holder.acquire(blocking=False), True)
    outcome = {}

    def contend():
        waiter = r.lock(name, timeout=10, sleep=0.02)
        t0 = time.monotonic()
        outcome["got"] = waiter.acquire(blocking=True, blocking_timeout=8)
        outcome["waited"] = time.monotonic() - t0
        outcome["owned"] = waiter.owned()
        if outcome["got"]:
            waiter.release()

    thread = threading.Thread(target=contend, daemon=True)
    thread.start()
    time.sleep(0.3)  # the contention itself: the waiter must be kept waiting this long
    expect_true("waiter still blocked while held", "got" not in outcome, f"saw {outcome}")
    holder.release()
    thread.join(10)
    expect_true("waiter thread finished", not thread.is_alive())
    expect("waiter acquires after release", outcome.get("got"), True)
    expect("waiter owned the lock", outcome.get("owned"), True)
    expect_true("waiter waited for the holder", outcome["waited"] >= 0.25, f"saw {outcome}")

    # A blocking acquire gives up at its timeout.
    holder.acquire(blocking=False)
    t0 = time.monotonic()
    expect("blocking_timeout gives up", r.lock(name, timeout=5).acquire(blocking_timeout=0.3), False)
    waited = time.monotonic() - t0
    # redis-py gives up when its next retry (every 0.1 s) would pass the timeout.
    expect_true("gave up near the timeout", 0.15 <= waited < 3, f"waited {waited:.2f}s")
    holder.release()


def rate_limiter(r, p):
    key, limit, window = f"{p}:rate_limit:sliding:user456", 10, 60
    decisions = []
    for i in range(15):
        now = time.time()
        pipe = r.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", f"({now - window}")
        pipe.zadd(key, {f"request_{i}": now})
        pipe.zcard(key)
        pipe.expire(key, window)
        removed, added, count, expired = pipe.execute()
        expect(f"request {i}: ZADD", added, 1)
        expect(f"request {i}: EXPIRE", expired, True)
        decisions.append(count <= limit)
    expect("sliding window allows 10 of 15", decisions, [True] * 10 + [False] * 5)
    expect("ZCARD", r.zcard(key), 15)

    # Entries older than the window are dropped.
    old = f"{p}:rate_limit:old"
    r.zadd(old, {"a": 1000, "b": 2000, "c": time.time()})
    expect("ZREMRANGEBYSCORE drops old entries", r.zremrangebyscore(old, "-inf", "(1999.5"), 1)
    expect("ZRANGE after trim", r.zrange(old, 0, -1), ["b", "c"])
    top = r.zrevrange(old, 0, 0, withscores=True)
    expect_true("ZREVRANGE WITHSCORES", len(top) == 1 and top[0][0] == "c" and top[0][1] > 2000,
                f"saw {top}")
    expect("ZSCORE", r.zscore(old, "b"), 2000.0)
    expect("INCR counter window", [r.incr(f"{p}:rate_limit:global:api:m") for _ in range(3)],
           [1, 2, 3])


def sse_registry(r, p):
    registry = f"{p}:sse:connections"
    conns = {f"conn_{i}": json.dumps({"flow_id": "abc123" if i % 2 else "def456",
                                      "user_id": f"user{i}"}) for i in range(6)}
    expect("HSET mapping", r.hset(registry, mapping=conns), 6)
    for cid in conns:
        r.setex(f"{p}:sse:expire:{cid}", 300, cid)
        r.sadd(f"{p}:sse:flow:{json.loads(conns[cid])['flow_id']}:connections", cid)
        r.expire(f"{p}:sse:flow:{json.loads(conns[cid])['flow_id']}:connections", 300)
    expect("HGETALL", r.hgetall(registry), conns)
    expect("HGET", json.loads(r.hget(registry, "conn_1"))["flow_id"], "abc123")
    expect("HLEN", r.hlen(registry), 6)
    expect("SMEMBERS", r.smembers(f"{p}:sse:flow:abc123:connections"),
           {"conn_1", "conn_3", "conn_5"})
    expect("SCARD", r.scard(f"{p}:sse:flow:def456:connections"), 3)
    expect("HDEL", r.hdel(registry, "conn_1", "conn_nope"), 1)
    expect("SREM", r.srem(f"{p}:sse:flow:abc123:connections", "conn_1"), 1)
    expect("DEL expire key", r.delete(f"{p}:sse:expire:conn_1"), 1)
    expect("HEXISTS after HDEL", r.hexists(registry, "conn_1"), False)
    expect("HMGET", r.hmget(registry, ["conn_0", "conn_1"]), [conns["conn_0"], None])
    expect("EXISTS live connection", r.exists(f"{p}:sse:expire:conn_3"), 1)
    expect("MGET", r.mget([f"{p}:sse:expire:conn_2", f"{p}:sse:expire:conn_1"]), ["conn_2", None])


def scanning(r, p):
    keys = {f"{p}:scan:cache:{i}" for i in range(250)}
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, "v", ex=120)
    pipe.execute()
    seen = set(r.scan_iter(match=f"{p}:scan:cache:*", count=40))
    expect("scan_iter finds every key once", seen, keys)
    expect("scan_iter with _type", set(r.scan_iter(match=f"{p}:scan:*", _type="string")), keys)
    expect("KEYS pattern", set(r.keys(f"{p}:scan:cache:1*")), {k for k in keys if
                                                              k.split(":")[-1].startswith("1")})
    h = f"{p}:scan:hash"
    r.hset(h, mapping={f"f{i}": i for i in range(300)})
    expect("hscan_iter", len(dict(r.hscan_iter(h, count=50))), 300)
    s = f"{p}:scan:set"
    r.sadd(s, *range(300))
    expect("sscan_iter", set(r.sscan_iter(s, match="1*")), {str(i) for i in range(300)
                                                              if str(i).startswith("1")})
    z = f"{p}:scan:zset"
    r.zadd(z, {f"m{i}": i for i in range(300)})
    expect("zscan_iter", len(list(r.zscan_iter(z, count=50))), 300)
    # The platform's cleanup: SCAN + DEL in batches.
    batch = list(r.scan_iter(match=f"{p}:scan:*", count=100))
    deleted = r.delete(*batch)
    expect("cleanup deletes every scanned key", deleted, 253)
    expect("nothing left", list(r.scan_iter(match=f"{p}:scan:*")), [])


def basics(r, p):
    expect("PING", r.ping(), True)
    expect("ECHO", r.echo("héllo"), "héllo")
    expect("SET/GET unicode", (r.set(f"{p}:u", "ünïcødé ✓"), r.get(f"{p}:u")), (True, "ünïcødé ✓"))
    big = "x" * 1_000_000
    r.set(f"{p}:big", big)
    expect("GET 1 MB value", r.get(f"{p}:big") == big, True)
    expect("TYPE", r.type(f"{p}:big"), "string")
    info = r.info("server")
    expect_true("INFO server has redis_version", "redis_version" in info, f"saw {list(info)[:5]}")
    expect_raises("unknown command", ResponseError, r.execute_command, "NOSUCHCOMMAND")
    expect_raises("wrong arity", ResponseError, r.execute_command, "GET")


def run(label, protocol):
    r = connect(protocol)
    p = common.unique(f"e2e:{label}")
    sections = [
        ("basics", lambda: basics(r, p)),
        ("pipelines", lambda: pipelines(r, p)),
        ("event bus (streams)", lambda: event_bus(r, p)),
        ("flow-state cache (TTLs)", lambda: flow_state_cache(r, p)),
        ("locks", lambda: locks(r, p)),
        ("sliding-window rate limiter", lambda: rate_limiter(r, p)),
        ("SSE registry", lambda: sse_registry(r, p)),
        ("scan_iter", lambda: scanning(r, p)),
    ]
    sections += pubsub_sections(lambda: connect(protocol), p)
    sections += concurrency_sections(lambda: connect(protocol),
                                     lambda **options: connect(protocol, **options), p)
    common.run_sections(f"redis-py {redis.__version__} protocol={label}", sections)
    r.close()


if __name__ == "__main__":
    try:
        common.redis_url()
    except Failure as e:
        print(f"FAIL: {e}")
        sys.exit(2)
    for label, protocol in (("default", None), ("2", 2), ("3", 3)):
        run(label, protocol)
    print("platform_workload: every protocol passed")
