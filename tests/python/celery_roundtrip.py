"""Celery round trip through the sidecar at REDIS_URL (no database path), as broker (database 1)
and result backend (database 2), as the platform configures Celery.

Starts a real worker (`celery -A celery_tasks worker --pool=solo`) as a subprocess, waits until it
answers a control ping, sends single tasks, a chain, a group, a chord, a failing task and a task
reporting progress, checks every result within a bounded time, then shuts the worker down through
Celery's remote control and checks that it exits cleanly. Exits non-zero with the failing step and
the worker's log on any failure.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
RESULT_TIMEOUT = 30  # seconds for any one result
WORKER_NAME = f"e2e-{uuid.uuid4().hex[:8]}@localhost"

if not os.environ.get("REDIS_URL"):
    print("FAIL: REDIS_URL is not set: point it at the sidecar under test")
    sys.exit(2)
os.environ.setdefault("E2E_CELERY_QUEUE", f"e2e-{uuid.uuid4().hex[:8]}")

import celery  # noqa: E402 - after the environment the app reads
from celery import chain, chord, group  # noqa: E402

import celery_tasks  # noqa: E402
import common  # noqa: E402
from celery_tasks import add, app, describe, fail, mul, xsum  # noqa: E402
from common import Failure, expect, expect_true, wait_until  # noqa: E402


def start_worker(log):
    cmd = [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=solo",
           "--concurrency=1", "--loglevel=INFO", "-n", WORKER_NAME,
           "-Q", os.environ["E2E_CELERY_QUEUE"]]
    print("starting worker:", " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, cwd=HERE, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def worker_ready(worker):
    if worker.poll() is not None:
        raise Failure(f"the worker exited during start-up with status {worker.returncode}")
    replies = app.control.ping(destination=[WORKER_NAME], timeout=1.0)
    return any(WORKER_NAME in r for r in replies)


def single_tasks():
    expect("add.delay(2, 3)", add.delay(2, 3).get(timeout=RESULT_TIMEOUT), 5)
    result = mul.apply_async((7, 6), countdown=1)
    t0 = time.monotonic()
    expect("mul with countdown=1", result.get(timeout=RESULT_TIMEOUT), 42)
    expect_true("countdown honoured", time.monotonic() - t0 >= 0.5,
                f"took {time.monotonic() - t0:.2f}s")
    results = [add.delay(i, 1) for i in range(20)]
    expect("20 tasks in flight", [r.get(timeout=RESULT_TIMEOUT) for r in results],
           [i + 1 for i in range(20)])
    expect("state of a finished task", results[0].state, "SUCCESS")
    again = app.AsyncResult(results[3].id)
    expect("result fetched by id", again.get(timeout=RESULT_TIMEOUT), 4)
    again.forget()
    expect("state after forget()", app.AsyncResult(results[3].id).state, "PENDING")


def canvas():
    flow = chain(add.s(1, 2), mul.s(10), add.s(5))
    expect("chain add|mul|add", flow.apply_async().get(timeout=RESULT_TIMEOUT), 35)
    fan = group(add.s(i, i) for i in range(10)).apply_async()
    expect("group of 10", fan.get(timeout=RESULT_TIMEOUT), [2 * i for i in range(10)])
    expect("group ready", fan.ready(), True)
    expect("group successful", fan.successful(), True)
    joined = chord((mul.s(i, 3) for i in range(5)), xsum.s()).apply_async()
    expect("chord of 5 into xsum", joined.get(timeout=RESULT_TIMEOUT), 30)


def failures_and_progress():
    result = fail.delay("flow abc123 failed validation")
    try:
        value = result.get(timeout=RESULT_TIMEOUT)
    except ValueError as e:
        expect("failure message", str(e), "flow abc123 failed validation")
    else:
        raise Failure(f"a failing task returned {value!r}")
    expect("state of a failed task", result.state, "FAILURE")
    expect_true("traceback kept", "ValueError" in (result.traceback or ""), repr(result.traceback))
    done = describe.delay({"flow_id": "abc123", "phase": "import"})
    value = done.get(timeout=RESULT_TIMEOUT)
    expect("bound task sees its id", value["id"], done.id)
    expect("bound task payload", value["payload"], {"flow_id": "abc123", "phase": "import"})


def inspect_worker():
    stats = app.control.inspect(destination=[WORKER_NAME], timeout=5).stats() or {}
    expect_true("inspect().stats() answers", WORKER_NAME in stats, f"saw {list(stats)}")
    queues = app.control.inspect(destination=[WORKER_NAME], timeout=5).active_queues() or {}
    names = [q["name"] for q in queues.get(WORKER_NAME, [])]
    expect("the worker consumes the run's queue", names, [os.environ["E2E_CELERY_QUEUE"]])


def database_layout():
    """This run's result in database 2 only, its queue's binding in database 1 only: SELECT is
    honoured on every connection."""
    import redis

    def exists(db, key):
        r = redis.Redis.from_url(f"{celery_tasks.URL}/{db}", socket_timeout=10)
        try:
            return r.exists(key) == 1
        finally:
            r.close()

    result = add.delay(40, 2)
    expect("a task for the layout check", result.get(timeout=RESULT_TIMEOUT), 42)
    meta = f"celery-task-meta-{result.id}"
    expect("the result's key by database (0, 1, 2)", [exists(db, meta) for db in range(3)],
           [False, False, True])
    binding = f"_kombu.binding.{os.environ['E2E_CELERY_QUEUE']}"
    expect("the queue's binding by database (0, 1, 2)", [exists(db, binding) for db in range(3)],
           [False, True, False])


def worker_log_trouble(text):
    """Errors the worker logged other than the deliberate failing task: a broker connection
    lost and retried, a reply it could not parse. Celery retries these silently, so they would
    pass unseen by the client."""
    bad = []
    for line in text.splitlines():
        if "celery_tasks.fail[" in line:
            continue
        if ("ERROR/" in line or "CRITICAL/" in line or "Connection to broker lost" in line
                or "Cannot connect to" in line):
            bad.append(line.strip())
    return bad[:5]


def main():
    print(f"celery {celery.__version__}, REDIS_URL={common.redis_url()}", flush=True)
    log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
    worker = start_worker(log)
    failed = False
    try:
        wait_until("the worker answers a control ping", 60, lambda: worker_ready(worker),
                   interval=0.2)
        print("ok   worker ready", flush=True)
        common.run_sections("celery", [
            ("single tasks", single_tasks),
            ("chain, group, chord", canvas),
            ("failure and bound task", failures_and_progress),
            ("inspect", inspect_worker),
            ("database layout (broker /1, results /2)", database_layout),
        ])
        # The worker does not answer a shutdown command (it stops at once): its exit is the answer.
        app.control.shutdown(destination=[WORKER_NAME])
        try:
            code = worker.wait(30)
        except subprocess.TimeoutExpired:
            raise Failure("the worker did not exit within 30 s of the shutdown command")
        expect("worker exit status", code, 0)
        print("ok   worker shut down cleanly", flush=True)
    except SystemExit:
        failed = True
        raise
    except Exception as e:  # noqa: BLE001 - reported with the worker's log
        failed = True
        print(f"FAIL celery: {type(e).__name__}: {e}", flush=True)
        raise SystemExit(1)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        log.close()
        with open(log.name, encoding="utf-8", errors="replace") as f:
            text = f.read()
        os.unlink(log.name)
        trouble = worker_log_trouble(text)
        if failed or trouble:
            print("---- worker log ----\n" + text[-20000:] + "\n---- end of worker log ----")
        if trouble and not failed:
            print(f"FAIL celery: the worker logged trouble the client did not see: {trouble}")
            raise SystemExit(1)
    print("celery_roundtrip: passed")


if __name__ == "__main__":
    main()
