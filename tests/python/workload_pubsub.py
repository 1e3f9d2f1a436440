"""Pub/sub and asyncio sections of the platform workload (see platform_workload.py).

flow:updates:{id} channels carry the event bus's real-time copy: a subscriber thread with a
channel and a pattern subscription must receive every message, in order, and the asyncio client
(the platform's FastAPI services use redis.asyncio) must do the publish path and a subscription.
"""

import asyncio
import json
import threading

import redis.asyncio as aioredis

import common
from common import expect, expect_true, wait_until

TIMEOUT = 10


def effective_protocol(r):
    """The RESP version `r` speaks: the one asked for, else redis-py's default."""
    asked = r.connection_pool.connection_kwargs.get("protocol")
    if asked is not None:
        return int(asked)
    try:
        from redis.utils import DEFAULT_RESP_VERSION
    except ImportError:  # redis-py before 8 defaults to RESP2
        return 2
    return DEFAULT_RESP_VERSION


def subscriber_thread(connect, p):
    r, pub = connect(), connect()
    channel, pattern = f"{p}:flow:updates:abc123", f"{p}:flow:updates:*"
    pubsub = r.pubsub()
    received, ready, stop = [], threading.Event(), threading.Event()
    errors = []

    def listen():
        try:
            pubsub.subscribe(channel)
            pubsub.psubscribe(pattern)
            confirmations = []
            while len(confirmations) < 2:
                msg = pubsub.get_message(timeout=TIMEOUT)
                if msg is None:
                    raise common.Failure(f"no subscribe confirmation; saw {confirmations}")
                confirmations.append((msg["type"], msg["channel"], msg["data"]))
            expect("subscribe confirmations", confirmations,
                   [("subscribe", channel, 1), ("psubscribe", pattern, 2)])
            ready.set()
            while not stop.is_set():
                msg = pubsub.get_message(timeout=0.2)
                if msg is not None:
                    received.append(msg)
        except Exception as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)
            ready.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    expect_true("subscriber ready", ready.wait(TIMEOUT))
    if errors:
        raise errors[0]
    expect("PUBSUB NUMSUB", pub.pubsub_numsub(channel), [(channel, 1)])
    expect_true("PUBSUB NUMPAT", pub.pubsub_numpat() >= 1)
    expect_true("PUBSUB CHANNELS", channel in pub.pubsub_channels(f"{p}:*"))

    events = [json.dumps({"event_type": "progress", "progress": i}) for i in range(5)]
    for event in events:
        expect("PUBLISH reaches the channel and the pattern", pub.publish(channel, event), 2)
    expect("PUBLISH to another flow reaches the pattern only",
           pub.publish(f"{p}:flow:updates:other", "x"), 1)
    expect("PUBLISH to an unsubscribed channel", pub.publish(f"{p}:elsewhere", "x"), 0)

    wait_until("all 11 deliveries", TIMEOUT, lambda: len(received) >= 11 or errors)
    stop.set()
    thread.join(TIMEOUT)
    if errors:
        raise errors[0]
    direct = [m["data"] for m in received if m["type"] == "message"]
    by_pattern = [(m["channel"], m["data"]) for m in received if m["type"] == "pmessage"]
    expect("messages on the channel, in order", direct, events)
    expect("messages through the pattern, in order", by_pattern,
           [(channel, e) for e in events] + [(f"{p}:flow:updates:other", "x")])
    expect_true("pmessage names its pattern",
                all(m["pattern"] == pattern for m in received if m["type"] == "pmessage"))
    expect("nothing else delivered", len(received), 11)

    # PING in subscribed mode, then leave. Over RESP3, redis-py 8.1 misreads the (correct) bulk
    # string reply as a message list, against redis-server too, so the check is RESP2's only.
    pubsub.ping("still-here")
    pong = wait_until("PING reply in subscribed mode", TIMEOUT,
                      lambda: pubsub.get_message(timeout=0.2))
    if effective_protocol(r) == 2:
        expect("PING in subscribed mode", (pong["type"], pong["data"]), ("pong", "still-here"))
    pubsub.unsubscribe()
    pubsub.punsubscribe()
    wait_until("unsubscribed", TIMEOUT, lambda: pub.pubsub_numsub(channel) == [(channel, 0)])
    expect("PUBLISH after unsubscribing", pub.publish(channel, "late"), 0)
    pubsub.close()
    r.close()
    pub.close()


