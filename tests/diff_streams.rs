//! Streams: the embedded store against redis-server 7.0, reply for reply.
//!
//! Ids made with `*` and idle/delivery times depend on the clock: those replies are compared
//! with such values masked (same structure, same everything else).

mod support;

use std::time::Duration;

use support::{show, Differential, RawClient};

/// A parsed reply, for comparisons that mask clock-dependent values.
#[derive(Debug, PartialEq, Clone)]
enum Val {
    Line(u8, Vec<u8>),
    Bulk(Option<Vec<u8>>),
    Agg(u8, Vec<Val>),
    Masked,
}

fn parse(buf: &[u8]) -> (Val, &[u8]) {
    let end = buf.windows(2).position(|w| w == b"\r\n").expect("a line");
    let (kind, line, rest) = (buf[0], &buf[1..end], &buf[end + 2..]);
    let n = || std::str::from_utf8(line).unwrap().parse::<i64>().unwrap();
    match kind {
        b'$' | b'=' | b'!' => {
            if n() < 0 {
                return (Val::Bulk(None), rest);
            }
            let len = n() as usize;
            (Val::Bulk(Some(rest[..len].to_vec())), &rest[len + 2..])
        }
        b'*' | b'%' | b'~' | b'>' if n() >= 0 => {
            let count = if kind == b'%' { 2 * n() } else { n() };
            let mut items = Vec::new();
            let mut rest = rest;
            for _ in 0..count {
                let (v, r) = parse(rest);
                items.push(v);
                rest = r;
            }
            (Val::Agg(kind, items), rest)
        }
        _ => (Val::Line(kind, line.to_vec()), rest),
    }
}

fn tree(reply: &[u8]) -> Val {
    let (v, rest) = parse(reply);
    assert!(rest.is_empty(), "one reply: {}", show(reply));
    v
}

/// Masks integers that look like Unix-millisecond times, ids made from the clock, and the
/// value after any key named in `keys` (idle times).
fn mask(v: &mut Val, keys: &[&str]) {
    match v {
        Val::Line(b':', n)
            if std::str::from_utf8(n).unwrap().parse::<i64>().unwrap() > 1_000_000_000_000 =>
        {
            *v = Val::Masked;
        }
        Val::Bulk(Some(b)) if is_clock_id(b) => *v = Val::Masked,
        Val::Agg(_, items) => {
            for i in 0..items.len() {
                let key = matches!(&items[i], Val::Bulk(Some(k)) if keys.iter().any(|n| n.as_bytes() == k.as_slice()));
                if key && i + 1 < items.len() {
                    items[i + 1] = Val::Masked;
                }
                mask(&mut items[i], keys);
            }
        }
        _ => {}
    }
}

/// Ids whose milliseconds are a current Unix time (made by `*`).
fn is_clock_id(b: &[u8]) -> bool {
    let text = String::from_utf8_lossy(b);
    let Some((ms, seq)) = text.split_once('-') else {
        return false;
    };
    ms.len() == 13 && ms.starts_with('1') && ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()
}

fn masked(reply: &[u8], keys: &[&str]) -> Val {
    let mut v = tree(reply);
    mask(&mut v, keys);
    v
}

/// Like `check`, with clock-dependent values masked.
fn check_masked(d: &mut Differential, args: &[&str], keys: &[&str]) {
    let (real, ours) = (d.real.call(args), d.ours.call(args));
    assert_eq!(
        masked(&ours, keys),
        masked(&real, keys),
        "replies differ for {args:?}:\n ours: {}\n real: {}",
        show(&ours),
        show(&real)
    );
}

/// XPENDING's extended form: the idle time (third of each entry) masked.
fn check_pending(d: &mut Differential, args: &[&str]) {
    let idle = |reply: &[u8]| {
        let mut v = tree(reply);
        if let Val::Agg(_, items) = &mut v {
            for item in items {
                if let Val::Agg(_, fields) = item {
                    fields[2] = Val::Masked;
                }
            }
        }
        v
    };
    let (real, ours) = (d.real.call(args), d.ours.call(args));
    assert_eq!(idle(&ours), idle(&real), "replies differ for {args:?}");
}

