//! String commands: the embedded store answers byte for byte as redis-server 7.0.

mod support;

use std::time::Duration;

use support::{wait_until, Differential};

#[test]
fn get_set_and_options() {
    let mut d = Differential::new();
    d.check_all(
        "GET k
         SET k v
         GET k
         SET k v2 GET
         SET new v GET
         SET k v3 NX
         SET k v3 XX
         GET k
         SET k2 v XX
         SET k2 v NX
         SET k2 v NX XX
         SET k2 v XX NX
         SET k2 v NX NX
         SET k v NX GET
         SET nx v NX GET
         SET k v EX 100
         ~ TTL k
         SET k v PX 100000
         ~ TTL k
         SET k v EXAT 99999999999
         EXPIRETIME k
         SET k v PXAT 99999999999999
         PEXPIRETIME k
         SET k v KEEPTTL
         PEXPIRETIME k
         SET k v
         ~ TTL k
         SET k v EX 100 KEEPTTL
         SET k v KEEPTTL EX 100
         SET k v EX 10 PX 100
         SET k v EX 10 EX 20
         ~ TTL k
         SET k v PX 10 EXAT 100
         SET k v EX
         SET k v EX 0
         SET k v EX -1
         SET k v PX 0
         SET k v EXAT 0
         SET k v PXAT -5
         SET k v EX abc
         SET k v EX 9223372036854775
         SET k v EX 9223372036854776
         SET k v PX 9223372036854775807
         SET k v PXAT 9223372036854775807
         PERSIST k
         SET k v PERSIST
         SET k v BOGUS
         SET k v GET GET
         SET k
         SETNX k x
         SETNX fresh x
         GET fresh
         SETEX e 100 v
         ~ TTL e
         SETEX e 0 v
         SETEX e -1 v
         SETEX e abc v
         PSETEX e 100000 v
         ~ TTL e
         PSETEX e 0 v
         SETEX e 100",
    );
    // SET with both GET and an expiry.
    d.check_all("SET lp v PX 5000 GET");
}

#[test]
fn wrong_type_and_multi_key() {
    let mut d = Differential::new();
    // Lists live in another module; until it is merged, WRONGTYPE is covered by the unit test
    // in src/store/strings_edit.rs, and this part runs once RPUSH exists.
    let lists = d.ours.call(&["RPUSH", "l", "x"]).starts_with(b":");
    d.real.call(&["RPUSH", "l", "x"]);
    if !lists {
        eprintln!("RPUSH not available in the embedded store: skipping WRONGTYPE checks");
        d.real.call(&["DEL", "l"]);
    } else {
        d.check_all(
            "GET l
         SET l v GET
         GETSET l v
         GETDEL l
         GETEX l
         APPEND l x
         STRLEN l
         GETRANGE l 0 1
         SETRANGE l 0 x
         INCR l
         INCRBY l abc
         INCRBYFLOAT l 1
         MGET l missing",
        );
    }
    d.check_all(
        "SET l v
         GET l
         MSET a 1 b 2 c 3
         MGET a b c d
         MSET a 1 b
         MSETNX a 9 z 9
         MGET a z
         MSETNX x 1 y 2
         MGET x y
         MSETNX x
         GETSET a new
         GETSET nothing new
         GET nothing
         GETDEL a
         GETDEL a
         EXISTS a",
    );
}

#[test]
fn getex() {
    let mut d = Differential::new();
    d.check_all(
        "GETEX missing
         GETEX missing EX 0
         SET k v
         GETEX k
         GETEX k EX 100
         ~ TTL k
         GETEX k PX 200000
         ~ TTL k
         GETEX k PERSIST
         ~ TTL k
         GETEX k EXAT 99999999999
         EXPIRETIME k
         GETEX k PXAT 99999999999000
         PEXPIRETIME k
         GETEX k EX 0
         GETEX k PX -1
         GETEX k EX abc
         GETEX k EX 10 PX 10
         GETEX k PERSIST EX 10
         GETEX k EX 10 PERSIST
         GETEX k KEEPTTL
         GETEX k NX
         GETEX k GET
         GETEX k EX
         GETEX k EXAT 1
         EXISTS k
         SET k v
         GETEX k PXAT 1
         GET k",
    );
}

