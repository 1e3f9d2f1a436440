//! Issue 4: commands with connection state pin their client to a dedicated upstream connection
//! for as long as the state lasts, and work through the sidecar against a real redis-server.
//!
//! A dedicated connection is observed on the upstream itself (`CLIENT LIST`: its last command,
//! its flags `b` blocked, `t` tracking, `O` monitor) and so is its release. Every wait is a poll.

mod support;

use std::time::{Duration, Instant};

use redis_sidecar::config::Cli;
use support::{client_list, show, wait_until, RedisServer, Sidecar};

fn setup() -> (RedisServer, Sidecar) {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    (redis, sidecar)
}

/// Whether a `CLIENT LIST` line has `field` (`cmd=blmove`).
fn has(line: &str, field: &str) -> bool {
    line.split(' ').any(|f| f == field)
}

/// Whether a `CLIENT LIST` line's `flags=` holds `flag`.
fn has_flag(line: &str, flag: char) -> bool {
    line.split(' ')
        .find_map(|f| f.strip_prefix("flags="))
        .is_some_and(|flags| flags.contains(flag))
}

/// Waits until some upstream connection `matches` (`holds`) or none does (`!holds`); `what`
/// names the wait in a timeout's message.
fn wait_upstream(redis: &RedisServer, what: &str, holds: bool, matches: impl Fn(&str) -> bool) {
    let mut probe = redis.client();
    wait_until(what, Duration::from_secs(10), || {
        client_list(&mut probe).iter().any(|l| matches(l)) == holds
    });
}

/// Sends `block` from a fresh client, checks it waits on a dedicated upstream connection (one
/// blocked in that very command), wakes it with `wake` from another client (pooled), and checks
/// the reply and that the dedicated connection is released once answered.
fn woken(redis: &RedisServer, sidecar: &Sidecar, block: &[&str], wake: &[&str], reply: &str) {
    let mut waiter = sidecar.client();
    let args: Vec<&[u8]> = block.iter().map(|a| a.as_bytes()).collect();
    waiter.send(&args);
    let cmd = format!("cmd={}", block[0].to_ascii_lowercase());
    let blocked_in_it = |l: &str| has(l, &cmd) && has_flag(l, 'b');
    wait_upstream(
        redis,
        &format!("{block:?} to block upstream"),
        true,
        blocked_in_it,
    );
    let mut waker = sidecar.client();
    let woke = waker.call(wake);
    assert!(!woke.starts_with(b"-"), "{wake:?}: {}", show(&woke));
    assert_eq!(
        show(&waiter.read_reply()),
        reply,
        "{block:?} woken by {wake:?}"
    );
    wait_upstream(
        redis,
        &format!("the dedicated connection of {block:?} to be released"),
        false,
        |l| has(l, &cmd),
    );
    assert_eq!(waiter.call(&["PING"]), "+PONG\r\n", "the client goes on");
}

/// `block` with a short timeout and nothing to take answers the nil redis-server 7.0 gives:
/// a null array in RESP2, `_` in RESP3 (the dedicated connection speaks the client's protocol).
fn times_out(sidecar: &Sidecar, block: &[&str]) {
    for (hello, nil) in [("2", "*-1⏎"), ("3", "_⏎")] {
        let mut c = sidecar.client();
        assert!(!c.call(&["HELLO", hello]).starts_with(b"-"));
        let started = Instant::now();
        assert_eq!(show(&c.call(block)), nil, "{block:?} in RESP{hello}");
        assert!(started.elapsed() >= Duration::from_millis(90), "it waited");
        assert_eq!(c.call(&["PING"]).first(), Some(&b'+'), "the client goes on");
    }
}

