//! Set commands: the embedded store answers byte for byte as redis-server 7.0 does (as sets,
//! where Redis leaves the order unspecified; small all-integer sets are sorted in both).

mod support;

use support::{hello3, items, parse, Differential, RawClient, Resp};

fn parsed(reply: &[u8]) -> Resp {
    parse(reply).0
}

/// SADD of `members` to `key` on both sides.
fn sadd(d: &mut Differential, key: &str, members: impl Iterator<Item = String>) {
    let mut args = vec!["SADD".to_string(), key.to_string()];
    args.extend(members);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.check(&args);
}

#[test]
fn basics_and_intset_order() {
    let mut d = Differential::new();
    d.check_all(
        "SADD s 30 -5 10 7 10
         SMEMBERS s
         SCARD s
         SISMEMBER s 7
         SISMEMBER s 8
         SISMEMBER missing 8
         SMISMEMBER s 7 8 30
         SMISMEMBER missing a b
         SADD s 7 1
         SMEMBERS s
         SREM s 10 nope 30
         SMEMBERS s
         SREM missing a
         SREM s -5 7 1
         EXISTS s
         SMEMBERS missing
         SCARD missing
         SADD s
         SREM s
         SMISMEMBER s
         SADD big 9223372036854775807 -9223372036854775808 0
         SMEMBERS big",
    );
    // Not canonical integers: Redis keeps a hash table, order unspecified.
    d.check(&["SADD", "t", "b", "a", "c", "-0", "01", "+1", "1"]);
    d.check_unordered(&["SMEMBERS", "t"]);
    d.check(&["SMISMEMBER", "t", "a", "x", "-0"]);
    d.check(&["SREM", "t", "a", "b", "c", "-0", "01", "+1"]);
    d.check_unordered(&["SMEMBERS", "t"]);
    d.check_bytes(&[b"SADD", b"bin", b"\x00\r\n", b"\xff"]);
    d.check_bytes(&[b"SISMEMBER", b"bin", b"\x00\r\n"]);
    // Past 512 integers Redis converts the intset to a hash table.
    sadd(&mut d, "ints", (0..600).rev().map(|i| i.to_string()));
    d.check_unordered(&["SMEMBERS", "ints"]);
    d.check(&["SCARD", "ints"]);
}

#[test]
fn wrong_type_both_ways() {
    let mut d = Differential::new();
    d.check_all(
        "SET str x
         SADD s 1 2
         SADD str a
         SREM str a
         SMEMBERS str
         SISMEMBER str a
         SMISMEMBER str a
         SCARD str
         SPOP str
         SPOP str 2
         SRANDMEMBER str
         SRANDMEMBER str 2
         SINTER s str
         SINTER missing str
         SUNION s str
         SDIFF s str
         SDIFF missing str
         SINTERSTORE dst s str
         SUNIONSTORE dst s str
         SDIFFSTORE dst s str
         SINTERCARD 2 s str
         SMOVE str s a
         SMOVE s str 1
         SMOVE missing str 1
         SSCAN str 0
         GET s
         EXISTS dst",
    );
}