#[test]
fn counters() {
    let mut d = Differential::new();
    d.check_all(
        "INCR n
         INCR n
         DECR n
         DECR n
         DECR n
         INCRBY n 100
         DECRBY n 50
         INCRBY n -9
         INCRBY n abc
         INCRBY n 1.5
         DECRBY n -9223372036854775808
         DECRBY n 9223372036854775807
         SET m 9223372036854775807
         INCR m
         INCRBY m 0
         SET m -9223372036854775808
         DECR m
         INCRBY m -1
         SET m abc
         INCR m
         SET m 1.0
         INCR m
         SET m 010
         INCR m
         SET m -0
         INCR m
         SET m 99999999999999999999
         INCR m
         SET m 5 EX 100
         INCR m
         ~ TTL m
         SET m 123
         INCRBY m 9223372036854775807
         INCRBY m 99999999999999999999",
    );
    d.check_bytes(&[b"SET", b"sp", b" 1"]);
    d.check(&["INCR", "sp"]);
    d.check_bytes(&[b"SET", b"sp", b"1 "]);
    d.check(&["INCR", "sp"]);
    d.check(&["INCRBY", "sp", " 1"]);
}

#[test]
fn incrbyfloat_matches_long_double() {
    let mut d = Differential::new();
    d.check_all(
        "INCRBYFLOAT f 0.1
         INCRBYFLOAT f 0.2
         SET f 10.5
         INCRBYFLOAT f 0.1
         SET f 3.0e3
         INCRBYFLOAT f 0
         SET f 1
         INCRBYFLOAT f -1.1
         SET f 17179869184
         INCRBYFLOAT f 1.5
         INCRBYFLOAT f 1e20
         INCRBYFLOAT f 1
         INCRBYFLOAT f -1e20
         INCRBYFLOAT f 0x10
         INCRBYFLOAT f 0x1.8p1
         INCRBYFLOAT f .5
         INCRBYFLOAT f 5.
         INCRBYFLOAT f +2
         INCRBYFLOAT f 1e-20
         INCRBYFLOAT f 1.23456789012345678901234
         INCRBYFLOAT f -0.0
         INCRBYFLOAT g -0.0
         INCRBYFLOAT f abc
         INCRBYFLOAT f 1e
         INCRBYFLOAT f nan
         INCRBYFLOAT f inf
         INCRBYFLOAT f -inf
         INCRBYFLOAT f 1e5000
         INCRBYFLOAT f 1e-5000
         INCRBYFLOAT f 0e99999
         INCRBYFLOAT big 1e4000
         INCRBYFLOAT big 1e4000
         INCRBYFLOAT max 1e4932
         INCRBYFLOAT max 1e4932
         INCRBYFLOAT f 1.5e4932
         SET s abc
         INCRBYFLOAT s 1
         SET s inf
         INCRBYFLOAT s 1
         SET s 5 EX 100
         INCRBYFLOAT s 0.25
         ~ TTL s
         SET i 9223372036854775807
         INCRBYFLOAT i 1
         INCRBYFLOAT tiny 1e-300
         INCRBYFLOAT tiny 3.6e-4951
         INCRBYFLOAT third 0.333333333333333333333
         INCRBYFLOAT third 0.333333333333333333333
         INCRBYFLOAT third 0.333333333333333333333",
    );
    d.check_bytes(&[b"INCRBYFLOAT", b"f", b" 1"]);
    d.check_bytes(&[b"INCRBYFLOAT", b"f", b"1 "]);
    d.check_bytes(&[b"SET", b"sp", b" 1"]);
    d.check(&["INCRBYFLOAT", "sp", "1"]);
    let long = format!("1{}", "0".repeat(5200));
    d.check(&["INCRBYFLOAT", "f", &long]);
}