/// BLMOVE waits on a dedicated connection, is woken by another client's LPUSH (the element
/// moves), and times out with a nil.
#[test]
fn blmove_is_woken_by_a_push_and_times_out_with_nil() {
    let (redis, sidecar) = setup();
    woken(
        &redis,
        &sidecar,
        &["BLMOVE", "celery", "celery:running", "LEFT", "RIGHT", "10"],
        &["LPUSH", "celery", "task-1"],
        "$6⏎task-1⏎",
    );
    assert_eq!(
        show(
            &redis
                .client()
                .call(&["LRANGE", "celery:running", "0", "-1"])
        ),
        "*1⏎$6⏎task-1⏎"
    );
    times_out(
        &sidecar,
        &["BLMOVE", "empty", "other", "LEFT", "RIGHT", "0.1"],
    );
}

/// BZPOPMIN waits on a dedicated connection, is woken by another client's ZADD with the lowest
/// member, and times out with a nil.
#[test]
fn bzpopmin_is_woken_by_zadd_and_times_out_with_nil() {
    let (redis, sidecar) = setup();
    woken(
        &redis,
        &sidecar,
        &["BZPOPMIN", "rate_limit:a", "10"],
        &["ZADD", "rate_limit:a", "1", "low", "2", "high"],
        "*3⏎$12⏎rate_limit:a⏎$3⏎low⏎$1⏎1⏎",
    );
    times_out(&sidecar, &["BZPOPMIN", "empty", "0.1"]);
}

/// BZPOPMAX waits on a dedicated connection, is woken by another client's ZADD with the highest
/// member, and times out with a nil.
#[test]
fn bzpopmax_is_woken_by_zadd_and_times_out_with_nil() {
    let (redis, sidecar) = setup();
    woken(
        &redis,
        &sidecar,
        &["BZPOPMAX", "rate_limit:b", "10"],
        &["ZADD", "rate_limit:b", "1", "low", "2", "high"],
        "*3⏎$12⏎rate_limit:b⏎$4⏎high⏎$1⏎2⏎",
    );
    times_out(&sidecar, &["BZPOPMAX", "empty", "0.1"]);
}

/// XREADGROUP ... BLOCK waits on a dedicated connection, is woken by another client's XADD
/// (the entry is delivered to the consumer), and times out with a nil.
#[test]
fn xreadgroup_block_is_woken_by_xadd_and_times_out_with_nil() {
    let (redis, sidecar) = setup();
    let mut c = sidecar.client();
    let create = [
        "XGROUP",
        "CREATE",
        "flow:events:1",
        "workers",
        "$",
        "MKSTREAM",
    ];
    assert_eq!(c.call(&create), "+OK\r\n");
    let read = |block: &'static str| {
        [
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "BLOCK",
            block,
            "STREAMS",
            "flow:events:1",
            ">",
        ]
    };
    woken(
        &redis,
        &sidecar,
        &read("10000"),
        &["XADD", "flow:events:1", "1-1", "type", "step"],
        "*1⏎*2⏎$13⏎flow:events:1⏎*1⏎*2⏎$3⏎1-1⏎*2⏎$4⏎type⏎$4⏎step⏎",
    );
    times_out(&sidecar, &read("100"));
}

/// WAIT goes to a dedicated connection (it may block, and a pool connection must not):
/// `WAIT 0 100` answers 0 at once; `WAIT 1 600` with no replica waits its full timeout and
/// answers 0, without the 200 ms command timeout counting it as a dead upstream.
#[test]
fn wait_answers_an_integer() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[upstream]\ncommand_timeout_ms = 200\n");
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "flow:state:1", "done"]), "+OK\r\n");
    let started = Instant::now();
    assert_eq!(c.call(&["WAIT", "0", "100"]), ":0\r\n");
    assert!(started.elapsed() < Duration::from_secs(2), "promptly");
    let started = Instant::now();
    assert_eq!(c.call(&["WAIT", "1", "600"]), ":0\r\n");
    assert!(started.elapsed() >= Duration::from_millis(550), "it waited");
    assert_eq!(c.call(&["GET", "flow:state:1"]), "$4\r\ndone\r\n");
}