def handler_thread(connect, p):
    r = connect()
    channel = f"{p}:flow:updates:handler"
    got, done = [], threading.Event()

    def on_message(msg):
        got.append(msg["data"])
        if len(got) == 3:
            done.set()

    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(**{channel: on_message})
    worker = pubsub.run_in_thread(sleep_time=0.05, daemon=True)
    wait_until("handler subscribed", TIMEOUT, lambda: r.pubsub_numsub(channel)[0][1] == 1)
    for i in range(3):
        r.publish(channel, f"m{i}")
    expect_true("handler saw 3 messages", done.wait(TIMEOUT), f"saw {got}")
    expect("handler messages", got, ["m0", "m1", "m2"])
    worker.stop()
    worker.join(TIMEOUT)
    expect_true("run_in_thread worker stopped", not worker.is_alive())
    pubsub.close()
    r.close()


async def asyncio_flow(protocol, p):
    kwargs = dict(decode_responses=True, socket_timeout=TIMEOUT, socket_connect_timeout=5)
    if protocol is not None:
        kwargs["protocol"] = protocol
    r = aioredis.from_url(common.redis_url(), **kwargs)
    p = f"{p}:async"
    stream, channel = f"{p}:flow:events:async", f"{p}:flow:updates:async"
    pubsub = r.pubsub()
    await pubsub.subscribe(channel)
    confirm = await pubsub.get_message(timeout=TIMEOUT)
    expect("async subscribe confirmation", (confirm["type"], confirm["channel"]),
           ("subscribe", channel))

    event = {"event_type": "phase_completed", "payload": json.dumps({"phase": "import"})}
    entry_id = await r.xadd(stream, event, maxlen=10000, approximate=True)
    expect("async EXPIRE", await r.expire(stream, 86400), True)
    expect("async PUBLISH", await r.publish(channel, json.dumps(event)), 1)
    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=TIMEOUT)
    expect_true("async message received", msg is not None)
    expect("async message data", json.loads(msg["data"]), event)
    latest = await r.xrevrange(stream, "+", "-", count=10)
    expect("async XREVRANGE", latest, [(entry_id, event)] if isinstance(latest[0], tuple)
           else [[entry_id, event]])

    async with r.pipeline(transaction=True) as pipe:
        pipe.setex(f"{p}:flow:state:async", 300, "{}").ttl(f"{p}:flow:state:async")
        expect("async MULTI pipeline", await pipe.execute(), [True, 300])
    async with r.lock(f"{p}:lock:async", timeout=5) as lock:
        expect("async Lock owned", await lock.owned(), True)
    expect("async Lock released", await r.exists(f"{p}:lock:async"), 0)
    keys = [k async for k in r.scan_iter(match=f"{p}:flow:*")]
    expect("async scan_iter", sorted(keys), sorted([stream, f"{p}:flow:state:async"]))
    await pubsub.unsubscribe(channel)
    await pubsub.aclose()
    await r.aclose()


def pubsub_sections(connect, p):
    """The pub/sub sections, for platform_workload's section list; `connect()` gives a client
    speaking the run's protocol."""
    protocol = connect().connection_pool.connection_kwargs.get("protocol")
    return [
        ("pub/sub: subscriber thread, channel + pattern", lambda: subscriber_thread(connect, p)),
        ("pub/sub: run_in_thread handler", lambda: handler_thread(connect, p)),
        ("asyncio client: publish path, subscription, pipeline, lock",
         lambda: asyncio.run(asyncio.wait_for(asyncio_flow(protocol, p), 60))),
    ]
