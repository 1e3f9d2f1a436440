//! Issue 4: an upstream outage is served by the embedded store, and every write acknowledged
//! meanwhile reaches the upstream once it returns. Real redis-server processes, killed with
//! SIGKILL and restarted on the same port with their AOF.

mod support;

#[path = "failover_support/mod.rs"]
mod failover_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use failover_support::{
    longest_gap, wait_all_on_upstream, Comparison, Record, SidecarProcess, Write, Writer,
};
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

/// Issue 4, first half: through a kill -9 of the upstream and its restart 2.5 s later, the
/// writer is never without an acknowledgement for 2 s, and within 20 s of the upstream's
/// return every acknowledged write is there: each key holds the last value acknowledged for it,
/// the stream holds every acknowledged entry, in order, with its fields.
#[test]
fn a_killed_and_restarted_upstream_loses_no_acknowledged_write() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let (writer, killed) = write_then_kill(sidecar.addr, &mut redis);
    // The scenario: the upstream stays down for 2.5 s.
    std::thread::sleep(Duration::from_millis(2500));
    let upstream = RedisServer::start_in(port, dir, REDIS_ARGS);
    after_the_return("upstream kill test", writer, &upstream, killed, None);
    // And the sidecar is back on the upstream: a new write lands there directly.
    let (mut c, mut direct) = (sidecar.client(), upstream.client());
    wait_until(
        "writes to go upstream again",
        Duration::from_secs(10),
        || {
            c.call(&["SET", "after", "1"]);
            direct.call(&["GET", "after"]) == "$1\r\n1\r\n"
        },
    );
}

/// Issue 4, second half: the sidecar *process* is killed with SIGKILL during the outage (its
/// journal holds writes it acknowledged from the fallback store) and a new process is started
/// on the same port and journal. Outside the window where no sidecar process answers, the
/// writer is never without an acknowledgement for 2 s; within 20 s of the upstream's return
/// every acknowledged write is there, as in the test above.
#[test]
fn a_sidecar_killed_during_the_outage_loses_no_acknowledged_write() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let config = support::temp_dir().join("sidecar.toml");
    std::fs::write(&config, FAST_HEALTH).unwrap();
    let mut first = SidecarProcess::start(&redis.url(), &config, &support::temp_dir());
    let (writer, killed) = write_then_kill(first.addr, &mut redis);
    // Mid-outage, with writes acknowledged from the fallback store (so journaled).
    wait_until(
        "writes acknowledged from the fallback store",
        Duration::from_secs(5),
        || writer.acks_since(killed) >= 100 && killed.elapsed() >= Duration::from_secs(1),
    );
    let sidecar_killed = Instant::now();
    first.kill();
    let second = first.start_again();
    let sidecar_dead = (sidecar_killed, Instant::now());
    // The upstream returns 2.5 s after its kill, or at once if the sidecar took longer.
    std::thread::sleep(
        (killed + Duration::from_millis(2500)).saturating_duration_since(Instant::now()),
    );
    let upstream = RedisServer::start_in(port, dir, REDIS_ARGS);
    after_the_return(
        "sidecar crash test",
        writer,
        &upstream,
        killed,
        Some(sidecar_dead),
    );
    drop(second);
}

/// Starts the writer through the sidecar at `addr`, and once 300 writes are acknowledged,
/// kills the upstream (SIGKILL); returns the writer and when the upstream died.
fn write_then_kill(addr: SocketAddr, redis: &mut RedisServer) -> (Writer, Instant) {
    let writer = Writer::start(addr);
    let started = Instant::now();
    wait_until(
        "the writer to be acknowledged",
        Duration::from_secs(10),
        || writer.acks_since(started) >= 300,
    );
    let killed = Instant::now();
    redis.kill();
    (writer, killed)
}

/// What both outage tests check once `upstream` answers again (it just did): writes go on for
/// 3 s while the journal is replayed, then no gap between acknowledgements is longer than 2 s
/// (leaving out `sidecar_dead`, when no sidecar process was there to answer), and every
/// acknowledged write is on the upstream within 20 s of its return.
fn after_the_return(
    name: &str,
    writer: Writer,
    upstream: &RedisServer,
    killed: Instant,
    sidecar_dead: Option<(Instant, Instant)>,
) {
    let returned = Instant::now();
    let backlog = outage_backlog_landed(&writer, upstream.addr(), returned);
    // Writes go on while the journal is replayed and clients move back to the upstream.
    std::thread::sleep(Duration::from_secs(3));
    let log = writer.stop();
    let found = wait_all_on_upstream(&log, upstream.addr(), returned + Duration::from_secs(20));
    let landed = returned.elapsed();
    let (gap, gap_at) = longest_gap(&log, sidecar_dead);
    let not_counting = match sidecar_dead {
        Some((from, to)) => {
            eprintln!(
                "{name}: no sidecar process answered for {:?}, from {:?} after the upstream's \
                 kill; longest gap counting that window {:?}",
                to - from,
                from - killed,
                longest_gap(&log, None).0
            );
            format!(
                ", not counting the {:?} during which no sidecar process answered",
                to - from
            )
        }
        None => String::new(),
    };
    report(
        name, &log, killed, returned, gap, gap_at, backlog, landed, &found,
    );
    assert!(
        gap < Duration::from_secs(2),
        "a gap of {gap:?} between acknowledgements, from {} the upstream's kill{not_counting}",
        relative(gap_at, killed)
    );
    assert_upstream_ids_kept(&log, killed, &found);
}