/// CLIENT TRACKING ON in RESP3 keeps the client on one dedicated connection (flag `t`
/// upstream) for the rest of its life: a key it read and another client then changed produces
/// an `invalidate` push. The connection goes when the client does.
///
/// RESP2 clients get no invalidations: Redis delivers them in RESP2 only through `REDIRECT`
/// to another connection's id, and `CLIENT ID` is answered by the sidecar with its own ids.
#[test]
fn client_tracking_in_resp3_gets_invalidation_pushes() {
    let (redis, sidecar) = setup();
    let mut tracking = sidecar.client();
    assert!(tracking.call(&["HELLO", "3"]).starts_with(b"%"));
    assert_eq!(tracking.call(&["CLIENT", "TRACKING", "ON"]), "+OK\r\n");
    let mut other = sidecar.client();
    assert_eq!(other.call(&["SET", "flow:state:7", "running"]), "+OK\r\n");
    assert_eq!(tracking.call(&["GET", "flow:state:7"]), "$7\r\nrunning\r\n");
    wait_upstream(&redis, "a tracking connection", true, |l| has_flag(l, 't'));
    assert_eq!(other.call(&["SET", "flow:state:7", "done"]), "+OK\r\n");
    assert_eq!(
        show(&tracking.read_reply()),
        ">2⏎$10⏎invalidate⏎*1⏎$12⏎flow:state:7⏎"
    );
    assert_eq!(
        tracking.call(&["GET", "flow:state:7"]),
        "$4\r\ndone\r\n",
        "replies after a push stay in order"
    );
    drop(tracking);
    wait_upstream(&redis, "the tracking connection to close", false, |l| {
        has_flag(l, 't')
    });
}

/// MONITOR holds a dedicated connection (flag `O` upstream) and streams the commands other
/// clients send through the sidecar's pool; it goes when the client does.
#[test]
fn monitor_sees_other_clients_commands() {
    let (redis, sidecar) = setup();
    let mut monitor = sidecar.client();
    assert_eq!(monitor.call(&["MONITOR"]), "+OK\r\n");
    wait_upstream(&redis, "a monitor connection", true, |l| has_flag(l, 'O'));
    let mut other = sidecar.client();
    assert_eq!(other.call(&["SET", "lock:flow:3", "owner"]), "+OK\r\n");
    monitor.set_read_timeout(Duration::from_secs(10));
    let wanted = "\"SET\" \"lock:flow:3\" \"owner\"";
    // Other lines may come first (the sidecar's health PINGs, the probe's CLIENT LIST).
    let line = loop {
        let line = show(&monitor.read_reply());
        assert!(line.starts_with('+'), "a status line: {line}");
        if line.contains(wanted) {
            break line;
        }
    };
    assert!(line.contains("127.0.0.1:"), "{line}");
    drop(monitor);
    wait_upstream(&redis, "the monitor connection to close", false, |l| {
        has_flag(l, 'O')
    });
}

/// With a single pool connection, a client blocked forever (BZPOPMIN 0) is on its own
/// connection: other clients are served meanwhile, and one of them wakes it.
#[test]
fn a_blocked_client_does_not_hold_up_pooled_clients() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::start(Cli {
        upstream: Some(redis.url()),
        upstream_connections: Some(1),
        ..Cli::default()
    });
    let mut waiter = sidecar.client();
    waiter.send(&[b"BZPOPMIN", b"rate_limit:c", b"0"]);
    wait_upstream(&redis, "BZPOPMIN to block upstream", true, |l| {
        has(l, "cmd=bzpopmin") && has_flag(l, 'b')
    });
    let mut pooled = sidecar.client();
    pooled.set_read_timeout(Duration::from_secs(5));
    for i in 0..50 {
        let value = i.to_string();
        assert_eq!(pooled.call(&["SET", "flow:state:p", &value]), "+OK\r\n");
        assert_eq!(
            show(&pooled.call(&["GET", "flow:state:p"])),
            format!("${}⏎{value}⏎", value.len())
        );
    }
    assert_eq!(pooled.call(&["ZADD", "rate_limit:c", "5", "m"]), ":1\r\n");
    assert_eq!(show(&waiter.read_reply()), "*3⏎$12⏎rate_limit:c⏎$1⏎m⏎$1⏎5⏎");
}
