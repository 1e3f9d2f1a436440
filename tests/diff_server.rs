//! Server commands: INFO's structure, CLIENT, CONFIG, MEMORY, OBJECT, SAVE, WAIT against
//! redis-server. INFO and CLIENT LIST values differ by nature; their structure is compared.

mod support;

use bytes::Bytes;
use support::{show, Differential};

/// Fields the platform's monitors read: they must be present.
const REQUIRED: &[&str] = &[
    "redis_version",
    "uptime_in_seconds",
    "connected_clients",
    "blocked_clients",
    "used_memory",
    "used_memory_human",
    "maxmemory",
    "maxmemory_policy",
    "total_commands_processed",
    "keyspace_hits",
    "keyspace_misses",
];

/// Fields of the sidecar's own, not in Redis.
const OURS_ONLY: &[&str] = &["pubsub_dropped_messages"];

/// The text of a bulk or verbatim reply.
fn text(reply: &Bytes) -> String {
    let s = String::from_utf8_lossy(reply).to_string();
    let body = s.split_once("\r\n").map_or("", |(_, b)| b);
    let body = body.strip_suffix("\r\n").unwrap_or(body);
    body.strip_prefix("txt:").unwrap_or(body).to_string()
}

/// INFO text as (section, field names) in order.
fn structure(info: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in info.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(title) = line.strip_prefix("# ") {
            sections.push((title.to_string(), Vec::new()));
        } else if let Some((_, fields)) = sections.last_mut() {
            fields.push(line.split(':').next().unwrap_or("").to_string());
        }
    }
    sections
}

fn check_info(d: &mut Differential, args: &[&str]) {
    let (real, ours) = (d.real.call(args), d.ours.call(args));
    assert_eq!(ours[0], real[0], "reply type of {args:?}: {}", show(&ours));
    let (real, ours) = (structure(&text(&real)), structure(&text(&ours)));
    let titles = |s: &[(String, Vec<String>)]| s.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(titles(&ours), titles(&real), "sections of {args:?}");
    for ((title, ours), (_, real)) in ours.iter().zip(&real) {
        for field in ours {
            let known = real.contains(field) || OURS_ONLY.contains(&field.as_str());
            // Keyspace lines are per database; Commandstats etc. depend on history.
            assert!(
                known || title == "Keyspace",
                "{title} field {field} is not Redis's ({args:?})"
            );
        }
    }
}

#[test]
fn info_has_redis_sections_and_fields() {
    let mut d = Differential::new();
    d.check_all("SET a 1\nSET b 2\nSELECT 2\nSET c 3\nSELECT 0");
    for resp3 in [false, true] {
        if resp3 {
            d.real.call(&["HELLO", "3"]);
            d.ours.call(&["HELLO", "3"]);
        }
        check_info(&mut d, &["INFO"]);
        check_info(&mut d, &["INFO", "all"]);
        check_info(&mut d, &["INFO", "everything"]);
        check_info(&mut d, &["INFO", "default"]);
        check_info(&mut d, &["INFO", "keyspace", "SERVER", "clients"]);
        check_info(&mut d, &["INFO", "default", "commandstats"]);
        check_info(&mut d, &["INFO", "cpu"]);
        // Keys without TTL: the keyspace section agrees to the byte.
        d.check(&["INFO", "keyspace"]);
        d.check(&["INFO", "nosuchsection"]);
    }
    let info = text(&d.ours.call(&["INFO", "all"]));
    for field in REQUIRED {
        assert!(
            info.contains(&format!("\r\n{field}:")),
            "INFO lacks {field}"
        );
    }
    assert!(info.contains("\r\nblocked_clients:0\r\n"));
    assert!(info.contains("\r\nconnected_clients:1\r\n"));
    assert!(info.contains("\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n"));
}