fn both(d: &Differential) -> (RawClient, RawClient) {
    (d.redis.client(), d.sidecar.client())
}

#[test]
fn xadd_ids_options_and_errors() {
    let mut d = Differential::new();
    d.check_all(
        "XADD s 1-1 a 1
         XADD s 1-1 a 1
         XADD s 1-0 a 1
         XADD s 0-0 a 1
         XADD fresh 0-0 a 1
         EXISTS fresh
         XADD s 0-* a 1
         XADD fresh 0-* a 1
         XADD s 1-* b 2
         XADD s 1-* b 2 c 3
         XADD s 5 a 1
         XADD s 5-* a 1
         XADD s 6-18446744073709551615 a 1
         XADD s 6-* a 1
         XADD s 7-*5 a 1
         XADD s abc a 1
         XADD s -1 a 1
         XADD s 99999999999999-5 a 1
         XADD s 18446744073709551616 a 1
         XADD s 8-1 a
         XADD s 8-1 a 1 b
         XADD s NOMKSTREAM
         XADD nope NOMKSTREAM * a 1
         EXISTS nope
         XADD nope NOMKSTREAM 1-1 a 1
         XLEN s
         XLEN nope
         SET str x
         XADD str * a 1
         XLEN str
         XADD s MAXLEN -1 * a 1
         XADD s MAXLEN abc * a 1
         XADD s MAXLEN 1 MINID 1 * a 1
         XADD s LIMIT 10 * a 1
         XADD s LIMIT 0 9-1 a 1
         XADD s MAXLEN 5 LIMIT 10 * a 1
         XADD s MAXLEN ~ 5 LIMIT -1 * a 1
         XADD s MINID bad * a 1
         XADD s MINID - * a 1
         XADD s MAXLEN 5
         XADD s MAXLEN
         XLEN s
         XRANGE s - +",
    );
    d.check_error_code(&["XADD", "s"]);
    d.check_error_code(&["XLEN"]);
    // `*` follows the last id when it is in the future.
    d.check_all(
        "XADD future 99999999999999-5 a 1
         XADD future * a 2
         XADD future * a 3
         XADD future 99999999999999-* a 4
         XADD maxed 18446744073709551615-18446744073709551615 a 1
         XADD maxed * a 1
         XADD maxed 5-1 a 1
         XRANGE future - +",
    );
    // `*` ids are the clock's: compare their shape.
    check_masked(
        &mut d,
        &["XADD", "clock", "*", "type", "x", "data", "y"],
        &[],
    );
    check_masked(
        &mut d,
        &["XADD", "clock", "*", "type", "x", "data", "y"],
        &[],
    );
    check_masked(&mut d, &["XRANGE", "clock", "-", "+"], &[]);
}

