//! Keyspace and expiry commands: the embedded store answers byte for byte as redis-server 7.0.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{wait_until, Differential, RawClient};

#[test]
fn del_exists_type_touch() {
    let mut d = Differential::new();
    d.check_all(
        "MSET a 1 b 2 c 3
         EXISTS a a b missing
         TOUCH a b missing a
         TYPE a
         TYPE missing
         DEL a missing a
         UNLINK b c
         UNLINK b
         EXISTS a b c
         DBSIZE
         DEL
         EXISTS",
    );
}

#[test]
fn rename_copy_move_swapdb() {
    let mut d = Differential::new();
    d.check_all(
        "RENAME missing x
         RENAMENX missing x
         SET a 1
         RENAME a a
         RENAMENX a a
         SET t v EX 100
         RENAME t t2
         ~ TTL t2
         EXISTS t
         RENAME a b
         GET a
         GET b
         SET c 3
         RENAMENX b c
         RENAMENX b d
         GET d
         RENAME d c
         GET c
         COPY c c
         COPY c c DB 0
         COPY missing x
         COPY c e
         GET e
         COPY c e
         SET c 33
         COPY c e REPLACE
         GET e
         COPY t2 t3
         ~ TTL t3
         COPY c c DB 1
         COPY c c DB 16
         COPY c c DB -1
         COPY c c DB abc
         COPY c c DB 99999999999
         COPY c c DB
         COPY c c BOGUS
         COPY c c REPLACE DB 1 REPLACE
         SELECT 1
         GET c
         COPY c c DB 0
         SELECT 0
         MOVE c 0
         MOVE c 16
         MOVE c abc
         MOVE missing 2
         MOVE c 1
         SET c here
         MOVE c 1
         MOVE t3 2
         EXISTS t3
         SELECT 2
         ~ TTL t3
         GET t3
         SWAPDB 0 2
         GET t3
         DBSIZE
         SELECT 0
         GET t3
         SWAPDB 0 0
         SWAPDB 0 16
         SWAPDB a 0
         SWAPDB 0 b
         SWAPDB -1 0
         SWAPDB 0 2
         GET t3",
    );
}

/// Every key a full SCAN iteration returns, on one side.
fn scan_all(client: &mut RawClient, extra: &[&str]) -> BTreeSet<String> {
    let mut cursor = "0".to_string();
    let mut keys = BTreeSet::new();
    for _ in 0..10_000 {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = String::from_utf8_lossy(&client.call(&args)).to_string();
        let lines: Vec<&str> = reply.split("\r\n").collect();
        assert_eq!(lines[0], "*2", "SCAN reply: {reply}");
        let next = lines[2].to_string();
        // lines[3] is the inner array header; then $len / key pairs.
        keys.extend(lines[4..].iter().skip(1).step_by(2).map(|k| k.to_string()));
        keys.remove("");
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
    panic!("SCAN did not finish");
}

#[test]
fn keys_scan_randomkey() {
    let mut d = Differential::new();
    d.check_all(
        "RANDOMKEY
         KEYS *
         SCAN 0
         SET only 1
         RANDOMKEY
         DEL only",
    );
    for i in 0..300 {
        let (k, v) = (format!("user:{i}"), i.to_string());
        d.check(&["SET", &k, &v]);
        if i % 3 == 0 {
            d.check(&["SET", &format!("item:{i}"), "x"]);
        }
    }
    d.check_all("SET h[x]llo 1\nSET hallo 1\nSET hello 1");
    for pattern in [
        "*",
        "user:1*",
        "item:?",
        "h[ae]llo",
        "h\\[x\\]llo",
        "nomatch*",
        "*:2?",
    ] {
        d.check_unordered(&["KEYS", pattern]);
    }
    for extra in [
        &[][..],
        &["COUNT", "7"],
        &["MATCH", "user:2*"],
        &["MATCH", "item:*", "COUNT", "1000"],
        &["TYPE", "string"],
        &["TYPE", "STRING", "MATCH", "h*"],
        &["TYPE", "list"],
        &["TYPE", "nosuchtype"],
        &["MATCH", "*", "COUNT", "3"],
    ] {
        let real = scan_all(&mut d.real, extra);
        let ours = scan_all(&mut d.ours, extra);
        assert_eq!(ours, real, "SCAN {extra:?}");
    }
    d.check_all(
        "SCAN 0 COUNT 0
         SCAN 0 COUNT -1
         SCAN 0 COUNT abc
         SCAN 0 COUNT
         SCAN 0 MATCH
         SCAN 0 BOGUS x
         SCAN abc
         SCAN 18446744073709551616
         DBSIZE",
    );
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "SELECT 5
         SCAN 0 MATCH nothing*
         RANDOMKEY
         TYPE x
         KEYS *
         SCAN -1
         SCAN +0
         SCAN -
         SCAN 1x
         SCAN 18446744073709551615",
    );
    d.check(&["SCAN", ""]);
    d.check(&["SCAN", " 1"]);
    d.check_all("SELECT 0");
}