/// Journaled writes replay in the order they were acknowledged: 200 RPUSHes to one list
/// during an outage arrive as 1..200.
#[test]
fn writes_during_an_outage_replay_in_order() {
    let mut redis = RedisServer::start_with(REDIS_ARGS);
    let (port, dir) = (redis.port, redis.dir.clone());
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let mut c = sidecar.client();
    redis.kill();
    until_ok(&mut c, &["SET", "during", "1"]);
    for i in 1..=200 {
        assert_eq!(
            c.call(&["RPUSH", "celery", &i.to_string()]),
            format!(":{i}\r\n")
        );
    }
    let restarted = RedisServer::start_in(port, dir, REDIS_ARGS);
    let mut direct = restarted.client();
    let expected: String = (1..=200)
        .map(|i| format!("${}\r\n{i}\r\n", i.to_string().len()))
        .collect();
    let expected = format!("*200\r\n{expected}");
    let mut last = Bytes::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while last != expected.as_bytes() {
        assert!(
            Instant::now() < deadline,
            "LRANGE celery upstream is {}",
            show(&last)
        );
        std::thread::sleep(Duration::from_millis(10));
        last = direct.call(&["LRANGE", "celery", "0", "-1"]);
    }
}

/// Polls the upstream until the last fresh key acknowledged before `returned` is there (the
/// journal replays in order, so the outage's writes have then landed); how long after
/// `returned` that was.
fn outage_backlog_landed(writer: &Writer, upstream: SocketAddr, returned: Instant) -> Duration {
    let log = writer.log();
    let last = log.iter().rev().find_map(|r| match &r.write {
        Write::Set { key, value } if r.ack.is_some() && r.at < returned && !key.contains("hot") => {
            Some((key.clone(), value.clone()))
        }
        _ => None,
    });
    let (key, value) = last.expect("a write acknowledged before the return");
    let mut direct = RawClient::connect(upstream);
    let want = format!("${}\r\n{value}\r\n", value.len());
    wait_until(
        "the outage's writes on the upstream",
        Duration::from_secs(20),
        || direct.call(&["GET", &key]) == want.as_bytes(),
    );
    returned.elapsed()
}

/// Entries the upstream itself acknowledged (before the kill) keep their ids; entries the
/// store acknowledged were given `*` and get new ids at replay (README: "Stream ids given as
/// `*` are assigned again by the upstream at replay").
fn assert_upstream_ids_kept(log: &[Record], killed: Instant, found: &Comparison) {
    let before_kill: HashSet<&str> = log
        .iter()
        .filter(|r| r.at < killed && matches!(r.write, Write::Xadd { .. }))
        .filter_map(|r| r.ack.as_deref())
        .collect();
    let changed: Vec<_> = found
        .reassigned_ids
        .iter()
        .filter(|(acked, _)| before_kill.contains(acked.as_str()))
        .collect();
    assert!(
        changed.is_empty(),
        "entries acknowledged by the upstream have other ids there: {changed:?}"
    );
}

/// The measured figures, for the test output.
#[allow(clippy::too_many_arguments)]
fn report(
    test: &str,
    log: &[Record],
    killed: Instant,
    returned: Instant,
    gap: Duration,
    gap_at: Instant,
    backlog: Duration,
    landed: Duration,
    found: &Comparison,
) {
    let acked = log.iter().filter(|r| r.ack.is_some()).count();
    eprintln!(
        "{test}: {acked} writes acknowledged, {} unknown (error or lost connection); upstream down {:?}; \
         longest gap {gap:?} from {} the kill; outage's writes upstream {backlog:?} after \
         its return, all checked {landed:?} after; {} stream ids reassigned at replay",
        log.len() - acked,
        returned - killed,
        relative(gap_at, killed),
        found.reassigned_ids.len()
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

/// `at` as "1.2s after" or "30ms before" `reference`.
fn relative(at: Instant, reference: Instant) -> String {
    match at.checked_duration_since(reference) {
        Some(after) => format!("{after:?} after"),
        None => format!("{:?} before", reference - at),
    }
}
