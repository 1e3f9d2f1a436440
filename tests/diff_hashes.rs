//! Hash commands: the embedded store answers byte for byte as redis-server 7.0 does.

mod support;

use support::{hello3, items, parse, Differential, Resp};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

#[test]
fn basic_commands_and_field_order() {
    let mut d = Differential::new();
    d.check_all(
        "HSET h f1 v1 f2 v2 f3 v3
         HSET h f2 new f4 v4
         HGETALL h
         HKEYS h
         HVALS h
         HGET h f2
         HGET h nope
         HGET missing f
         HMGET h f1 nope f4
         HMGET missing a b
         HLEN h
         HLEN missing
         HEXISTS h f1
         HEXISTS h nope
         HEXISTS missing f1
         HSTRLEN h f2
         HSTRLEN h nope
         HSTRLEN missing f
         HSETNX h f1 x
         HSETNX h f5 v5
         HSETNX fresh a b
         HGETALL fresh
         HMSET h f6 v6 f1 again
         HGETALL h
         HDEL h f2 nope f4
         HGETALL h
         HDEL h f1 f3 f5 f6
         EXISTS h
         HDEL h f1
         HDEL missing f
         HGETALL missing
         HKEYS missing
         HVALS missing
         HSET h a
         HSET h a 1 b
         HMSET h a
         HSET h
         HGET h
         HSET x f v
         HSET x f v
         HSET x f w
         HGET x f",
    );
    d.check_bytes(&[b"HSET", b"bin", b"\x00\xff\r\n", b"\x01\r\n\x00"]);
    d.check_bytes(&[b"HGETALL", b"bin"]);
}

#[test]
fn wrong_type_both_ways() {
    let mut d = Differential::new();
    d.check_all(
        "SET s x
         HSET s f v
         HMSET s f v
         HSETNX s f v
         HGET s f
         HMGET s f
         HGETALL s
         HKEYS s
         HVALS s
         HDEL s f
         HEXISTS s f
         HLEN s
         HSTRLEN s f
         HINCRBY s f 1
         HINCRBYFLOAT s f 1
         HINCRBY s f x
         HINCRBYFLOAT s f inf
         HSCAN s 0
         HRANDFIELD s
         HRANDFIELD s 2
         HSET h f v
         GET h
         GET s",
    );
}

#[test]
fn hincrby_and_overflow() {
    let mut d = Differential::new();
    d.check_all(
        "HINCRBY h n 5
         HINCRBY h n -12
         HINCRBY h n 0
         HSET h s foo big 9223372036854775807 small -9223372036854775808 m -0 z 007
         HINCRBY h s 1
         HINCRBY h m 1
         HINCRBY h z 1
         HINCRBY h big 1
         HINCRBY h big 0
         HINCRBY h big -1
         HINCRBY h small -1
         HINCRBY h small 1
         HINCRBY h n 1.5
         HINCRBY h n -0
         HINCRBY h n +1
         HINCRBY h n 99999999999999999999
         HINCRBY h n abc
         HINCRBY fresh n 9223372036854775807
         HINCRBY fresh n 1
         HGETALL h
         HGETALL fresh",
    );
}

