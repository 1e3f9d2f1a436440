"""Shared helpers for the end-to-end Python scripts.

Every check raises `Failure` with a message naming what was expected and what was seen, so a
failing run says exactly which step of which pattern went wrong. Nothing here sleeps a fixed
time as synchronization: `wait_until` polls with a deadline.
"""

import os
import sys
import time
import traceback
import uuid


class Failure(Exception):
    """A check that did not hold; the message names the step, the expected and the seen value."""


def redis_url():
    """The URL under test, from REDIS_URL; refuses to guess a default."""
    url = os.environ.get("REDIS_URL")
    if not url:
        raise Failure("REDIS_URL is not set: point it at the sidecar under test")
    return url


def unique(prefix):
    """A key prefix no other run shares, so runs against the same server do not collide."""
    return f"{prefix}:{uuid.uuid4().hex[:12]}"


def expect(step, seen, expected):
    """Checks `seen == expected`."""
    if seen != expected:
        raise Failure(f"{step}: expected {expected!r}, saw {seen!r}")
    return seen


def expect_true(step, cond, detail=""):
    """Checks that `cond` holds; `detail` shows the values involved."""
    if not cond:
        raise Failure(f"{step}: condition failed {detail}".rstrip())


def expect_raises(step, exc_type, fn, *args, **kwargs):
    """Checks that `fn(*args, **kwargs)` raises `exc_type`; returns the exception."""
    try:
        result = fn(*args, **kwargs)
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - reported as the wrong exception
        raise Failure(f"{step}: expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise Failure(f"{step}: expected {exc_type.__name__}, got a result: {result!r}")


def wait_until(step, timeout, cond, interval=0.02):
    """Polls `cond` until it returns a truthy value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"{step}: still not true after {timeout}s")
        time.sleep(interval)


def run_sections(title, sections):
    """Runs each `(name, fn)` in order, prints one line per section, and exits non-zero with the
    failing section's name and traceback at the first failure."""
    started = time.monotonic()
    for name, fn in sections:
        t0 = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            print(f"FAIL {title} / {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            sys.exit(1)
        print(f"ok   {title} / {name} ({time.monotonic() - t0:.2f}s)", flush=True)
    print(f"all {len(sections)} sections of {title} passed in {time.monotonic() - started:.1f}s")