#[test]
fn flush_commands() {
    let mut d = Differential::new();
    d.check_all(
        "SET a 1
         SELECT 1
         SET b 1
         FLUSHDB
         DBSIZE
         SET b 1
         FLUSHDB ASYNC
         SET b 1
         FLUSHDB sync
         FLUSHDB bogus
         FLUSHDB SYNC ASYNC
         SET b 1
         SELECT 0
         DBSIZE
         FLUSHALL ASYNC
         DBSIZE
         SELECT 1
         DBSIZE
         FLUSHALL bogus
         FLUSHALL SYNC
         FLUSHALL",
    );
}

#[test]
fn expire_family() {
    let mut d = Differential::new();
    d.check_all(
        "EXPIRE missing 100
         ~ TTL missing
         ~~ PTTL missing
         EXPIRETIME missing
         PEXPIRETIME missing
         PERSIST missing
         SET k v
         ~ TTL k
         ~~ PTTL k
         EXPIRETIME k
         PEXPIRETIME k
         PERSIST k
         EXPIRE k 100
         ~ TTL k
         PERSIST k
         ~ TTL k
         EXPIRE k 100 XX
         EXPIRE k 100 NX
         EXPIRE k 200 NX
         EXPIRE k 50 GT
         EXPIRE k 300 GT
         ~ TTL k
         EXPIRE k 400 LT
         EXPIRE k 30 LT
         ~ TTL k
         EXPIRE k 30 XX
         PERSIST k
         EXPIRE k 10 GT
         EXPIRE k 10 LT
         ~ TTL k
         EXPIRE k 10 NX XX
         EXPIRE k 10 NX GT
         EXPIRE k 10 NX LT
         EXPIRE k 10 GT LT
         EXPIRE k 10 LT GT
         EXPIRE k 20 XX GT
         EXPIRE k 10 xx lt
         EXPIRE k 10 BOGUS
         EXPIRE k 10 NX BOGUS
         EXPIRE k abc
         EXPIRE k abc BOGUS
         EXPIRE k 9223372036854775807
         EXPIRE k 9223372036854776
         EXPIRE k -9223372036854776
         PEXPIRE k 9223372036854775807
         PEXPIREAT k 9223372036854775807
         PEXPIRETIME k
         EXPIREAT k 99999999999
         EXPIRETIME k
         PEXPIRETIME k
         PEXPIREAT k 99999999999123
         EXPIRETIME k
         PEXPIRETIME k
         PEXPIRE k 100000
         ~ TTL k
         EXPIREAT k 99999999999 GT
         EXPIREAT k 99999999 GT
         EXPIRE k 0
         EXISTS k
         SET k v
         EXPIRE k -1
         EXISTS k
         SET k v
         PEXPIRE k -100
         EXISTS k
         SET k v
         EXPIREAT k 1
         EXISTS k
         SET k v
         PEXPIREAT k 0
         EXISTS k
         SET k v
         EXPIREAT k 100 NX
         EXISTS k
         EXPIRE
         EXPIRE k",
    );
}

#[test]
fn expiry_happens() {
    let mut d = Differential::new();
    d.check_all("SET a v\nPEXPIRE a 50\nSET b v PX 50\nSET c v\nEXPIRE c 1000");
    let (mut real, mut ours) = (d.redis.client(), d.sidecar.client());
    for client in [&mut real, &mut ours] {
        wait_until("keys to expire", Duration::from_secs(5), || {
            client.call(&["EXISTS", "a", "b"]).as_ref() == b":0\r\n"
        });
    }
    d.check_all(
        "TTL a
         ~~ PTTL b
         EXISTS a b c
         TYPE a
         RENAME a z
         COPY b z
         MOVE a 1
         PERSIST a
         EXPIRE a 10
         KEYS *
         DBSIZE",
    );
}

#[test]
fn watch_sees_keyspace_changes() {
    let mut d = Differential::new();
    let mut other_real = d.redis.client();
    let mut other_ours = d.sidecar.client();
    let mut both_other = |args: &[&str]| {
        other_real.call(args);
        other_ours.call(args);
    };
    d.check_all("SET a 1\nSET k 1");
    let changes: [&[&str]; 8] = [
        &["RENAME", "a", "k"],
        &["EXPIRE", "k", "100"],
        &["PERSIST", "k"],
        &["DEL", "k"],
        &["INCR", "k"],
        &["APPEND", "k", "x"],
        &["FLUSHDB"],
        &["SET", "k", "v", "KEEPTTL"],
    ];
    for change in changes {
        d.check_all("SET a 1\nSET k 1\nEXPIRE k 1000\nWATCH k");
        both_other(change);
        d.check_all("MULTI\nGET k\nEXEC");
    }
    // A watched key that does not exist is not invalidated by FLUSHDB (Redis 7.0).
    d.check_all("FLUSHDB\nWATCH nothing");
    both_other(&["FLUSHDB"]);
    d.check_all("MULTI\nPING\nEXEC");
    // Nor by an EXPIRE that finds no key.
    d.check_all("WATCH nothing");
    both_other(&["EXPIRE", "nothing", "10"]);
    d.check_all("MULTI\nPING\nEXEC");
    // COPY into another database touches the destination there.
    d.check_all("SET src 1\nSELECT 3\nWATCH dst");
    both_other(&["COPY", "src", "dst", "DB", "3"]);
    d.check_all("MULTI\nPING\nEXEC\nSELECT 0");
}
