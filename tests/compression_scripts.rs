//! Scripts, functions and SORT on compressed values: refused with an error naming the key, never
//! computing on the compressed bytes; checked against a real redis-server.

mod support;

use support::flow_states::flow_states;
use support::{RedisServer, Sidecar};

const LEN: &str = "return string.len(redis.call('GET', KEYS[1]))";

fn refusal(key: &str) -> String {
    format!(
        "-ERR key '{key}' holds a value compressed by redis-sidecar; scripts cannot read it (Lua \
         would see the compressed bytes): read it with GET outside the script, or keep the key \
         out of [compression] keys\r\n"
    )
}

fn sha1(body: &str) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

fn setup() -> (RedisServer, Sidecar, Vec<u8>) {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    let json = flow_states(4000);
    let mut c = sidecar.client();
    assert_eq!(c.call_bytes(&[b"SET", b"big", &json]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "plain", "hello"]), "+OK\r\n");
    (redis, sidecar, json)
}

#[test]
fn scripts_reading_a_compressed_key_are_refused_naming_it() {
    let (redis, sidecar, json) = setup();
    let mut c = sidecar.client();
    assert_eq!(c.call(&["EVAL", LEN, "1", "big"]), refusal("big"));
    let decode = "return cjson.decode(redis.call('GET', KEYS[1]))[1].state";
    assert_eq!(
        c.call(&["EVAL", decode, "2", "plain", "big"]),
        refusal("big")
    );
    let ro = format!("#!lua flags=no-writes\n{LEN}");
    assert_eq!(c.call(&["EVAL_RO", &ro, "1", "big"]), refusal("big"));
    // On other values scripts run as sent; returning the value still restores it.
    assert_eq!(c.call(&["EVAL", LEN, "1", "plain"]), ":5\r\n");
    assert_eq!(c.call(&["EVAL_RO", &ro, "1", "plain"]), ":5\r\n");
    assert_eq!(
        c.call(&["EVAL", LEN, "1", "missing"]),
        redis.client().call(&["EVAL", LEN, "1", "missing"])
    );
    assert_eq!(c.call(&["EVAL", "return 7", "0"]), ":7\r\n");
    // Errors are Redis's own: the client's line numbers (the guard adds no line) and sha.
    let broken = "local a = 1\n\nreturn undefined_fn()";
    let want = redis.client().call(&["EVAL", broken, "1", "plain"]);
    assert!(want.starts_with(b"-ERR user_script:3: "), "{want:?}");
    assert_eq!(c.call(&["EVAL", broken, "1", "plain"]), want);
    assert_eq!(c.call(&["EVALSHA", &sha1(broken), "1", "plain"]), want);
    // The refused script changed nothing.
    let write = "redis.call('SET', KEYS[1], 'overwritten') return redis.call('GET', KEYS[1])";
    assert_eq!(c.call(&["EVAL", write, "1", "big"]), refusal("big"));
    assert_eq!(c.call(&["GET", "big"]), bulk(&json));
}

