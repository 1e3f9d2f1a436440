//! Issue 3: the embedded store as the primary keeps its data in an append-only file: a restarted
//! sidecar finds every type, TTL and database; the file is compacted as it grows; a torn last
//! entry is cut off with a warning; corruption elsewhere stops the start with a clear error.

mod support;

use std::path::Path;
use std::time::Duration;

use redis_sidecar::config::{Cli, Config};
use support::{show, temp_dir, wait_until, RawClient, Sidecar};

const AOF: &str = "appendonly.aof";

/// Writes one of each type, TTLs, several databases, pops, a transaction and a script.
fn write_dataset(c: &mut RawClient) {
    let ok = |c: &mut RawClient, args: &[&str]| {
        let reply = c.call(args);
        assert!(!reply.starts_with(b"-"), "{args:?}: {}", show(&reply));
    };
    ok(c, &["SET", "str", "hello"]);
    ok(c, &["SET", "ttl", "v", "EX", "1000"]);
    ok(c, &["SET", "counter", "10"]);
    ok(c, &["INCRBY", "counter", "5"]);
    ok(c, &["INCRBYFLOAT", "counter", "0.25"]);
    ok(c, &["RPUSH", "celery", "t1", "t2", "t3", "t4"]);
    ok(c, &["LPOP", "celery"]);
    ok(c, &["RPOP", "celery"]);
    ok(c, &["HSET", "sse:1", "status", "open", "seq", "7"]);
    ok(c, &["HINCRBY", "sse:1", "seq", "1"]);
    ok(c, &["SADD", "set", "a", "b", "c", "12"]);
    ok(c, &["SPOP", "set"]);
    ok(
        c,
        &[
            "ZADD",
            "rate_limit:u",
            "0.1",
            "x",
            "1e300",
            "y",
            "-inf",
            "z",
            "3",
            "w",
        ],
    );
    ok(c, &["ZINCRBY", "rate_limit:u", "0.2", "x"]);
    ok(c, &["XADD", "flow:events:1", "*", "type", "start"]);
    ok(c, &["XADD", "flow:events:1", "*", "type", "step"]);
    ok(
        c,
        &["XADD", "flow:events:1", "99999999999999-5", "type", "end"],
    );
    ok(c, &["XGROUP", "CREATE", "flow:events:1", "workers", "0"]);
    ok(
        c,
        &["XGROUP", "CREATECONSUMER", "flow:events:1", "workers", "w1"],
    );
    ok(c, &["XADD", "gone", "5-5", "f", "v"]);
    ok(c, &["XDEL", "gone", "5-5"]);
    ok(c, &["PEXPIRE", "sse:1", "5000000"]);
    ok(c, &["MULTI"]);
    ok(c, &["SET", "tx", "1"]);
    ok(c, &["RPUSH", "tx:list", "a"]);
    ok(c, &["EXEC"]);
    ok(
        c,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], 'lua') return 1",
            "1",
            "scripted",
        ],
    );
    ok(c, &["SET", "deleted", "x"]);
    ok(c, &["DEL", "deleted"]);
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", "lock:job", "owner", "NX", "PX", "9000000"]);
    ok(c, &["SADD", "db3set", "m"]);
    ok(c, &["SELECT", "15"]);
    ok(c, &["HSET", "h15", "f", "v"]);
    ok(c, &["SELECT", "0"]);
}