#[test]
fn algebra_and_store() {
    let mut d = Differential::new();
    d.check_all(
        "SADD a 1 2 3 4 5
         SADD b 4 5 6
         SADD c 5 6 7 3
         SINTER a b
         SINTER a b c
         SINTER a
         SINTER a missing
         SUNION a b c
         SUNION missing
         SDIFF a b c
         SDIFF a
         SDIFF missing a
         SDIFF a missing
         SINTERSTORE d a b
         SMEMBERS d
         SUNIONSTORE d a b c
         SMEMBERS d
         SDIFFSTORE d a b
         SMEMBERS d
         SDIFFSTORE d d a
         EXISTS d
         SET str hello
         SUNIONSTORE str a b
         SMEMBERS str
         SET str hello
         SINTERSTORE str a missing
         EXISTS str
         SET str hello
         SDIFFSTORE str a a
         EXISTS str
         SINTERSTORE a a b
         SMEMBERS a
         SUNIONSTORE e missing
         EXISTS e
         SINTERCARD 2 a b
         SINTERCARD 1 c
         SINTERCARD 1 c LIMIT 2
         SINTERCARD 1 c LIMIT 0
         SINTERCARD 1 c limit 1 LIMIT 3
         SINTERCARD 2 c missing
         SINTERCARD 0 c
         SINTERCARD -1 c
         SINTERCARD x c
         SINTERCARD 3 c
         SINTERCARD 1 c LIMIT -1
         SINTERCARD 1 c LIMIT x
         SINTERCARD 1 c LIMIT
         SINTERCARD 1 c foo 1
         SINTERSTORE d
         SINTER",
    );
    d.check_all(
        "SADD w1 apple pear fig
         SADD w2 pear fig kiwi 1",
    );
    for cmd in ["SINTER", "SUNION", "SDIFF"] {
        d.check_unordered(&[cmd, "w1", "w2"]);
        d.check_unordered(&[cmd, "w2", "w1", "a"]);
        let store = format!("{cmd}STORE");
        d.check(&[&store, "out", "w1", "w2"]);
        d.check_unordered(&["SMEMBERS", "out"]);
    }
    sadd(&mut d, "bigA", (0..700).map(|i| format!("m{i}")));
    sadd(&mut d, "bigB", (300..1000).map(|i| format!("m{i}")));
    d.check_unordered(&["SINTER", "bigA", "bigB"]);
    d.check(&["SINTERCARD", "2", "bigA", "bigB"]);
    d.check(&["SINTERCARD", "2", "bigA", "bigB", "LIMIT", "17"]);
    d.check(&["SDIFFSTORE", "out", "bigA", "bigB"]);
    d.check_unordered(&["SMEMBERS", "out"]);
}

#[test]
fn smove_cases() {
    let mut d = Differential::new();
    d.check_all(
        "SADD src 1 2 x
         SADD dst 3
         SMOVE src dst 1
         SMEMBERS dst
         SMOVE src dst nope
         SMOVE src src 2
         SMOVE src src nope
         SMOVE missing dst 1
         SMOVE src fresh x
         SMEMBERS fresh
         SMOVE src dst 2
         EXISTS src
         SMEMBERS dst
         SMOVE dst dst 3",
    );
}

#[test]
fn spop_counts() {
    let mut d = Differential::new();
    d.check_all(
        "SPOP missing
         SPOP missing 3
         SADD s 5 3 9 1
         SPOP s 0
         SPOP s -1
         SPOP s x
         SPOP s 1 2
         SPOP s 10
         EXISTS s
         SADD s 5 3 9 1
         SPOP s 4
         EXISTS s
         SADD one 42
         SPOP one
         EXISTS one",
    );
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    sadd(&mut d, "r", members.iter().cloned());
    let popped = parsed(&d.ours.call(&["SPOP", "r"]));
    let mut gone = vec![popped];
    for count in ["3", "5"] {
        let got = items(&d.ours.call(&["SPOP", "r", count]));
        assert_eq!(got.len(), count.parse::<usize>().unwrap());
        gone.extend(got);
    }
    assert_eq!(d.ours.call(&["SCARD", "r"]).as_ref(), b":11\r\n");
    let mut all: Vec<Resp> = members
        .iter()
        .map(|m| Resp::Bulk(m.clone().into()))
        .collect();
    let rest = items(&d.ours.call(&["SMEMBERS", "r"]));
    let mut seen = [gone, rest].concat();
    seen.sort();
    all.sort();
    assert_eq!(seen, all, "popped and remaining make up the set");
    hello3(&mut d);
    d.check_all(
        "SADD s 2 1
         SPOP s 5
         SPOP s 0
         SPOP missing 2
         SPOP missing",
    );
    let reply = d.ours.call(&["SPOP", "r", "2"]);
    assert!(reply.starts_with(b"~2\r\n"), "RESP3 set: {reply:?}");
}

