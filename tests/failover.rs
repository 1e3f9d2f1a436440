//! Issue 4: an upstream outage is served by the embedded store, and every write acknowledged
//! meanwhile reaches the upstream once it returns. Real redis-server processes, killed with
//! SIGKILL and restarted on the same port with their AOF.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use redis_sidecar::config::Cli;
use support::{show, wait_until, RawClient, RedisServer, Sidecar};

const REDIS_ARGS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];
const FAST_HEALTH: &str =
    "[fallback]\nhealth_interval_ms = 100\n[upstream]\nconnect_timeout_ms = 300\n";

fn sidecar_with_journal(url: &str, journal: &Path) -> Sidecar {
    let file = support::temp_dir().join("sidecar.toml");
    std::fs::write(&file, FAST_HEALTH).unwrap();
    Sidecar::start(Cli {
        upstream: Some(url.into()),
        config: Some(file),
        journal_dir: Some(journal.to_path_buf()),
        ..Cli::default()
    })
}

/// Retries `args` until the sidecar acknowledges it (it errs while switching to the fallback).
fn until_ok(c: &mut RawClient, args: &[&str]) -> String {
    let mut last = String::new();
    wait_until(
        &format!("{args:?} to be acknowledged"),
        Duration::from_secs(10),
        || {
            last = show(&c.call(args));
            !last.starts_with('-')
        },
    );
    last
}

#[test]
fn a_killed_and_restarted_upstream_loses_no_acknowledged_write() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let addr = sidecar.addr;
    let writer = std::thread::spawn(move || {
        let mut c = RawClient::connect(addr);
        let (mut sets, mut xadds, mut acks) = (Vec::new(), 0usize, Vec::new());
        // XADDs answered with an error: their outcome is unknown (applied or not).
        let mut unknown_xadds = 0usize;
        let mut errors: std::collections::BTreeMap<String, (usize, Instant, Instant)> =
            Default::default();
        let mut error = |reply: bytes::Bytes| {
            let now = Instant::now();
            let text: String = show(&reply).chars().take(48).collect();
            let e = errors.entry(text).or_insert((0, now, now));
            e.0 += 1;
            e.2 = now;
        };
        let deadline = Instant::now() + Duration::from_secs(7);
        let mut i = 0;
        while Instant::now() < deadline {
            let key = format!("flow:state:{i}");
            let reply = c.call(&["SET", &key, &i.to_string()]);
            if reply == "+OK\r\n" {
                sets.push(key);
                acks.push(Instant::now());
            } else {
                error(reply);
            }
            let reply = c.call(&["XADD", "flow:events:1", "*", "n", &i.to_string()]);
            if reply.starts_with(b"$") {
                xadds += 1;
                acks.push(Instant::now());
            } else {
                unknown_xadds += 1;
                error(reply);
            }
            i += 1;
        }
        (sets, xadds, acks, errors, unknown_xadds)
    });
    std::thread::sleep(Duration::from_secs(1));
    let killed = Instant::now();
    redis.kill();
    // The scenario: the upstream stays down for 2.5 s.
    std::thread::sleep(Duration::from_millis(2500));
    let restarted = RedisServer::start_in(port, dir, REDIS_ARGS);
    let returned = Instant::now();
    let (sets, xadds, acks, errors, unknown_xadds) = writer.join().unwrap();
    let longest_gap = acks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!(
        "{} SETs, {xadds} XADDs acknowledged, longest gap {longest_gap:?}",
        sets.len()
    );
    for (text, (n, first, last)) in &errors {
        eprintln!(
            "{n} x {text} from {:?} to {:?} after the kill",
            *first - killed,
            *last - killed
        );
    }
    assert!(
        longest_gap < Duration::from_secs(2),
        "a gap of {longest_gap:?} between acknowledgements"
    );
    let mut direct = restarted.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let xlen = direct.call(&["XLEN", "flow:events:1"]);
        let entries: usize = String::from_utf8_lossy(&xlen[1..xlen.len() - 2])
            .parse()
            .unwrap();
        let missing: Vec<&String> = sets
            .iter()
            .filter(|k| direct.call(&["EXISTS", k]) != ":1\r\n")
            .collect();
        // Every acknowledged entry is there; one answered with an error may have been applied too.
        if (xadds..=xadds + unknown_xadds).contains(&entries) && missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged writes missing upstream: XLEN {} of {xadds}; {} SET keys missing, e.g. {:?}",
            show(&xlen),
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "all on the upstream {:?} after its return",
        returned.elapsed()
    );
    // And the sidecar is back on the upstream: a new write lands there directly.
    let mut c = sidecar.client();
    wait_until(
        "writes to go upstream again",
        Duration::from_secs(10),
        || {
            c.call(&["SET", "after", "1"]);
            direct.call(&["GET", "after"]) == "$1\r\n1\r\n"
        },
    );
}