#[test]
fn append_strlen_ranges() {
    let mut d = Differential::new();
    d.check_all(
        "APPEND a hello
         APPEND a _world
         GET a
         STRLEN a
         STRLEN missing
         SET t v EX 100
         APPEND t more
         ~ TTL t
         SET s Hello_World
         GETRANGE s 0 4
         GETRANGE s -5 -1
         GETRANGE s -1 -5
         GETRANGE s 5 2
         GETRANGE s 0 -1
         GETRANGE s 0 1000
         GETRANGE s -1000 2
         GETRANGE s -1000 -999
         GETRANGE s 100 200
         GETRANGE s 3 3
         GETRANGE s -9223372036854775808 9223372036854775807
         GETRANGE s a 1
         GETRANGE missing 0 -1
         SUBSTR s 0 3
         SETRANGE s 6 Redis
         GET s
         SETRANGE pad 5 x
         GET pad
         SETRANGE s 20 tail
         GET s
         SETRANGE s -1 x
         SETRANGE s x x
         SETRANGE s 536870912 x
         SETRANGE s 536870911 xy
         SETRANGE s 9223372036854775807 x
         SET r v EX 100
         SETRANGE r 1 xyz
         ~ TTL r",
    );
    d.check(&["SET", "e", ""]);
    d.check(&["GETRANGE", "e", "0", "-1"]);
    d.check(&["GETRANGE", "e", "-1", "0"]);
    d.check(&["SETRANGE", "s", "0", ""]);
    d.check(&["SETRANGE", "none", "3", ""]);
    d.check(&["EXISTS", "none"]);
    d.check(&["SETRANGE", "big", "536870911", ""]);
    d.check(&["SETRANGE", "e", "0", ""]);
    d.check_bytes(&[b"SET", b"bin", b"a\x00b\xff"]);
    d.check(&["GETRANGE", "bin", "1", "3"]);
    d.check(&["APPEND", "bin", "\u{e9}"]);
    d.check(&["GET", "bin"]);
}

#[test]
fn expiry_happens_and_resp3() {
    let mut d = Differential::new();
    d.check_all("SET gone v PX 50");
    let (mut real, mut ours) = (
        d.redis.client(),
        support::RawClient::connect(d.sidecar.addr),
    );
    for client in [&mut real, &mut ours] {
        wait_until("key to expire", Duration::from_secs(5), || {
            client.call(&["EXISTS", "gone"]).as_ref() == b":0\r\n"
        });
    }
    d.check_all(
        "GET gone
         ~ TTL gone
         STRLEN gone
         SET x 1
         GETEX x PX 50",
    );
    for client in [&mut real, &mut ours] {
        wait_until("GETEX's TTL", Duration::from_secs(5), || {
            client.call(&["GET", "x"]).as_ref() == b"$-1\r\n"
        });
    }
    d.check_all("GET x\nPTTL x\nINCRBYFLOAT x 1.5");
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "GET missing
         SET k v
         GET k
         SET k v2 GET
         SET q v NX GET
         SET k v NX
         MGET k missing
         GETDEL missing
         GETEX missing
         INCRBYFLOAT fl 2.5
         INCR n",
    );
}

#[test]
fn incrbyfloat_agrees_on_many_values() {
    let mut d = Differential::new();
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for i in 0..400 {
        let digits: String = (0..1 + next(25))
            .map(|_| char::from(b'0' + next(10) as u8))
            .collect();
        let sign = if next(3) == 0 { "-" } else { "" };
        let number = match next(4) {
            0 => format!("{sign}{digits}"),
            1 => format!("{sign}0.{digits}"),
            2 if i % 2 == 0 => format!("{sign}{digits}e{}", next(60) as i64 - 30),
            2 => format!("{sign}{digits}e{}", next(9900) as i64 - 4950),
            _ => {
                let cut = next(digits.len() as u64) as usize;
                format!("{sign}{}.{}", &digits[..cut], &digits[cut..])
            }
        };
        let key = format!("f{}", i % 7);
        d.check(&["INCRBYFLOAT", &key, &number]);
    }
}