#[test]
fn hincrbyfloat_formats_like_long_double() {
    let mut d = Differential::new();
    d.check_all(
        "HINCRBYFLOAT h a 0.1
         HINCRBYFLOAT h a 0.2
         HINCRBYFLOAT h b 1.5e-3
         HINCRBYFLOAT h b 5.0e3
         HINCRBYFLOAT h b -0.0015
         HINCRBYFLOAT h c 1e19
         HINCRBYFLOAT h c 1.5
         HINCRBYFLOAT h d -1e-20
         HINCRBYFLOAT h e 10.5
         HINCRBYFLOAT h e -10.5
         HINCRBYFLOAT h f 0x10
         HINCRBYFLOAT h f .5
         HINCRBYFLOAT h f 5.
         HINCRBYFLOAT h f +2
         HINCRBYFLOAT h f 1E2
         HINCRBYFLOAT h g 3.0000000000000000001
         HINCRBYFLOAT h g -3
         HINCRBYFLOAT h i 1e4000
         HINCRBYFLOAT h j 1e-4940
         HINCRBYFLOAT h k 1.18973149535723176502e+4932
         HINCRBYFLOAT h k 1e4932
         HINCRBYFLOAT h k 1
         HINCRBYFLOAT h l 1e5000
         HINCRBYFLOAT h l 1e-5000
         HINCRBYFLOAT h l inf
         HINCRBYFLOAT h l -inf
         HINCRBYFLOAT h l nan
         HINCRBYFLOAT h l abc
         HINCRBYFLOAT h l 1e
         HINCRBYFLOAT h l 0x
         HINCRBYFLOAT h l 1.2.3
         HSET h s foo i 12 inf inf sp 1x
         HINCRBYFLOAT h s 1
         HINCRBYFLOAT h sp 1
         HINCRBYFLOAT h inf 1
         HINCRBYFLOAT h i 0.25
         HINCRBY h a 1",
    );
    // Values over 64 bytes made Redis convert the hash to a table: order unspecified.
    d.check_unordered(&["HGETALL", "h"]);
    d.check(&["HINCRBYFLOAT", "h", "x", " 1"]);
    d.check(&["HINCRBYFLOAT", "h", "x", "1 "]);
    d.check(&["HINCRBYFLOAT", "h", "x", ""]);
    for (field, incr) in [
        ("p", "3.14159265358979323846"),
        ("q", "-2.5e-7"),
        ("r", "1e17"),
    ] {
        for _ in 0..3 {
            d.check(&["HINCRBYFLOAT", "h", field, incr]);
        }
    }
}

