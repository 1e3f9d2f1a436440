"""Blocking reads, concurrent clients and the platform's connection options, for the platform
workload (see platform_workload.py).

Celery's workers wait in BRPOP, SSE handlers tail flow:events:{id} with XREAD BLOCK, and a FastAPI
process shares one connection pool between many concurrent requests: every reply must reach the
caller that asked, while other callers block or pipeline on the same sidecar.
"""

import threading
import time

from common import Failure, expect, expect_true

TIMEOUT = 10


def in_background(fn):
    """Runs `fn` in a thread; the returned join() gives its result or raises its exception."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except Exception as e:  # noqa: BLE001 - re-raised in join()
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join():
        thread.join(TIMEOUT + 5)
        if thread.is_alive():
            raise Failure("a background call did not return in time")
        if "error" in box:
            raise box["error"]
        return box["value"]

    return join


def blocking_reads(connect, p):
    r, waiter = connect(), connect()
    # Celery's worker: BRPOP over several queues, woken by a push to the second one.
    t0 = time.monotonic()
    join = in_background(lambda: waiter.brpop([f"{p}:q:priority", f"{p}:q:default"], timeout=5))
    time.sleep(0.2)  # let the waiter block first: the wake-up is what is tested
    expect("LPUSH to the second queue", r.lpush(f"{p}:q:default", "task-1"), 1)
    # redis-py gives a tuple or a list depending on the protocol it was asked for: compare tuples.
    expect("BRPOP woken by LPUSH", tuple(join()), (f"{p}:q:default", "task-1"))
    expect_true("BRPOP woke before its timeout", time.monotonic() - t0 < 4)
    # Both queues ready: the first named wins.
    r.lpush(f"{p}:q:default", "d")
    r.lpush(f"{p}:q:priority", "p")
    expect("BRPOP takes queues in order",
           tuple(waiter.brpop([f"{p}:q:priority", f"{p}:q:default"], 1)), (f"{p}:q:priority", "p"))
    expect("BRPOP the rest", tuple(waiter.brpop([f"{p}:q:priority", f"{p}:q:default"], 1)),
           (f"{p}:q:default", "d"))
    t0 = time.monotonic()
    expect("BLPOP times out to None", waiter.blpop([f"{p}:q:empty"], timeout=0.5), None)
    expect_true("BLPOP waited its timeout", 0.4 <= time.monotonic() - t0 < 3)
    # A reliable queue: BLMOVE into a processing list.
    join = in_background(lambda: waiter.blmove(f"{p}:q:src", f"{p}:q:processing", 5,
                                               "RIGHT", "LEFT"))
    time.sleep(0.2)
    r.rpush(f"{p}:q:src", "job-9")
    expect("BLMOVE woken by RPUSH", join(), "job-9")
    expect("BLMOVE destination", r.lrange(f"{p}:q:processing", 0, -1), ["job-9"])

    # SSE tail: XREAD BLOCK after the last seen id gets the entry added while it waits (and, on
    # a slow machine where the XADD comes first, the same entry at once).
    stream = f"{p}:flow:events:tail"
    seen = r.xadd(stream, {"event_type": "before"})
    join = in_background(lambda: waiter.xread({stream: seen}, block=5000, count=10))
    time.sleep(0.2)
    new_id = r.xadd(stream, {"event_type": "live"})
    got = join()
    entries = got[stream][0] if isinstance(got, dict) else got[0][1]
    expect("XREAD BLOCK gets the new entry only", entries, [(new_id, {"event_type": "live"})])
    expect("XREAD BLOCK times out to empty", waiter.xread({stream: "$"}, block=300) in ([], {}),
           True)
    # The connection that blocked still serves ordinary commands in order.
    expect("after blocking, PING", waiter.ping(), True)
    expect("after blocking, GET", (waiter.set(f"{p}:after", "v"), waiter.get(f"{p}:after")),
           (True, "v"))
    r.close()
    waiter.close()


def concurrent_clients(connect, p):
    r = connect()  # one pool shared by every thread, as in a FastAPI process
    errors = []

    def worker(n):
        try:
            for i in range(100):
                key = f"{p}:conc:{n}"
                expect(f"thread {n} INCR {i}", r.incr(key), i + 1)
                if i % 10 == 0:
                    pipe = r.pipeline(transaction=i % 20 == 0)
                    pipe.get(key).hset(f"{p}:conc:h", str(n), i).hget(f"{p}:conc:h", str(n))
                    expect(f"thread {n} pipeline {i}", pipe.execute(),
                           [str(i + 1), 1 if i == 0 else 0, str(i)])
        except Exception as e:  # noqa: BLE001 - collected for the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expect_true("every thread finished", not any(t.is_alive() for t in threads))
    if errors:
        raise errors[0]
    expect("every counter at 100", [int(r.get(f"{p}:conc:{n}")) for n in range(8)], [100] * 8)
    r.close()


def connection_options(connect_with, p):
    # The platform's RedisManager options.
    r = connect_with(client_name="platform-api", health_check_interval=1,
                     socket_keepalive=True, retry_on_timeout=True)
    expect("CLIENT GETNAME", r.client_getname(), "platform-api")
    expect("PING", r.ping(), True)
    time.sleep(1.1)  # past health_check_interval: the next command is preceded by a PING
    expect("a command after the health check", (r.set(f"{p}:hc", "1"), r.get(f"{p}:hc")),
           (True, "1"))
    expect("CLIENT GETNAME after the health check", r.client_getname(), "platform-api")
    expect_true("DBSIZE", r.dbsize() >= 1)
    expect_true("INFO memory", "used_memory" in r.info("memory"))
    expect_true("CLIENT LIST", len(r.client_list()) >= 1)
    r.close()
    # Another database, as CELERY_BROKER_URL=.../1 selects.
    other = connect_with(db=1)
    expect("SET in database 1", other.set(f"{p}:db1", "one"), True)
    expect("database 1 sees it", other.get(f"{p}:db1"), "one")
    main = connect_with()
    expect("database 0 does not", main.get(f"{p}:db1"), None)
    other.delete(f"{p}:db1")
    other.close()
    main.close()


def concurrency_sections(connect, connect_with, p):
    """Sections for platform_workload's list; `connect()` gives a client of the run's protocol,
    `connect_with(**options)` one with extra redis-py options."""
    return [
        ("blocking reads (BRPOP, BLMOVE, XREAD BLOCK)", lambda: blocking_reads(connect, p)),
        ("8 threads sharing one pool", lambda: concurrent_clients(connect, p)),
        ("connection options (client_name, health checks, db)",
         lambda: connection_options(connect_with, p)),
    ]
