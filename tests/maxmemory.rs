//! Issue 3: maxmemory. With allkeys-lru the store evicts least recently used keys so that a long
//! outage (or a busy primary) cannot exhaust the host: measured with the store's own accounting
//! (INFO used_memory), not RSS. With noeviction, writes are refused with Redis's exact OOM error.

mod support;

use std::time::Duration;

use support::{show, temp_dir, RawClient, RedisServer, Sidecar};

/// A field of INFO's text, as a number.
fn info_field(c: &mut RawClient, section: &str, field: &str) -> u64 {
    let reply = c.call(&["INFO", section]);
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}

fn sidecar(maxmemory: &str, policy: &str) -> Sidecar {
    let toml = format!(
        "[store]\nmaxmemory = \"{maxmemory}\"\nmaxmemory_policy = \"{policy}\"\nappendonly = false\n"
    );
    Sidecar::embedded_with(&toml, &temp_dir())
}

#[test]
fn writing_three_times_maxmemory_stays_under_the_limit() {
    let sidecar = sidecar("2mb", "allkeys-lru");
    let mut c = sidecar.client();
    let limit = info_field(&mut c, "memory", "maxmemory");
    assert_eq!(limit, 2 * 1024 * 1024);
    let value = "v".repeat(1000);
    let mut written = 0u64;
    let mut i = 0;
    while written < 3 * limit {
        // Every type counts, not only strings.
        let key = format!("flow:state:{i}");
        let reply = match i % 4 {
            0 => c.call(&["SET", &key, &value]),
            1 => c.call(&["RPUSH", &key, &value]),
            2 => c.call(&["HSET", &key, "f", &value]),
            _ => c.call(&["XADD", &key, "*", "f", &value]),
        };
        assert!(!reply.starts_with(b"-"), "write refused: {}", show(&reply));
        written += value.len() as u64 + key.len() as u64;
        i += 1;
        if i % 250 == 0 {
            let used = info_field(&mut c, "memory", "used_memory");
            // Eviction runs before each command: at most the last write's size above the limit.
            assert!(
                used <= limit + 2000,
                "used {used} > limit {limit} after {written} bytes"
            );
        }
    }
    let used = info_field(&mut c, "memory", "used_memory");
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    let keys: u64 = show(&c.call(&["DBSIZE"]))
        .trim_start_matches(':')
        .trim_end_matches('⏎')
        .parse()
        .unwrap();
    assert!(used <= limit + 2000 && used > limit / 2, "used {used}");
    assert!(
        evicted > 0 && keys + evicted == i as u64,
        "{keys} keys + {evicted} evicted != {i}"
    );
    // Deleting gives the memory back to the accounting.
    c.call(&["FLUSHALL"]);
    assert!(info_field(&mut c, "memory", "used_memory") < 1024 * 1024);
}

#[test]
fn recently_read_keys_survive_eviction_better_than_untouched_ones() {
    let sidecar = sidecar("3mb", "allkeys-lru");
    let mut c = sidecar.client();
    let value = "x".repeat(1000);
    for i in 0..1500 {
        c.call(&["SET", &format!("old:{i}"), &value]);
    }
    assert_eq!(
        info_field(&mut c, "stats", "evicted_keys"),
        0,
        "all fit at first"
    );
    // The LRU clock counts milliseconds: let it move past the writes.
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..300 {
        assert!(c.call(&["GET", &format!("old:{i}")]).starts_with(b"$1000"));
    }
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..1500 {
        c.call(&["SET", &format!("new:{i}"), &value]);
    }
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!(evicted > 900, "only {evicted} evicted");
    let alive = |c: &mut RawClient, range: std::ops::Range<usize>| {
        let n = range.len() as f64;
        let alive = range
            .filter(|i| c.call(&["EXISTS", &format!("old:{i}")]) == ":1\r\n")
            .count();
        alive as f64 / n
    };
    let hot = alive(&mut c, 0..300);
    let cold = alive(&mut c, 300..1500);
    assert!(
        hot > 0.8,
        "only {hot:.2} of the recently read keys survived"
    );
    assert!(
        cold < 0.5 && cold < hot,
        "untouched {cold:.2} vs read {hot:.2}"
    );
}