#[test]
fn xrange_and_xrevrange() {
    let mut d = Differential::new();
    d.check_all(
        "XADD s 1526985054069-0 a 1
         XADD s 1526985054069-1 b 2
         XADD s 1526985054079-0 c 3 d 4
         XADD s 1526985054089-3 e 5
         XRANGE s - +
         XRANGE s 1526985054069 1526985054069
         XRANGE s 1526985054069 1526985054079
         XRANGE s (1526985054069-0 +
         XRANGE s - (1526985054079-0
         XRANGE s (1526985054069 +
         XRANGE s - (1526985054079
         XRANGE s + -
         XRANGE s - + COUNT 2
         XRANGE s - + COUNT 0
         XRANGE s - + COUNT -5
         XRANGE s - + COUNT 1 COUNT 3
         XRANGE s - + COUNT
         XRANGE s - + FOO 1
         XRANGE s - + COUNT x
         XRANGE s (- +
         XRANGE s - (+
         XRANGE s (18446744073709551615-18446744073709551615 +
         XRANGE s - (0-0
         XRANGE s ( +
         XRANGE s x +
         XRANGE s 1526985054069-x +
         XRANGE nope - +
         XRANGE nope - + COUNT 0
         XREVRANGE s + -
         XREVRANGE s + - COUNT 2
         XREVRANGE s (1526985054089-3 -
         XREVRANGE s 1526985054079 1526985054069
         XREVRANGE s - +
         XREVRANGE s + - COUNT 0
         XREVRANGE nope + -
         SET str x
         XRANGE str - +
         XREVRANGE str + -",
    );
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "XRANGE s - + COUNT 1
         XRANGE s - + COUNT 0
         XREVRANGE s + - COUNT 1",
    );
}

#[test]
fn xdel_xtrim_and_node_granularity() {
    let mut d = Differential::new();
    // 250 entries with MAXLEN ~ 10: Redis drops whole 100-entry nodes only.
    for i in 1..=250 {
        let id = format!("{i}-1");
        d.check(&[
            "XADD", "t", "MAXLEN", "~", "10", &id, "type", "x", "data", "y",
        ]);
    }
    d.check_all(
        "XLEN t
         XINFO STREAM t
         XRANGE t - + COUNT 3",
    );
    // Same with the platform's MAXLEN ~ 1000 and payloads big enough to split nodes by bytes.
    let payload = "p".repeat(300);
    for i in 1..=1200 {
        let id = format!("{i}-0");
        d.check(&[
            "XADD", "ev", "MAXLEN", "~", "1000", &id, "type", "x", "data", &payload,
        ]);
    }
    d.check_all(
        "XLEN ev
         XINFO STREAM ev
         XTRIM ev MAXLEN ~ 500
         XLEN ev
         XTRIM ev MAXLEN ~ 500 LIMIT 20
         XTRIM ev MAXLEN = 500
         XLEN ev
         XTRIM ev MINID ~ 900
         XTRIM ev MINID 905
         XINFO STREAM ev
         XTRIM ev MAXLEN 0
         XLEN ev
         EXISTS ev
         XINFO STREAM ev",
    );
    // Mixed field sets, numbers and big values change node sizes.
    for i in 1..=300 {
        let id = format!("{i}-{}", i % 7);
        let value = if i % 3 == 0 {
            "x".repeat(70)
        } else {
            (i * 1000).to_string()
        };
        let field = if i % 5 == 0 { "other" } else { "f" };
        d.check(&["XADD", "mix", &id, field, &value, "n", "-12"]);
    }
    d.check_all(
        "XINFO STREAM mix
         XDEL mix 1-1 2-2 3-3 999-0
         XDEL mix 1-1
         XDEL mix bad
         XDEL mix 4-4 bad
         XDEL nope bad
         XINFO STREAM mix
         XTRIM mix MAXLEN ~ 100
         XLEN mix
         XTRIM mix MINID 250
         XINFO STREAM mix
         XTRIM mix MAXLEN 10 LIMIT 5
         XTRIM mix MAXLEN ~ 10 LIMIT 0
         XLEN mix
         XTRIM mix
         XTRIM mix FOO 1
         XTRIM mix MAXLEN ~
         XTRIM mix MAXLEN 1 MINID 1
         XTRIM mix LIMIT 1 MAXLEN ~ 1
         XTRIM nope MAXLEN 0
         SET str x
         XTRIM str MAXLEN 0
         XDEL str 1-1",
    );
    // Deleting every entry of the tail node, then adding again.
    d.check_all(
        "XADD d 1-1 a 1
         XADD d 2-1 a 1
         XDEL d 1-1
         XINFO STREAM d
         XDEL d 2-1
         XINFO STREAM d
         XLEN d
         EXISTS d
         XADD d 3-1 a 1
         XINFO STREAM d
         XADD d MAXLEN 0 4-1 a 1
         XINFO STREAM d",
    );
}

#[test]
fn xread_forms() {
    let mut d = Differential::new();
    d.check_all(
        "XADD a 1-1 f 1
         XADD a 2-1 f 2
         XADD b 5-1 g 1
         XREAD STREAMS a 0
         XREAD COUNT 1 STREAMS a b 0 0
         XREAD COUNT 0 STREAMS a b 1-1 0-0
         XREAD STREAMS a b $ $
         XREAD STREAMS a nope 0 0
         XREAD STREAMS nope 0
         XREAD STREAMS a 2
         XREAD STREAMS a 2-1
         XREAD STREAMS a a 0 1-1
         XREAD STREAMS a
         XREAD STREAMS a b 0
         XREADGROUP GROUP g c STREAMS a b 0
         XREAD COUNT x STREAMS a 0
         XREAD COUNT -1 STREAMS a 0
         XREAD BLOCK -1 STREAMS a 0
         XREAD BLOCK x STREAMS a 0
         XREAD BLOCK 10 STREAMS a 0
         XREAD FOO STREAMS a 0
         XREAD COUNT 1 a 0
         XREAD GROUP g c STREAMS a >
         XREAD NOACK STREAMS a 0
         XREAD STREAMS a >
         XREAD STREAMS a bad
         XREAD STREAMS a 18446744073709551615-18446744073709551615
         SET str x
         XREAD STREAMS str 0
         XREAD STREAMS a str 0 0
         XREAD STREAMS str a 0 bad
         XREAD BLOCK 50 STREAMS a $
         XREAD BLOCK 50 STREAMS nope $",
    );
    d.check_error_code(&["XREAD", "STREAMS"]);
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "XREAD STREAMS a b 0 0
         XREAD COUNT 1 STREAMS a 0
         XREAD STREAMS a $
         XREAD BLOCK 20 STREAMS a $",
    );
    // Inside MULTI, BLOCK does not block.
    d.real.call(&["HELLO", "2"]);
    d.ours.call(&["HELLO", "2"]);
    d.check_all(
        "MULTI
         XREAD BLOCK 0 STREAMS a $
         XREADGROUP GROUP g c BLOCK 0 STREAMS a >
         EXEC",
    );
}

/// Sends `args` on both clients without reading the reply.
fn send(pair: &mut (RawClient, RawClient), args: &[&str]) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    pair.0.send(&args);
    pair.1.send(&args);
}

fn read_both(pair: &mut (RawClient, RawClient), what: &str) {
    let (real, ours) = (pair.0.read_reply(), pair.1.read_reply());
    assert_eq!(show(&ours), show(&real), "{what}");
}

#[test]
fn xread_block_is_woken_by_xadd() {
    let mut d = Differential::new();
    d.check(&["XADD", "ev", "1-1", "a", "1"]);
    let mut waiter = both(&d);
    send(&mut waiter, &["XREAD", "BLOCK", "0", "STREAMS", "ev", "$"]);
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "other", "1-1", "x", "y"]);
    d.check(&["XADD", "ev", "2-1", "type", "x", "data", "y"]);
    read_both(&mut waiter, "XREAD BLOCK woken by XADD");

    // Several streams; the one that gets data answers. Timeout answers nil.
    send(
        &mut waiter,
        &[
            "XREAD", "COUNT", "5", "BLOCK", "5000", "STREAMS", "q1", "ev", "$", "$",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "ev", "3-1", "a", "b"]);
    read_both(&mut waiter, "two streams");
    send(
        &mut waiter,
        &["XREAD", "BLOCK", "100", "STREAMS", "ev", "$"],
    );
    read_both(&mut waiter, "timeout");

    // An id in the past is served at once; an id ahead waits for a bigger one.
    send(
        &mut waiter,
        &["XREAD", "BLOCK", "0", "STREAMS", "ev", "10-0"],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "ev", "5-1", "a", "b"]);
    d.check(&["XADD", "ev", "11-1", "a", "b"]);
    read_both(&mut waiter, "id ahead");

    // RESP3 map when woken.
    waiter.0.call(&["HELLO", "3"]);
    waiter.1.call(&["HELLO", "3"]);
    send(&mut waiter, &["XREAD", "BLOCK", "0", "STREAMS", "ev", "$"]);
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "ev", "12-1", "a", "b"]);
    read_both(&mut waiter, "RESP3 woken");

    // The platform's pattern: a consumer blocked while a producer appends with MAXLEN ~.
    send(
        &mut waiter,
        &["XREAD", "BLOCK", "0", "STREAMS", "flow:events:7", "$"],
    );
    std::thread::sleep(Duration::from_millis(100));
    let real = d.real.call(&[
        "XADD",
        "flow:events:7",
        "MAXLEN",
        "~",
        "1000",
        "*",
        "type",
        "x",
        "data",
        "y",
    ]);
    let ours = d.ours.call(&[
        "XADD",
        "flow:events:7",
        "MAXLEN",
        "~",
        "1000",
        "*",
        "type",
        "x",
        "data",
        "y",
    ]);
    assert_eq!(masked(&ours, &[]), masked(&real, &[]));
    let (real, ours) = (waiter.0.read_reply(), waiter.1.read_reply());
    assert_eq!(
        masked(&ours, &[]),
        masked(&real, &[]),
        "{} vs {}",
        show(&ours),
        show(&real)
    );
}

#[test]
fn consumer_groups_flow() {
    let mut d = Differential::new();
    d.check_all(
        "XGROUP CREATE s g $
         XGROUP CREATE s g $ MKSTREAM
         XGROUP CREATE s g $ MKSTREAM
         XGROUP CREATE s g2 0 ENTRIESREAD 0
         XGROUP CREATE s g3 0 ENTRIESREAD -2
         XGROUP CREATE s g3 0 ENTRIESREAD x
         XGROUP CREATE s g3 bad
         XGROUP CREATE s g3 - 
         XGROUP CREATE s g3 0 FOO
         XGROUP CREATE s g3 0 MKSTREAM MKSTREAM MKSTREAM MKSTREAM
         XGROUP CREATE s
         XGROUP FOO s g
         XGROUP
         XGROUP HELP
         XGROUP HELP x
         XINFO HELP
         XINFO FOO s
         XINFO STREAM
         SET str x
         XGROUP CREATE str g $
         XGROUP CREATE str g $ MKSTREAM
         XGROUP DESTROY nope g
         XGROUP SETID nope g 0
         XGROUP SETID s nog 0
         XGROUP CREATECONSUMER s nog c
         XGROUP DELCONSUMER s nog c
         XGROUP DESTROY s nog
         XADD s 1-1 f 1
         XADD s 2-1 f 2
         XADD s 3-1 f 3
         XADD s 4-1 f 4
         XINFO GROUPS s
         XREADGROUP GROUP g alice COUNT 1 STREAMS s >
         XREADGROUP GROUP g alice COUNT 1 STREAMS s >
         XREADGROUP GROUP g bob STREAMS s >
         XREADGROUP GROUP g bob STREAMS s >
         XREADGROUP GROUP g alice STREAMS s 0
         XREADGROUP GROUP g alice COUNT 1 STREAMS s 1-1
         XREADGROUP GROUP g carol STREAMS s 0
         XREADGROUP GROUP g2 dave NOACK STREAMS s >
         XREADGROUP GROUP nog c STREAMS s >
         XREADGROUP GROUP g c STREAMS nope >
         XREADGROUP GROUP g c STREAMS s $
         XREADGROUP GROUP g c STREAMS str >
         XREADGROUP GROUP g c STREAMS s
         XREADGROUP GROUP g STREAMS s >
         XREADGROUP STREAMS s > x y
         XREADGROUP COUNT 1 STREAMS s > x y
         XINFO GROUPS s
         XPENDING s g
         XPENDING s g2
         XPENDING s nog
         XPENDING nope g
         XPENDING str g
         XPENDING s g - +
         XPENDING s g - + x
         XPENDING s g IDLE x - + 10
         XPENDING s g IDLE 10 - +
         XPENDING s g bad + 10
         XPENDING s g - + 10 nobody
         XACK s g 1-1 9-9
         XACK s g 1-1
         XACK s g bad
         XACK s nog 1-1
         XACK nope g 1-1
         XACK str g 1-1
         XPENDING s g
         XGROUP CREATECONSUMER s g erin
         XGROUP CREATECONSUMER s g erin
         XGROUP DELCONSUMER s g bob
         XGROUP DELCONSUMER s g nobody
         XPENDING s g
         XGROUP SETID s g 0
         XGROUP SETID s g $ ENTRIESREAD 3
         XGROUP SETID s g - 
         XGROUP SETID s g 0 ENTRIESREAD
         XGROUP SETID s g bad
         XINFO GROUPS s
         XGROUP DESTROY s g2
         XGROUP DESTROY s g2
         XINFO GROUPS s
         XINFO CONSUMERS s nog
         XINFO CONSUMERS nope g
         XINFO GROUPS str",
    );
    check_pending(&mut d, &["XPENDING", "s", "g", "-", "+", "10"]);
    check_pending(&mut d, &["XPENDING", "s", "g", "(2-1", "+", "10", "alice"]);
    check_pending(&mut d, &["XPENDING", "s", "g", "IDLE", "0", "-", "+", "1"]);
    check_pending(
        &mut d,
        &["XPENDING", "s", "g", "-", "+", "10", "alice", "bob", "x"],
    );
    check_masked(&mut d, &["XINFO", "CONSUMERS", "s", "g"], &["idle"]);
    check_masked(&mut d, &["XINFO", "STREAM", "s", "FULL"], &[]);
    check_masked(&mut d, &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"], &[]);
    d.check_all(
        "XINFO STREAM s FULL COUNT
         XINFO STREAM s FULL COUNT x
         XINFO STREAM s FOO
         XINFO STREAM nope",
    );
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "XINFO GROUPS s
         XINFO STREAM s
         XPENDING s g
         XPENDING s g2
         XREADGROUP GROUP g zed STREAMS s 0",
    );
    check_masked(&mut d, &["XINFO", "CONSUMERS", "s", "g"], &["idle"]);
    check_masked(&mut d, &["XINFO", "STREAM", "s", "FULL"], &[]);
}

#[test]
fn group_lag_and_tombstones() {
    let mut d = Differential::new();
    d.check_all(
        "XGROUP CREATE s g 0 MKSTREAM
         XINFO GROUPS s
         XADD s 1-1 a 1
         XADD s 2-1 a 1
         XADD s 3-1 a 1
         XADD s 4-1 a 1
         XGROUP CREATE s late $
         XGROUP CREATE s early 0
         XGROUP CREATE s mid 2-1
         XINFO GROUPS s
         XREADGROUP GROUP g c COUNT 2 STREAMS s >
         XINFO GROUPS s
         XDEL s 3-1
         XINFO GROUPS s
         XREADGROUP GROUP g c STREAMS s >
         XINFO GROUPS s
         XDEL s 1-1
         XINFO GROUPS s
         XTRIM s MAXLEN 0
         XINFO GROUPS s
         XINFO STREAM s
         XADD s 5-1 a 1
         XINFO GROUPS s
         XREADGROUP GROUP early c STREAMS s >
         XINFO GROUPS s
         XREADGROUP GROUP g c STREAMS s 0",
    );
}

#[test]
fn xclaim_and_xautoclaim() {
    let mut d = Differential::new();
    d.check_all(
        "XGROUP CREATE s g 0 MKSTREAM
         XADD s 1-1 f 1
         XADD s 2-1 f 2
         XADD s 3-1 f 3
         XADD s 4-1 f 4
         XADD s 5-1 f 5
         XREADGROUP GROUP g alice STREAMS s >
         XCLAIM s g bob 3600000 1-1
         XCLAIM s g bob 0 1-1 2-1
         XCLAIM s g bob 0 1-1 JUSTID
         XCLAIM s g bob 0 9-9
         XCLAIM s g bob 0 9-9 FORCE
         XCLAIM s g carol 0 3-1 IDLE 5000 RETRYCOUNT 7
         XCLAIM s g carol 0 4-1 TIME 1000 JUSTID
         XCLAIM s g carol 0 5-1 LASTID 9-9 JUSTID
         XINFO GROUPS s
         XCLAIM s g bob x 1-1
         XCLAIM s g bob 0 1-1 IDLE x
         XCLAIM s g bob 0 1-1 TIME x
         XCLAIM s g bob 0 1-1 RETRYCOUNT x
         XCLAIM s g bob 0 1-1 LASTID x
         XCLAIM s g bob 0 1-1 FOO
         XCLAIM s g bob 0 1-1 IDLE
         XCLAIM s nog bob 0 1-1
         XCLAIM nope g bob 0 1-1
         SET str x
         XCLAIM str g bob 0 1-1
         XPENDING s g",
    );
    check_pending(
        &mut d,
        &["XPENDING", "s", "g", "IDLE", "4000", "-", "+", "10"],
    );
    d.check_all(
        "XDEL s 2-1
         XCLAIM s g dave 0 2-1 3-1
         XPENDING s g
         XGROUP CREATE s h 0
         XREADGROUP GROUP h x STREAMS s >
         XCLAIM s h y 0 1-1 3-1 FORCE JUSTID
         XADD s 6-1 f 6
         XCLAIM s h y 0 6-1 FORCE
         XPENDING s h
         XDEL s 4-1
         XAUTOCLAIM s h z 0 0 COUNT 2
         XAUTOCLAIM s h z 0 0 COUNT 2 JUSTID
         XAUTOCLAIM s h z 0 (3-1
         XAUTOCLAIM s h z 3600000 0
         XAUTOCLAIM s h z 0 0 COUNT 0
         XAUTOCLAIM s h z 0 0 COUNT x
         XAUTOCLAIM s h z 0 0 COUNT 1 FOO
         XAUTOCLAIM s h z x 0
         XAUTOCLAIM s h z 0 bad
         XAUTOCLAIM s nog z 0 0
         XAUTOCLAIM nope g z 0 0
         XAUTOCLAIM str g z 0 0
         XPENDING s h",
    );
    check_pending(&mut d, &["XPENDING", "s", "g", "-", "+", "10"]);
    check_pending(&mut d, &["XPENDING", "s", "h", "-", "+", "10"]);
    check_masked(&mut d, &["XINFO", "CONSUMERS", "s", "h"], &["idle"]);
    check_masked(&mut d, &["XINFO", "STREAM", "s", "FULL"], &[]);
}

#[test]
fn xreadgroup_block_and_destroy() {
    let mut d = Differential::new();
    d.check(&["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"]);
    let mut waiter = both(&d);
    send(
        &mut waiter,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "jobs", "1-1", "task", "a"]);
    read_both(&mut waiter, "XREADGROUP woken by XADD");
    check_pending(&mut d, &["XPENDING", "jobs", "workers", "-", "+", "10"]);
    d.check(&["XPENDING", "jobs", "workers"]);
    d.check(&["XACK", "jobs", "workers", "1-1"]);

    send(
        &mut waiter,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "1",
            "NOACK",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "jobs", "2-1", "task", "b"]);
    read_both(&mut waiter, "NOACK woken");
    d.check(&["XPENDING", "jobs", "workers"]);

    send(
        &mut waiter,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "BLOCK",
            "100",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    read_both(&mut waiter, "timeout");

    send(
        &mut waiter,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XGROUP", "DESTROY", "jobs", "workers"]);
    read_both(&mut waiter, "group destroyed while blocked");
    d.check(&["XINFO", "GROUPS", "jobs"]);
}

#[test]
fn watch_binary_names_and_edges() {
    let mut d = Differential::new();
    // Data changes invalidate WATCH; group bookkeeping does not, as in Redis.
    let mut other = both(&d);
    let mut watch_with = |d: &mut Differential, cmd: &[&str]| {
        d.check(&["WATCH", "w"]);
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let (real, ours) = (other.0.call_bytes(&args), other.1.call_bytes(&args));
        assert_eq!(show(&ours), show(&real), "{cmd:?}");
        d.check_all("MULTI\nPING\nEXEC");
    };
    watch_with(&mut d, &["XGROUP", "CREATE", "w", "g", "$", "MKSTREAM"]);
    watch_with(&mut d, &["XADD", "w", "1-1", "a", "1"]);
    watch_with(
        &mut d,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "w", ">"],
    );
    watch_with(&mut d, &["XACK", "w", "g", "1-1"]);
    watch_with(&mut d, &["XGROUP", "SETID", "w", "g", "0"]);
    watch_with(&mut d, &["XDEL", "w", "9-9"]);
    watch_with(&mut d, &["XDEL", "w", "1-1"]);
    watch_with(&mut d, &["XTRIM", "w", "MAXLEN", "0"]);
    watch_with(
        &mut d,
        &["XADD", "w", "NOMKSTREAM", "MAXLEN", "0", "2-1", "a", "1"],
    );

    // Names that are not UTF-8 come back byte for byte in errors.
    d.check_bytes(&[
        b"XREADGROUP",
        b"GROUP",
        b"g\xff",
        b"c",
        b"STREAMS",
        b"w\xfe",
        b">",
    ]);
    d.check_bytes(&[b"XPENDING", b"w", b"g\xff"]);
    d.check_bytes(&[b"XGROUP", b"SETID", b"w", b"g\xff", b"0"]);
    d.check_bytes(&[b"XGROUP", b"CR\xffATE", b"w", b"g"]);
    d.check_bytes(&[b"XADD", b"bin", b"1-1", b"f\x00\xff", b"v\r\n"]);
    d.check_bytes(&[b"XRANGE", b"bin", b"-", b"+"]);

    d.check_all(
        "XADD e 1-1 a 1
         XADD e 2-1 a 2
         XADD e 3-1 a 3
         XREAD STREAMS e +
         XRANGE e - + COUNT 9999999999
         XREVRANGE e + - COUNT 9223372036854775807
         XGROUP CREATE e g 0
         XREADGROUP GROUP g c STREAMS e >
         XDEL e 2-1
         XREADGROUP GROUP g c STREAMS e 0
         XREADGROUP GROUP g c COUNT 1 STREAMS e 1-1
         XAUTOCLAIM e g d 0 0 COUNT 1000000
         XAUTOCLAIM e g d 0 0 COUNT 576460752303423488
         XCLAIM e g c 0 3-1 1-1 JUSTID RETRYCOUNT 5
         XPENDING e g
         XINFO STREAM e",
    );
    check_masked(&mut d, &["XINFO", "STREAM", "e", "FULL", "COUNT", "0"], &[]);
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
    d.check_all(
        "XDEL e 3-1
         XREADGROUP GROUP g c STREAMS e 0
         XAUTOCLAIM e g d 0 0
         XAUTOCLAIM e g d 0 0 JUSTID
         XPENDING e g
         XINFO STREAM e
         XADD e NOMKSTREAM 4-1 a 4
         XADD missing NOMKSTREAM 4-1 a 4",
    );

    // A read blocked on a missing key with `$` is served by the stream's first entry.
    let mut waiter = both(&d);
    send(
        &mut waiter,
        &["XREAD", "BLOCK", "0", "STREAMS", "later", "$"],
    );
    std::thread::sleep(Duration::from_millis(100));
    d.check(&["XADD", "later", "1-1", "a", "1"]);
    read_both(&mut waiter, "created by XADD");
}
