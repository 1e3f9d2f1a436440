//! Compression of large values through the sidecar, checked against what the upstream stores.

mod support;

use support::flow_states::flow_states;
use support::{RedisServer, Sidecar};

fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

fn setup() -> (RedisServer, Sidecar) {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    (redis, sidecar)
}

#[test]
fn a_100_kb_json_list_is_stored_at_under_a_third_and_read_back_exact() {
    let (redis, sidecar) = setup();
    let json = flow_states(100 * 1024);
    let mut c = sidecar.client();
    assert_eq!(c.call_bytes(&[b"SET", b"flow:state:1", &json]), "+OK\r\n");
    let mut direct = redis.client();
    let stored = direct.call(&["STRLEN", "flow:state:1"]);
    let stored: usize = String::from_utf8_lossy(&stored[1..])
        .trim()
        .parse()
        .unwrap();
    assert!(
        stored * 3 < json.len(),
        "stored {stored} bytes of {}",
        json.len()
    );
    let raw = direct.call(&["GET", "flow:state:1"]);
    // The header: the magic, then the default algorithm's byte, zstd's (1).
    assert!(raw[raw.iter().position(|&b| b == b'\n').unwrap() + 1..].starts_with(b"\xffRSC\x01"));
    assert_eq!(c.call(&["GET", "flow:state:1"]), bulk(&json));
    // STRLEN never returns the compressed length.
    assert_eq!(
        c.call(&["STRLEN", "flow:state:1"]),
        format!(":{}\r\n", json.len())
    );
    eprintln!("100 KB flow states: {} -> {stored} bytes", json.len());
}

#[test]
fn small_values_are_stored_raw_and_foreign_values_pass_untouched() {
    let (redis, sidecar) = setup();
    let mut c = sidecar.client();
    let mut direct = redis.client();
    assert_eq!(c.call(&["SET", "small", "hello"]), "+OK\r\n");
    assert_eq!(direct.call(&["GET", "small"]), "$5\r\nhello\r\n");
    let json = flow_states(20_000);
    assert_eq!(direct.call_bytes(&[b"SET", b"foreign", &json]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "foreign"]), bulk(&json));
    assert_eq!(
        c.call(&["STRLEN", "foreign"]),
        format!(":{}\r\n", json.len())
    );
    assert_eq!(c.call(&["GETRANGE", "foreign", "0", "1"]), "$2\r\n[{\r\n");
    // A value that merely starts like a compressed one is wrapped, so it reads back as written.
    let lookalike = b"\xffRSC\x01\x05not compressed".to_vec();
    assert_eq!(c.call_bytes(&[b"SET", b"lookalike", &lookalike]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "lookalike"]), bulk(&lookalike));
    assert_eq!(
        c.call(&["STRLEN", "lookalike"]),
        format!(":{}\r\n", lookalike.len())
    );
    // Written by others with the magic and no valid payload: untouched.
    assert_eq!(direct.call_bytes(&[b"SET", b"odd", &lookalike]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "odd"]), bulk(&lookalike));
}

#[test]
fn every_way_to_write_and_read_restores_the_original() {
    let (_redis, sidecar) = setup();
    let mut c = sidecar.client();
    let a = flow_states(5000);
    let b = flow_states(8000);
    assert_eq!(
        c.call_bytes(&[b"MSET", b"a", &a, b"b", &b, b"s", b"x"]),
        "+OK\r\n"
    );
    let mut want = b"*3\r\n".to_vec();
    for v in [&a[..], &b[..], b"x"] {
        want.extend(bulk(v));
    }
    assert_eq!(c.call(&["MGET", "a", "b", "s"]), want);
    assert_eq!(c.call_bytes(&[b"GETSET", b"a", &b]), bulk(&a));
    assert_eq!(c.call_bytes(&[b"SET", b"a", &a, b"GET"]), bulk(&b));
    assert_eq!(c.call_bytes(&[b"SETEX", b"e", b"100", &a]), "+OK\r\n");
    assert_eq!(c.call(&["GETEX", "e", "PERSIST"]), bulk(&a));
    assert_eq!(c.call_bytes(&[b"PSETEX", b"p", b"100000", &b]), "+OK\r\n");
    assert_eq!(c.call(&["GETDEL", "p"]), bulk(&b));
    assert_eq!(c.call_bytes(&[b"SETNX", b"n", &b]), ":1\r\n");
    assert_eq!(c.call(&["GET", "n"]), bulk(&b));
    // In a transaction, EXEC's replies are restored.
    c.call(&["MULTI"]);
    c.call(&["GET", "a"]);
    let exec = c.call(&["EXEC"]);
    let mut want = b"*1\r\n".to_vec();
    want.extend(bulk(&a));
    assert_eq!(exec, want);
    // A script whose KEYS hold a compressed value is refused (tests/compression_scripts.rs);
    // one that reads an undeclared key and returns it gets the original.
    assert_eq!(
        c.call(&["EVAL", "return redis.call('GET', ARGV[1])", "0", "a"]),
        bulk(&a)
    );
}