/// Reads everything `write_dataset` wrote, as exact reply bytes (TTLs as absolute times).
fn read_dataset(c: &mut RawClient) -> Vec<String> {
    let reads: &[&[&str]] = &[
        &["SELECT", "0"],
        &["DBSIZE"],
        &["GET", "str"],
        &["GET", "ttl"],
        &["PEXPIRETIME", "ttl"],
        &["GET", "counter"],
        &["LRANGE", "celery", "0", "-1"],
        &["HGETALL", "sse:1"],
        &["PEXPIRETIME", "sse:1"],
        &["SCARD", "set"],
        &["SORT", "set", "ALPHA"],
        &["ZRANGE", "rate_limit:u", "0", "-1", "WITHSCORES"],
        &["XRANGE", "flow:events:1", "-", "+"],
        &["XINFO", "GROUPS", "flow:events:1"],
        &["XLEN", "gone"],
        &["TYPE", "gone"],
        &["GET", "tx"],
        &["LRANGE", "tx:list", "0", "-1"],
        &["GET", "scripted"],
        &["EXISTS", "deleted"],
        &["PEXPIRETIME", "str"],
        &["SELECT", "3"],
        &["DBSIZE"],
        &["GET", "lock:job"],
        &["PEXPIRETIME", "lock:job"],
        &["SMEMBERS", "db3set"],
        &["SELECT", "15"],
        &["HGETALL", "h15"],
        &["SELECT", "0"],
    ];
    reads.iter().map(|args| show(&c.call(args))).collect()
}

fn config(dir: &Path, extra: &str) -> (String, std::path::PathBuf) {
    (format!("[store]\n{extra}\n"), dir.to_path_buf())
}

fn start(dir: &Path, extra: &str) -> Sidecar {
    let (toml, dir) = config(dir, extra);
    Sidecar::embedded_with(&toml, &dir)
}

#[test]
fn a_restarted_sidecar_keeps_every_type_ttl_and_database() {
    let dir = temp_dir();
    let before = {
        let sidecar = start(&dir, "");
        let mut c = sidecar.client();
        write_dataset(&mut c);
        let stream_id = c.call(&["XADD", "flow:events:1", "*", "type", "late"]);
        assert!(stream_id.starts_with(b"$"), "{}", show(&stream_id));
        read_dataset(&mut c)
    };
    assert!(
        before[6].contains("t2⏎") && !before[6].contains("t1"),
        "pops applied: {}",
        before[6]
    );
    let sidecar = start(&dir, "");
    let mut c = sidecar.client();
    let after = read_dataset(&mut c);
    assert_eq!(after, before);
    // And it goes on appending: a second restart sees writes made after the first.
    c.call(&["SET", "later", "1"]);
    drop(c);
    drop(sidecar);
    let sidecar = start(&dir, "");
    let mut c = sidecar.client();
    assert_eq!(show(&c.call(&["GET", "later"])), "$1⏎1⏎");
    assert_eq!(read_dataset(&mut c)[2..], before[2..]);
}

#[test]
fn appendfsync_always_has_the_write_in_the_file_before_the_reply() {
    let dir = temp_dir();
    let sidecar = start(&dir, "appendfsync = \"always\"");
    let mut c = sidecar.client();
    for i in 0..20 {
        let value = format!("durable-{i}");
        assert_eq!(show(&c.call(&["SET", "k", &value])), "+OK⏎");
        let file = std::fs::read(dir.join(AOF)).unwrap();
        assert!(
            file.windows(value.len()).any(|w| w == value.as_bytes()),
            "{value} not in the file when acknowledged"
        );
    }
}

#[test]
fn appendfsync_everysec_reaches_the_file_without_a_restart() {
    let dir = temp_dir();
    let sidecar = start(&dir, "appendfsync = \"everysec\"");
    let mut c = sidecar.client();
    c.call(&["SET", "k", "written-soon"]);
    wait_until(
        "the write to reach the file",
        Duration::from_secs(5),
        || {
            let file = std::fs::read(dir.join(AOF)).unwrap();
            file.windows(12).any(|w| w == b"written-soon")
        },
    );
}

#[test]
fn appendonly_off_keeps_nothing() {
    let dir = temp_dir();
    {
        let sidecar = start(&dir, "appendonly = false");
        sidecar.client().call(&["SET", "k", "v"]);
    }
    assert!(!dir.join(AOF).exists());
    let sidecar = start(&dir, "appendonly = false");
    assert_eq!(show(&sidecar.client().call(&["GET", "k"])), "$-1⏎");
}