#[test]
fn info_counts_clients_and_commands() {
    let d = Differential::new();
    let mut a = d.sidecar.client();
    let mut b = d.sidecar.client();
    b.call(&["PING"]);
    let count = |s: &str, field: &str| -> u64 {
        let line = s
            .split("\r\n")
            .find(|l| l.starts_with(field))
            .unwrap()
            .to_string();
        line.split(':').nth(1).unwrap().parse().unwrap()
    };
    let first = text(&a.call(&["INFO", "stats", "clients"]));
    assert_eq!(count(&first, "connected_clients:"), 2);
    let second = text(&a.call(&["INFO", "stats"]));
    let (c1, c2) = (
        count(&first, "total_commands_processed:"),
        count(&second, "total_commands_processed:"),
    );
    assert_eq!(c2, c1 + 1);
    drop(b);
    // The disconnect is processed asynchronously.
    support::wait_until(
        "b to be forgotten",
        std::time::Duration::from_secs(5),
        || count(&text(&a.call(&["INFO", "clients"])), "connected_clients:") == 1,
    );
    let list = text(&a.call(&["CLIENT", "LIST"]));
    assert_eq!(list.lines().count(), 1, "{list}");
}

/// INFO stats's keyspace_hits and keyspace_misses (what the platform's monitor turns into its
/// cache hit ratio) count read lookups as redis-server does: per key, hits and misses of read
/// commands, nothing for writes.
#[test]
fn keyspace_hits_and_misses_agree() {
    let mut d = Differential::new();
    d.check_all(
        "SET s v
        SET cache:flow:1 x
        HSET h f v
        RPUSH l a b
        GET s
        GET missing
        MGET s cache:flow:1 nope
        EXISTS s nope
        TYPE h
        TTL nope
        HGET h nofield
        HGET nohash f
        LRANGE l 0 -1
        STRLEN s
        INCR counter
        DEL s
        GET s
        OBJECT ENCODING l
        DBSIZE",
    );
    d.check(&[
        "EVAL",
        "return redis.call('GET', KEYS[1])",
        "1",
        "cache:flow:1",
    ]);
    d.check_unordered(&["KEYS", "*"]);
    // Replies that differ by design (order, chance, estimates), for their lookups.
    for args in [
        &["SCAN", "0"][..],
        &["RANDOMKEY"],
        &["MEMORY", "USAGE", "h"],
    ] {
        d.real.call(args);
        d.ours.call(args);
    }
    let field = |info: &Bytes, name: &str| -> String {
        text(info)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
            .unwrap_or_default()
    };
    let (real, ours) = (
        d.real.call(&["INFO", "stats"]),
        d.ours.call(&["INFO", "stats"]),
    );
    for name in ["keyspace_hits", "keyspace_misses"] {
        assert_eq!(field(&ours, name), field(&real, name), "{name}");
    }
    assert_ne!(field(&real, "keyspace_hits"), "0");
}

/// CLIENT INFO / LIST lines carry Redis's fields in Redis's order (plus 7.2's lib-name and
/// lib-ver, which 7.0 lacks).
#[test]
fn client_info_and_list_lines_have_redis_fields() {
    let mut d = Differential::new();
    let names = |line: &str| -> Vec<String> {
        line.split_whitespace()
            .map(|kv| kv.split('=').next().unwrap().to_string())
            .filter(|k| k != "lib-name" && k != "lib-ver")
            .collect()
    };
    for args in [
        &["CLIENT", "INFO"][..],
        &["CLIENT", "LIST"],
        &["CLIENT", "LIST", "TYPE", "normal"],
    ] {
        let (real, ours) = (d.real.call(args), d.ours.call(args));
        assert_eq!(ours[0], real[0], "reply type of {args:?}");
        let (real, ours) = (text(&real), text(&ours));
        assert_eq!(names(&ours), names(&real), "{args:?}");
        assert!(
            ours.ends_with('\n') && ours.contains("cmd=client|"),
            "{ours}"
        );
    }
    d.check(&["CLIENT", "SETNAME", "me"]);
    assert!(text(&d.ours.call(&["CLIENT", "INFO"])).contains(" name=me "));
    d.real.call(&["HELLO", "3", "SETNAME", "x"]);
    d.ours.call(&["HELLO", "3", "SETNAME", "x"]);
    let line = text(&d.ours.call(&["CLIENT", "INFO"]));
    assert!(
        line.contains(" resp=3 ") && line.contains(" name=x "),
        "{line}"
    );
    d.check(&["CLIENT", "LIST", "ID", "99999"]);
    d.check(&["CLIENT", "LIST", "TYPE", "pubsub"]);
}