#[test]
fn a_sidecar_restarted_during_the_outage_replays_its_journal() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let journal = support::temp_dir();
    let first = sidecar_with_journal(&redis.url(), &journal);
    let mut c = first.client();
    assert_eq!(c.call(&["SET", "before", "1"]), "+OK\r\n");
    redis.kill();
    until_ok(&mut c, &["SET", "during:a", "1"]);
    assert_eq!(c.call(&["RPUSH", "celery", "task-1", "task-2"]), ":2\r\n");
    drop(c);
    drop(first);
    // A new sidecar on the same journal, upstream still down: it serves what was journaled.
    let second = sidecar_with_journal(&format!("redis://127.0.0.1:{port}"), &journal);
    let mut c = second.client();
    wait_until(
        "the restarted sidecar to serve the journaled data",
        Duration::from_secs(10),
        || c.call(&["GET", "during:a"]) == "$1\r\n1\r\n",
    );
    assert_eq!(
        c.call(&["LRANGE", "celery", "0", "-1"]),
        "*2\r\n$6\r\ntask-1\r\n$6\r\ntask-2\r\n"
    );
    let restarted = RedisServer::start_in(port, dir, REDIS_ARGS);
    let mut direct = restarted.client();
    wait_until(
        "the journal replayed upstream",
        Duration::from_secs(20),
        || {
            direct.call(&["GET", "during:a"]) == "$1\r\n1\r\n"
                && direct.call(&["LLEN", "celery"]) == ":2\r\n"
        },
    );
    assert_eq!(
        direct.call(&["GET", "before"]),
        "$1\r\n1\r\n",
        "the upstream's own data survived (AOF)"
    );
}

#[test]
fn pops_and_ttls_replay_with_the_effect_they_had() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let mut c = sidecar.client();
    assert_eq!(c.call(&["RPUSH", "queue", "old-1", "old-2"]), ":2\r\n");
    assert_eq!(c.call(&["SET", "cache:flow:1", "cached"]), "+OK\r\n");
    redis.kill();
    until_ok(&mut c, &["RPUSH", "queue", "new-1"]);
    // The store only has what was written during the outage.
    assert_eq!(
        c.call(&["GET", "cache:flow:1"]),
        "$-1\r\n",
        "pre-outage keys are misses during it"
    );
    assert_eq!(
        c.call(&["BRPOP", "queue", "1"]),
        "*2\r\n$5\r\nqueue\r\n$5\r\nnew-1\r\n"
    );
    assert_eq!(
        c.call(&["SET", "lock:flow:1", "me", "NX", "EX", "100"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["INCR", "counter"]), ":1\r\n");
    let restarted = RedisServer::start_in(port, dir, REDIS_ARGS);
    let mut direct = restarted.client();
    wait_until(
        "the journal replayed upstream",
        Duration::from_secs(20),
        || direct.call(&["EXISTS", "lock:flow:1"]) == ":1\r\n",
    );
    // The pop removed the task it returned, not the upstream's oldest one.
    assert_eq!(
        direct.call(&["LRANGE", "queue", "0", "-1"]),
        "*2\r\n$5\r\nold-1\r\n$5\r\nold-2\r\n"
    );
    let ttl: i64 = String::from_utf8_lossy(&direct.call(&["TTL", "lock:flow:1"]))[1..]
        .trim()
        .parse()
        .unwrap();
    assert!(
        (80..=100).contains(&ttl),
        "the TTL kept running during the outage: {ttl}"
    );
    assert_eq!(direct.call(&["GET", "counter"]), "$1\r\n1\r\n");
    assert_eq!(direct.call(&["GET", "cache:flow:1"]), "$6\r\ncached\r\n");
}

#[test]
fn a_del_during_the_outage_deletes_what_only_the_upstream_had() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let journal = support::temp_dir();
    let sidecar = sidecar_with_journal(&redis.url(), &journal);
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "lock:flow:1", "owner-a"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "lock:flow:2", "owner-b"]), "+OK\r\n");
    redis.kill();
    // In fallback (a write is acknowledged again), the store never had the locks.
    until_ok(&mut c, &["SET", "during", "1"]);
    assert_eq!(c.call(&["DEL", "lock:flow:1"]), ":0\r\n");
    assert_eq!(c.call(&["UNLINK", "lock:flow:2", "missing"]), ":0\r\n");
    let restarted = RedisServer::start_in(port, dir, REDIS_ARGS);
    let mut direct = restarted.client();
    wait_until(
        "the DEL and UNLINK to be replayed",
        Duration::from_secs(20),
        || {
            direct.call(&["EXISTS", "lock:flow:1", "lock:flow:2"]) == ":0\r\n"
                && direct.call(&["GET", "during"]) == "$1\r\n1\r\n"
        },
    );
}