#[test]
fn srandmember_counts() {
    let mut d = Differential::new();
    d.check_all(
        "SRANDMEMBER missing
         SRANDMEMBER missing 3
         SRANDMEMBER missing -9223372036854775807
         SADD s 8 2 5
         SRANDMEMBER s 3
         SRANDMEMBER s 100
         SRANDMEMBER s 0
         SRANDMEMBER s x
         SRANDMEMBER s 1 2
         SRANDMEMBER s -9223372036854775808
         SCARD s",
    );
    let members = [b"$1\r\n8\r\n", b"$1\r\n2\r\n", b"$1\r\n5\r\n"];
    let single = d.ours.call(&["SRANDMEMBER", "s"]);
    assert!(members.iter().any(|m| m[..] == single[..]));
    for (count, len) in [("2", 2), ("-10", 10), ("1", 1), ("-1", 1)] {
        let got = items(&d.ours.call(&["SRANDMEMBER", "s", count]));
        assert_eq!(got.len(), len, "SRANDMEMBER s {count}");
        for m in &got {
            assert!(matches!(m, Resp::Bulk(b) if [&b"8"[..], b"2", b"5"].contains(&&b[..])));
        }
        if count == "2" {
            assert_ne!(got[0], got[1]);
        }
    }
    // A count past what a reply could hold is refused without allocating it.
    let huge = d.ours.call(&["SRANDMEMBER", "s", "-2000000000"]);
    assert!(huge.starts_with(b"-ERR"), "{huge:?}");
    hello3(&mut d);
    d.check_all(
        "SRANDMEMBER s 5
         SRANDMEMBER missing 5
         SRANDMEMBER missing",
    );
    let reply = d.ours.call(&["SRANDMEMBER", "s", "-4"]);
    assert!(reply.starts_with(b"*4\r\n"), "an array even in RESP3");
}

/// Runs a full SSCAN iteration against `client`, returning the sorted members.
fn sscan_all(client: &mut RawClient, key: &str, extra: &[&str]) -> Vec<Resp> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let mut args = vec!["SSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let parts = items(&client.call(&args));
        let (Resp::Bulk(next), Resp::Agg(_, members)) = (&parts[0], &parts[1]) else {
            panic!("SSCAN reply shape");
        };
        seen.extend(members.iter().cloned());
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            seen.sort();
            seen.dedup();
            return seen;
        }
    }
    panic!("SSCAN did not finish");
}

#[test]
fn sscan_small_whole_and_big_paged() {
    let mut d = Differential::new();
    d.check_all(
        "SADD s 12 3 100 7
         SSCAN s 0
         SSCAN s 99
         SSCAN s -1
         SSCAN s 0 COUNT 1
         SSCAN s 0 MATCH 1*
         SSCAN s 0 MATCH x
         SSCAN s 0 COUNT 0
         SSCAN s 0 COUNT x
         SSCAN s 0 MATCH
         SSCAN s 0 TYPE string
         SSCAN s abc
         SSCAN missing 0
         SSCAN missing 0 COUNT 0",
    );
    sadd(&mut d, "big", (0..800).map(|i| format!("k{i}")));
    for extra in [&[][..], &["COUNT", "9"], &["MATCH", "k7*", "COUNT", "40"]] {
        let real = sscan_all(&mut d.real, "big", extra);
        let ours = sscan_all(&mut d.ours, "big", extra);
        assert_eq!(ours, real, "SSCAN big {extra:?}");
        assert!(!real.is_empty());
    }
}

#[test]
fn resp3_forms() {
    let mut d = Differential::new();
    hello3(&mut d);
    d.check_all(
        "SADD s 3 1 2
         SMEMBERS s
         SMEMBERS missing
         SINTER s s
         SUNION s missing
         SDIFF s missing
         SINTER s missing
         SMISMEMBER s 1 9
         SISMEMBER s 1
         SSCAN s 0
         SPOP missing
         SRANDMEMBER missing",
    );
}