#[test]
fn client_subcommands_agree() {
    let mut d = Differential::new();
    d.check_all(
        "CLIENT TRACKING off
         CLIENT GETREDIR
         CLIENT TRACKINGINFO
         CLIENT PAUSE
         CLIENT PAUSE abc
         CLIENT PAUSE -1
         CLIENT PAUSE 10 foo
         CLIENT PAUSE 10 WRITE
         CLIENT PAUSE 10 all
         CLIENT UNPAUSE
         CLIENT UNPAUSE x
         CLIENT NO-EVICT maybe
         CLIENT NO-EVICT on
         CLIENT NO-EVICT off
         CLIENT KILL
         CLIENT KILL 1.2.3.4:5
         CLIENT KILL ID 99999
         CLIENT KILL ID abc
         CLIENT KILL ID 0
         CLIENT KILL foo bar
         CLIENT KILL SKIPME maybe
         CLIENT KILL TYPE foo
         CLIENT KILL TYPE pubsub
         CLIENT KILL TYPE master
         CLIENT KILL ADDR 1.2.3.4:5 SKIPME no
         CLIENT KILL ID 1 foo
         CLIENT LIST TYPE foo
         CLIENT LIST foo
         CLIENT LIST ID x
         CLIENT INFO x
         CLIENT ID x
         CLIENT NOSUCH",
    );
    d.check(&["CLIENT", "TRACKINGINFO"]);
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check(&["CLIENT", "TRACKINGINFO"]);
    // Tracking is refused clearly rather than silently ignored.
    let reply = d.ours.call(&["CLIENT", "TRACKING", "on"]);
    assert!(
        reply.starts_with(b"-ERR CLIENT TRACKING is not supported"),
        "{}",
        show(&reply)
    );
}

#[test]
fn client_kill_of_itself_closes_the_connection() {
    let mut d = Differential::new();
    for (client, cid) in [(&mut d.real, "real"), (&mut d.ours, "ours")] {
        let own = String::from_utf8_lossy(&client.call(&["CLIENT", "ID"]))
            .trim_start_matches(':')
            .trim()
            .to_string();
        let reply = client.call(&["CLIENT", "KILL", "ID", &own, "SKIPME", "no"]);
        assert_eq!(show(&reply), ":1⏎", "{cid}");
        assert!(client.try_read_reply().is_none(), "{cid} still open");
    }
}

#[test]
fn config_agrees() {
    let mut d = Differential::new();
    d.check_all(
        "CONFIG GET
         CONFIG GET nosuch
         CONFIG GET save
         CONFIG GET appendonly
         CONFIG GET databases
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory 100mb
         CONFIG GET maxmemory
         CONFIG GET MAXMEMORY
         CONFIG SET maxmemory 10M
         CONFIG GET maxmemory
         CONFIG SET maxmemory 1k
         CONFIG GET maxmemory
         CONFIG SET maxmemory abc
         CONFIG SET maxmemory -1
         CONFIG SET maxmemory 1.5mb
         CONFIG SET maxmemory 1k maxmemory 2k
         CONFIG SET maxmemory 1k appendonly
         CONFIG SET nosuch 1
         CONFIG SET appendonly no
         CONFIG SET maxmemory-policy noeviction
         CONFIG SET
         CONFIG SET maxmemory
         CONFIG RESETSTAT
         CONFIG RESETSTAT x
         CONFIG foo
         CONFIG SET maxmemory 0
         CONFIG GET maxmemory",
    );
    d.check_unordered(&["CONFIG", "GET", "maxmemory*"]);
    d.check_unordered(&[
        "CONFIG",
        "GET",
        "save",
        "databases",
        "appendonly",
        "maxmemory",
    ]);
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all("CONFIG GET maxmemory\nCONFIG GET nosuch");
}