#[test]
fn msetnx_compresses_with_the_default_algorithm() {
    let (redis, sidecar) = setup();
    let mut c = sidecar.client();
    let mut direct = redis.client();
    let (a, b) = (flow_states(5000), flow_states(9000));
    assert_eq!(
        c.call_bytes(&[b"MSETNX", b"nx:a", &a, b"nx:s", b"small"]),
        ":1\r\n"
    );
    let raw = direct.call(&["GET", "nx:a"]);
    let header = raw.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(raw[header..].starts_with(b"\xffRSC\x01"), "zstd's header");
    assert!(
        raw.len() * 2 < a.len(),
        "stored {} bytes of {}",
        raw.len(),
        a.len()
    );
    assert_eq!(direct.call(&["GET", "nx:s"]), "$5\r\nsmall\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(&a));
    want.extend(bulk(b"small"));
    assert_eq!(c.call(&["MGET", "nx:a", "nx:s"]), want);
    // Not set when a key exists: the stored value stays the first one.
    assert_eq!(
        c.call_bytes(&[b"MSETNX", b"nx:a", &b, b"nx:new", &b]),
        ":0\r\n"
    );
    assert_eq!(c.call(&["GET", "nx:a"]), bulk(&a));
}

#[test]
fn commands_that_need_the_original_bytes_are_refused_never_wrong() {
    let (redis, sidecar) = setup();
    let mut c = sidecar.client();
    let json = flow_states(4000);
    assert_eq!(c.call_bytes(&[b"SET", b"big", &json]), "+OK\r\n");
    for (cmd, name) in [
        (vec!["GETRANGE", "big", "0", "3"], "GETRANGE"),
        (vec!["APPEND", "big", "x"], "APPEND"),
        (vec!["SETRANGE", "big", "0", "x"], "SETRANGE"),
        (vec!["INCRBYFLOAT", "big", "1"], "INCRBYFLOAT"),
        (vec!["BITCOUNT", "big"], "BITCOUNT"),
        (vec!["LCS", "big", "other"], "LCS"),
    ] {
        assert_eq!(
            c.call(&cmd),
            format!("-ERR value is compressed by redis-sidecar: {name} is not supported on it\r\n"),
            "{cmd:?}"
        );
    }
    // Unchanged by the refusals.
    assert_eq!(c.call(&["GET", "big"]), bulk(&json));
    // INCR: a value this large is never an integer, compressed or not: Redis's own error.
    assert_eq!(
        c.call(&["INCR", "big"]),
        redis.client().call(&["INCR", "big"])
    );
    // On other values these commands behave as Redis's.
    c.call(&["SET", "plain", "hello"]);
    assert_eq!(c.call(&["APPEND", "plain", "!"]), ":6\r\n");
    assert_eq!(c.call(&["GETRANGE", "plain", "0", "1"]), "$2\r\nhe\r\n");
    assert_eq!(c.call(&["STRLEN", "nothing"]), ":0\r\n");
    c.call(&["RPUSH", "list", "x"]);
    assert_eq!(
        c.call(&["STRLEN", "list"]),
        redis.client().call(&["STRLEN", "list"])
    );
    assert_eq!(
        c.call(&["GETRANGE", "list", "0", "1"]),
        redis.client().call(&["GETRANGE", "list", "0", "1"])
    );
    assert_eq!(
        c.call(&["GETRANGE", "plain"]),
        redis.client().call(&["GETRANGE", "plain"])
    );
}

#[test]
fn key_patterns_limit_what_is_compressed() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[compression]\nthreshold_bytes = 100\nalgorithm = \"lz4\"\nkeys = [\"flow:state:*\"]\n",
    );
    let mut c = sidecar.client();
    let json = flow_states(3000);
    c.call_bytes(&[b"SET", b"flow:state:9", &json]);
    c.call_bytes(&[b"SET", b"other", &json]);
    let mut direct = redis.client();
    assert!(direct
        .call(&["GET", "flow:state:9"])
        .windows(5)
        .any(|w| w == b"\xffRSC\x02"));
    assert_eq!(direct.call(&["GET", "other"]), bulk(&json));
    assert_eq!(c.call(&["GET", "flow:state:9"]), bulk(&json));
    // Outside the patterns, GETRANGE is not guarded.
    assert_eq!(c.call(&["GETRANGE", "other", "0", "0"]), "$1\r\n[\r\n");
}

/// Tenants prefix keys before compression sees them: one value both prefixed and compressed reads
/// back exact, and key patterns match the tenant's own key names.
#[test]
fn a_value_both_prefixed_and_compressed_reads_back_exact() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[[tenants]]\nuser = \"acme\"\npassword = \"acme-secret\"\nprefix = \"ws:acme:\"\n\
         [compression]\nkeys = [\"flow:state:*\"]\n",
    );
    let mut c = sidecar.client();
    assert_eq!(c.call(&["AUTH", "acme", "acme-secret"]), "+OK\r\n");
    let json = flow_states(100 * 1024);
    assert_eq!(c.call_bytes(&[b"SET", b"flow:state:1", &json]), "+OK\r\n");
    let mut direct = redis.client();
    let stored = direct.call(&["GET", "ws:acme:flow:state:1"]);
    assert!(
        stored.windows(4).any(|w| w == b"\xffRSC"),
        "stored compressed under the tenant's prefix"
    );
    let stored_len: usize =
        String::from_utf8_lossy(&direct.call(&["STRLEN", "ws:acme:flow:state:1"])[1..])
            .trim()
            .parse()
            .unwrap();
    assert!(
        stored_len * 3 < json.len(),
        "{stored_len} bytes stored for {}",
        json.len()
    );
    assert_eq!(c.call(&["GET", "flow:state:1"]), bulk(&json));
    assert_eq!(
        c.call(&["STRLEN", "flow:state:1"]),
        format!(":{}\r\n", json.len()).as_bytes()
    );
    assert_eq!(
        c.call(&["GETRANGE", "flow:state:1", "0", "9"]),
        "-ERR value is compressed by redis-sidecar: GETRANGE is not supported on it\r\n"
    );
}