#[test]
fn big_hashes_agree_as_sets() {
    let mut d = Differential::new();
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..200 {
        args.push(format!("field:{i}"));
        args.push(format!("value:{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.check(&args);
    d.check_unordered(&["HKEYS", "big"]);
    d.check_unordered(&["HVALS", "big"]);
    d.check_unordered(&["HGETALL", "big"]);
    d.check(&["HLEN", "big"]);
    d.check(&["HDEL", "big", "field:3", "field:150"]);
    d.check_unordered(&["HKEYS", "big"]);
    // A long value makes Redis convert even a small hash to a hash table.
    let long = "x".repeat(100);
    d.check(&["HSET", "long", "a", "1", "b", &long]);
    d.check_unordered(&["HGETALL", "long"]);
}

/// Runs a full HSCAN iteration against `client`, returning the sorted (field, value) pairs.
fn hscan_all(client: &mut support::RawClient, key: &str, extra: &[&str]) -> Vec<Resp> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let mut args = vec!["HSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let reply = client.call(&args);
        let parts = items(&reply);
        let Resp::Bulk(next) = &parts[0] else {
            panic!("cursor")
        };
        let Resp::Agg(_, elements) = &parts[1] else {
            panic!("elements")
        };
        for pair in elements.chunks(2) {
            seen.push(Resp::Agg(b'*', pair.to_vec()));
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            seen.sort();
            seen.dedup();
            return seen;
        }
    }
    panic!("HSCAN did not finish");
}

#[test]
fn hscan_small_whole_and_big_paged() {
    let mut d = Differential::new();
    d.check_all(
        "HSET h name alice age 30 nick al zip 123
         HSCAN h 0
         HSCAN h 17
         HSCAN h 0 COUNT 1
         HSCAN h 0 MATCH a*
         HSCAN h 0 match *i* count 100
         HSCAN h 0 MATCH nomatch
         HSCAN h 0 COUNT 0
         HSCAN h 0 COUNT -1
         HSCAN h 0 COUNT x
         HSCAN h 0 COUNT
         HSCAN h 0 MATCH
         HSCAN h 0 TYPE string
         HSCAN h 0 NOVALUES
         HSCAN h x
         HSCAN h -1
         HSCAN h +0
         HSCAN h 18446744073709551616
         HSCAN missing 0
         HSCAN missing 0 COUNT 0
         HSCAN missing x",
    );
    let mut args = vec!["HSET".to_string(), "big".to_string()];
    for i in 0..300 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.check(&args);
    for extra in [&[][..], &["COUNT", "7"], &["MATCH", "f1*", "COUNT", "50"]] {
        let real = hscan_all(&mut d.real, "big", extra);
        let ours = hscan_all(&mut d.ours, "big", extra);
        assert_eq!(ours, real, "HSCAN big {extra:?}");
        assert!(!real.is_empty());
    }
}

#[test]
fn hrandfield_counts_and_shapes() {
    let mut d = Differential::new();
    d.check_all(
        "HSET h a 1 b 2 c 3
         HRANDFIELD missing
         HRANDFIELD missing 5
         HRANDFIELD missing -5 WITHVALUES
         HRANDFIELD missing -9223372036854775807
         HRANDFIELD h 3
         HRANDFIELD h 10
         HRANDFIELD h 3 WITHVALUES
         HRANDFIELD h 100 withvalues
         HRANDFIELD h 0
         HRANDFIELD h 0 WITHVALUES
         HRANDFIELD h x
         HRANDFIELD h 1 x
         HRANDFIELD h 1 WITHVALUES x
         HRANDFIELD h x WITHVALUES x
         HRANDFIELD h -9223372036854775808
         HRANDFIELD h -4611686018427387904 WITHVALUES
         HRANDFIELD h 4611686018427387904 WITHVALUES
         HRANDFIELD missing -4611686018427387903 WITHVALUES",
    );
    let fields = [bulk("a"), bulk("b"), bulk("c")];
    let values = [bulk("1"), bulk("2"), bulk("3")];
    let got = d.ours.call(&["HRANDFIELD", "h"]);
    assert!(fields.contains(&parse(&got).0));
    for (count, len) in [("2", 2), ("-7", 7), ("1", 1), ("-1", 1)] {
        let picked = items(&d.ours.call(&["HRANDFIELD", "h", count]));
        assert_eq!(picked.len(), len, "HRANDFIELD h {count}");
        assert!(picked.iter().all(|f| fields.contains(f)));
        if count == "2" {
            assert_ne!(picked[0], picked[1], "positive counts are distinct");
        }
        let pairs = items(&d.ours.call(&["HRANDFIELD", "h", count, "WITHVALUES"]));
        assert_eq!(pairs.len(), 2 * len);
        for pair in pairs.chunks(2) {
            let i = fields.iter().position(|f| *f == pair[0]).unwrap();
            assert_eq!(pair[1], values[i]);
        }
    }
    hello3(&mut d);
    d.check_all(
        "HRANDFIELD h 3 WITHVALUES
         HRANDFIELD h 3
         HRANDFIELD missing 3 WITHVALUES
         HRANDFIELD missing",
    );
    let pairs = items(&d.ours.call(&["HRANDFIELD", "h", "-4", "WITHVALUES"]));
    assert_eq!(pairs.len(), 4);
    assert!(pairs
        .iter()
        .all(|p| matches!(p, Resp::Agg(b'*', kv) if kv.len() == 2)));
}

#[test]
fn resp3_forms() {
    let mut d = Differential::new();
    hello3(&mut d);
    d.check_all(
        "HSET h a 1 b 2
         HGETALL h
         HGETALL missing
         HMGET h a nope
         HGET h nope
         HKEYS h
         HVALS h
         HSCAN h 0
         HINCRBYFLOAT h a 1.5
         HINCRBY h b 1",
    );
}

/// A deterministic sweep of increments of many shapes: every running sum must print as Redis's.
#[test]
fn hincrbyfloat_sweep() {
    let mut d = Differential::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..400 {
        let r = next();
        let sign = if r & 1 == 0 { "" } else { "-" };
        let digits = (r >> 8) % 10_000_000_000;
        let incr = match i % 6 {
            5 => format!(
                "{sign}{digits}e{}{}",
                ["", "-"][(r >> 3) as usize & 1],
                (r >> 40) % 4950
            ),
            0 => format!("{sign}{}.{:03}", digits % 1000, r % 1000),
            1 => format!("{sign}{digits}e{}", (r >> 40) % 40),
            2 => format!("{sign}{digits}e-{}", (r >> 40) % 40),
            3 => format!("{sign}0.{:017}", digits),
            _ => format!("{sign}{}", digits % 100),
        };
        let field = format!("f{}", i % if i % 6 == 5 { 13 } else { 7 });
        d.check(&["HINCRBYFLOAT", "h", &field, &incr]);
    }
}