#[test]
fn memory_object_and_persistence_agree() {
    let mut d = Differential::new();
    let long = "x".repeat(45);
    d.check_all(&format!(
        "SET int 123
         SET big 123456789012345
         SET str hello
         SET long {long}
         SET neg -5
         OBJECT ENCODING int
         OBJECT ENCODING big
         OBJECT ENCODING str
         OBJECT ENCODING long
         OBJECT ENCODING nokey
         OBJECT ENCODING
         OBJECT ENCODING a b
         OBJECT REFCOUNT int
         OBJECT REFCOUNT neg
         OBJECT REFCOUNT str
         OBJECT REFCOUNT nokey
         OBJECT IDLETIME nokey
         OBJECT FREQ str
         OBJECT FREQ nokey
         OBJECT foo
         MEMORY USAGE nokey
         MEMORY USAGE
         MEMORY USAGE str foo
         MEMORY USAGE str SAMPLES x
         MEMORY USAGE str SAMPLES 5 x
         MEMORY PURGE
         MEMORY foo
         WAIT 0 0
         WAIT 1 10
         WAIT a 0
         WAIT 0 -1
         WAIT 0 x
         WAIT 0
         LASTSAVE x
         SAVE x
         SAVE
         BGSAVE foo
         BGSAVE"
    ));
    let usage = d.ours.call(&["MEMORY", "USAGE", "str"]);
    assert!(usage.starts_with(b":"), "{}", show(&usage));
    let (real, ours) = (d.real.call(&["LASTSAVE"]), d.ours.call(&["LASTSAVE"]));
    assert!(real.starts_with(b":") && ours.starts_with(b":"));
    let ours = d.ours.call(&["BGREWRITEAOF"]);
    assert_eq!(
        show(&ours),
        "+Background append only file rewriting started⏎"
    );
}

/// MONITOR lines agree with redis-server's once the time and the client's address are masked:
/// the same commands, quoting, order (a transaction's and a script's commands before the EXEC
/// or EVAL that ran them) and hidden administrative commands.
#[test]
fn monitor_lines_agree() {
    let d = Differential::new();
    let lines = |addr: std::net::SocketAddr| -> Vec<String> {
        let mut monitor = support::RawClient::connect(addr);
        assert_eq!(monitor.call(&["MONITOR"]), "+OK\r\n");
        let mut c = support::RawClient::connect(addr);
        let commands: &[&[&str]] = &[
            &["SET", "k", "a \"b\"\n\u{7f}"],
            &["GET", "k"],
            &["CONFIG", "GET", "maxmemory"],
            &["MULTI"],
            &["INCR", "n"],
            &["EXEC"],
            &["EVAL", "return redis.call('SET', KEYS[1], '1')", "1", "x"],
            &["MULTI"],
            &["EVAL", "return redis.call('SET', KEYS[1], '2')", "1", "x"],
            &["GET", "x"],
            &["EXEC"],
            &["HELLO", "2", "AUTH", "default", "secret"],
            &["PING"],
        ];
        for cmd in commands {
            c.call(cmd);
        }
        let flags: Vec<String> = support::client_list(&mut c)
            .iter()
            .filter(|l| l.contains(" cmd=monitor "))
            .filter_map(|l| l.split(' ').find(|f| f.starts_with("flags=")))
            .map(str::to_string)
            .collect();
        assert_eq!(flags.len(), 1, "the monitor's CLIENT LIST line");
        let mut seen = vec![format!("the monitor in CLIENT LIST: {flags:?}")];
        loop {
            let line = String::from_utf8_lossy(&monitor.read_reply()).into_owned();
            // `+<secs>.<micros> [<db> <addr>] ...`: keep the db and what follows the address.
            let (_, rest) = line
                .split_once(" [")
                .unwrap_or_else(|| panic!("a monitor line: {line:?} after {seen:?}"));
            let (db_addr, args) = rest.split_once("] ").expect("a monitor line");
            let (db, addr) = db_addr.split_once(' ').unwrap();
            let source = if addr == "lua" { "lua" } else { "client" };
            seen.push(format!("{db} {source} {}", args.trim_end()));
            if args.starts_with("\"PING\"") {
                return seen;
            }
        }
    };
    assert_eq!(lines(d.sidecar.addr), lines(d.redis.addr()));
}