#[test]
fn an_evicted_key_invalidates_its_watchers() {
    let sidecar = sidecar("2mb", "allkeys-lru");
    let mut watcher = sidecar.client();
    let mut writer = sidecar.client();
    writer.call(&["SET", "watched", "1"]);
    std::thread::sleep(Duration::from_millis(5)); // the LRU clock counts milliseconds
    assert_eq!(show(&watcher.call(&["WATCH", "watched"])), "+OK⏎");
    let value = "x".repeat(1000);
    for i in 0..3000 {
        writer.call(&["SET", &format!("k{i}"), &value]);
    }
    assert_eq!(
        show(&writer.call(&["EXISTS", "watched"])),
        ":0⏎",
        "the oldest key was evicted"
    );
    watcher.call(&["MULTI"]);
    watcher.call(&["SET", "watched", "2"]);
    assert_eq!(show(&watcher.call(&["EXEC"])), "*-1⏎");
}

#[test]
fn noeviction_refuses_writes_with_redis_exact_error() {
    let redis =
        RedisServer::start_with(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let sidecar = sidecar("1mb", "noeviction");
    let (mut real, mut ours) = (redis.client(), sidecar.client());
    let value = "x".repeat(10_000);
    let fill = |c: &mut RawClient| -> String {
        for i in 0..1000 {
            let reply = c.call(&["SET", &format!("k{i}"), &value]);
            if reply.starts_with(b"-") {
                return show(&reply);
            }
        }
        panic!("never refused");
    };
    let (real_err, our_err) = (fill(&mut real), fill(&mut ours));
    assert_eq!(our_err, real_err);
    assert_eq!(
        our_err,
        "-OOM command not allowed when used memory > 'maxmemory'.⏎"
    );
    // Near the limit, whether a small write fits depends on each server's baseline: lower the
    // limit on both so that every write that may grow memory is refused, then compare.
    for c in [&mut real, &mut ours] {
        assert_eq!(show(&c.call(&["CONFIG", "SET", "maxmemory", "1"])), "+OK⏎");
    }
    for args in [
        &["RPUSH", "l", "a"][..],
        &["HSET", "h", "f", "v"],
        &["ZADD", "z", "1", "m"],
        &["XADD", "s", "*", "f", "v"],
        &["MULTI"],
        &["SET", "in-multi", "v"],
        &["GET", "in-multi"],
        &["EXEC"],
        &["GET", "k0"],
        &["EXISTS", "k1"],
        &["DEL", "k1"],
        &["INCR", "k2"],
        &["SET", "k3", "x"],
        &["EXPIRE", "k4", "100"],
    ] {
        let (r, o) = (real.call(args), ours.call(args));
        assert_eq!(show(&o), show(&r), "{args:?}");
    }
    // A transaction queued under the limit and executed over it is aborted as a whole.
    let (mut real2, mut ours2) = (redis.client(), sidecar.client());
    for c in [&mut real, &mut ours] {
        c.call(&["CONFIG", "SET", "maxmemory", "100mb"]);
        c.call(&["MULTI"]);
        c.call(&["SET", "tx", "1"]);
    }
    real2.call(&["CONFIG", "SET", "maxmemory", "1"]);
    ours2.call(&["CONFIG", "SET", "maxmemory", "1"]);
    let (r, o) = (real.call(&["EXEC"]), ours.call(&["EXEC"]));
    assert_eq!(show(&o), show(&r));
    assert!(show(&o).starts_with("-EXECABORT Transaction discarded because of: OOM"));
    // Raising the limit again makes room.
    for c in [&mut real, &mut ours] {
        c.call(&["CONFIG", "SET", "maxmemory", "100mb"]);
        assert_eq!(show(&c.call(&["SET", "room", "1"])), "+OK⏎");
    }
}