/// redis-py's `Script`: EVALSHA of the locally computed sha; on NOSCRIPT, SCRIPT LOAD (whose
/// answer must be that same sha), then EVALSHA again. Its pipelines ask SCRIPT EXISTS first.
#[test]
fn evalsha_after_noscript_and_script_load_runs_guarded() {
    let (_redis, sidecar, _json) = setup();
    let mut c = sidecar.client();
    let sha = sha1(LEN);
    assert_eq!(c.call(&["SCRIPT", "EXISTS", &sha]), "*1\r\n:0\r\n");
    assert_eq!(
        c.call(&["EVALSHA", &sha, "1", "plain"]),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    assert_eq!(c.call(&["SCRIPT", "LOAD", LEN]), bulk(sha.as_bytes()));
    assert_eq!(c.call(&["SCRIPT", "EXISTS", &sha]), "*1\r\n:1\r\n");
    assert_eq!(c.call(&["EVALSHA", &sha, "1", "plain"]), ":5\r\n");
    assert_eq!(
        c.call(&["EVALSHA", &sha.to_uppercase(), "1", "big"]),
        refusal("big")
    );
    assert_eq!(c.call(&["EVALSHA_RO", &sha, "1", "big"]), refusal("big"));
    // Another connection (another client process) finds it too; so does an EVAL'd body's sha.
    let mut other = sidecar.client();
    assert_eq!(other.call(&["EVALSHA", &sha, "1", "plain"]), ":5\r\n");
    let body = "return #redis.call('GET', KEYS[1])";
    assert_eq!(other.call(&["EVAL", body, "1", "plain"]), ":5\r\n");
    assert_eq!(
        other.call(&["EVALSHA", &sha1(body), "1", "big"]),
        refusal("big")
    );
}

#[test]
fn functions_loaded_through_the_sidecar_are_guarded() {
    let (_redis, sidecar, _json) = setup();
    let mut c = sidecar.client();
    let library = "#!lua name=lens\n\
        redis.log(redis.LOG_NOTICE, 'loading lens')\n\
        redis.register_function('len', function(keys, args) return string.len(redis.call('GET', keys[1])) end)\n\
        redis.register_function{function_name = 'len_ro', callback = function(keys, args)\n\
          return {string.len(redis.call('GET', keys[1])), redis.REPL_ALL} end, flags = {'no-writes'}}\n";
    assert_eq!(c.call(&["FUNCTION", "LOAD", library]), "$4\r\nlens\r\n");
    assert_eq!(c.call(&["FCALL", "len", "1", "plain"]), ":5\r\n");
    assert_eq!(
        c.call(&["FCALL_RO", "len_ro", "1", "plain"]),
        "*2\r\n:5\r\n:3\r\n"
    );
    assert_eq!(c.call(&["FCALL", "len", "1", "big"]), refusal("big"));
    assert_eq!(c.call(&["FCALL_RO", "len_ro", "1", "big"]), refusal("big"));
    assert_eq!(
        c.call(&["FUNCTION", "LOAD", "REPLACE", library]),
        "$4\r\nlens\r\n"
    );
    assert_eq!(c.call(&["FCALL", "len", "1", "big"]), refusal("big"));
}

/// Tenants prefix the KEYS first (chain order), so the guard checks the tenant's own key, and the
/// refusal names the key as the tenant knows it.
#[test]
fn a_tenants_script_on_its_compressed_key_is_refused_with_its_own_key_name() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[[tenants]]\nuser = \"acme\"\npassword = \"acme-secret\"\nprefix = \"ws:acme:\"\n",
    );
    let mut c = sidecar.client();
    assert_eq!(c.call(&["AUTH", "acme", "acme-secret"]), "+OK\r\n");
    let json = flow_states(4000);
    c.call_bytes(&[b"SET", b"flow:state:1", &json]);
    c.call(&["SET", "small", "hello"]);
    assert_eq!(
        c.call(&["EVAL", LEN, "1", "flow:state:1"]),
        refusal("flow:state:1")
    );
    let sha = sha1(LEN);
    assert_eq!(c.call(&["SCRIPT", "LOAD", LEN]), bulk(sha.as_bytes()));
    assert_eq!(c.call(&["EVALSHA", &sha, "1", "small"]), ":5\r\n");
    assert_eq!(
        c.call(&["EVALSHA", &sha, "1", "flow:state:1"]),
        refusal("flow:state:1")
    );
    assert_eq!(c.call(&["GET", "flow:state:1"]), bulk(&json));
}

fn sort_refusal(key: &str) -> String {
    format!(
        "-ERR key '{key}' holds a value compressed by redis-sidecar; SORT cannot sort by it or \
         store it (it would use the compressed bytes): sort by a key outside [compression] keys\r\n"
    )
}

#[test]
fn sort_refuses_compressed_weights_and_stores_and_restores_what_it_returns() {
    let (redis, sidecar, json) = setup();
    let mut c = sidecar.client();
    let other = flow_states(3000);
    c.call(&["RPUSH", "ids", "1", "2"]);
    c.call_bytes(&[
        b"MSET", b"w_1", &json, b"w_2", b"small", b"o_1", &other, b"o_2", b"x",
    ]);
    for cmd in [
        vec!["SORT", "ids", "BY", "w_*", "ALPHA"],
        vec!["SORT_RO", "ids", "BY", "w_*", "ALPHA", "GET", "#"],
        vec!["SORT", "ids", "BY", "nosort", "GET", "o_*", "STORE", "dest"],
    ] {
        let key = if cmd.contains(&"STORE") { "o_1" } else { "w_1" };
        assert_eq!(c.call(&cmd), sort_refusal(key), "{cmd:?}");
    }
    assert_eq!(c.call(&["EXISTS", "dest"]), ":0\r\n");
    // What SORT returns is restored.
    let mut want = b"*4\r\n".to_vec();
    for v in [&b"1"[..], &other, b"2", b"x"] {
        want.extend(bulk(v));
    }
    assert_eq!(c.call(&["SORT", "ids", "GET", "#", "GET", "o_*"]), want);
    // Weights and stores of other values: as Redis.
    c.call(&["MSET", "n_1", "20", "n_2", "10"]);
    let direct = |args: &[&str]| redis.client().call(args);
    for cmd in [
        vec!["SORT", "ids", "BY", "n_*", "DESC"],
        vec!["SORT", "ids", "BY", "n_*", "GET", "n_*", "STORE", "d2"],
        vec!["LRANGE", "d2", "0", "-1"],
        vec!["SORT", "ids", "BY", "h_*->f"],
    ] {
        assert_eq!(c.call(&cmd), direct(&cmd), "{cmd:?}");
    }
}