#[test]
fn compaction_keeps_the_data_and_shrinks_the_file() {
    let dir = temp_dir();
    let extra = "auto_aof_rewrite_min_size = \"32kb\"";
    let before = {
        let sidecar = start(&dir, extra);
        let mut c = sidecar.client();
        write_dataset(&mut c);
        // Many overwrites of few keys: the log grows, the data does not.
        let mut peak = 0;
        for i in 0..3000 {
            c.call(&["INCR", "hits"]);
            c.call(&["SET", "state", &format!("state-{i:06}")]);
            peak = peak.max(std::fs::metadata(dir.join(AOF)).map_or(0, |m| m.len()));
        }
        assert!(peak > 64 * 1024, "the file grew to {peak} bytes");
        wait_until(
            "a rewrite to shrink the file",
            Duration::from_secs(10),
            || std::fs::metadata(dir.join(AOF)).unwrap().len() < 8 * 1024,
        );
        // Writes after the rewrite are appended to the new file.
        c.call(&["SET", "after-rewrite", "yes"]);
        let mut reads = read_dataset(&mut c);
        reads.push(show(&c.call(&["GET", "hits"])));
        reads.push(show(&c.call(&["GET", "state"])));
        reads.push(show(&c.call(&["GET", "after-rewrite"])));
        reads
    };
    assert!(before.iter().any(|r| r == "$4⏎3000⏎"), "{before:?}");
    let sidecar = start(&dir, extra);
    let mut c = sidecar.client();
    let mut after = read_dataset(&mut c);
    after.push(show(&c.call(&["GET", "hits"])));
    after.push(show(&c.call(&["GET", "state"])));
    after.push(show(&c.call(&["GET", "after-rewrite"])));
    assert_eq!(after, before);
}

#[test]
fn a_torn_last_entry_is_cut_off_not_a_crash() {
    let dir = temp_dir();
    {
        let sidecar = start(&dir, "");
        let mut c = sidecar.client();
        c.call(&["SET", "kept", "1"]);
        c.call(&["RPUSH", "list", "a", "b"]);
    }
    let path = dir.join(AOF);
    let intact = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of writing an entry.
    append(&path, b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$10\r\nhal");
    {
        let sidecar = start(&dir, "");
        let mut c = sidecar.client();
        assert_eq!(show(&c.call(&["GET", "kept"])), "$1⏎1⏎");
        assert_eq!(show(&c.call(&["EXISTS", "torn"])), ":0⏎");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            intact,
            "torn bytes cut off"
        );
        c.call(&["RPUSH", "list", "c"]);
    }
    // A transaction whose EXEC never reached the file did not happen.
    append(
        &path,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1\r\n1\r\n",
    );
    {
        let sidecar = start(&dir, "");
        let mut c = sidecar.client();
        assert_eq!(show(&c.call(&["EXISTS", "half"])), ":0⏎");
        assert_eq!(
            show(&c.call(&["LRANGE", "list", "0", "-1"])),
            "*3⏎$1⏎a⏎$1⏎b⏎$1⏎c⏎"
        );
        c.call(&["SET", "after", "1"]);
    }
    let sidecar = start(&dir, "");
    let mut c = sidecar.client();
    assert_eq!(show(&c.call(&["GET", "after"])), "$1⏎1⏎");
    assert_eq!(show(&c.call(&["EXISTS", "half"])), ":0⏎");
}

#[test]
fn a_corrupt_entry_in_the_middle_stops_the_start_with_its_offset() {
    let dir = temp_dir();
    std::fs::write(
        dir.join(AOF),
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$x\r\n*1\r\n$4\r\nPING\r\n",
    )
    .unwrap();
    let file = temp_dir().join("sidecar.toml");
    std::fs::write(&file, "").unwrap();
    let cli = Cli {
        listen: Some("127.0.0.1:0".into()),
        http: Some("127.0.0.1:0".into()),
        config: Some(file),
        data_dir: Some(dir.clone()),
        ..Cli::default()
    };
    let config = Config::load_with_env(&cli, |_| None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = match runtime.block_on(redis_sidecar::server::Server::bind(config)) {
        Ok(_) => panic!("a corrupt file must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("appendonly.aof is corrupt at byte 27"),
        "{err}"
    );
    assert!(err.contains("Protocol error"), "{err}");
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}
