//! Tenants, end to end through the sidecar: upstream mode (a real redis-server) and the
//! embedded store. Alice's `k` is `ws:alice:k` upstream; bob can neither see nor change it;
//! KEYS, SCAN, XREAD and pub/sub come back un-prefixed; bob's PUBLISH does not reach alice;
//! alice's FLUSHALL spares bob; passwords never reach the log.

mod support;

use std::process::{Command, Stdio};

use bytes::Bytes;
use redis_sidecar::config::Cli;
use redis_sidecar::protocol::{parse_reply, Reply};
use support::{stop_and_read_log, temp_dir, RawClient, RedisServer, Sidecar};

pub const CONFIG: &str = r#"
[auth]
password = "root-secret"

[[tenants]]
user = "alice"
password = "alice-secret"
prefix = "ws:alice:"

[[tenants]]
user = "bob"
password = "bob-secret"
prefix = "ws:bob:"
"#;

/// A sidecar with tenants, and a way to see the raw key space.
struct Env {
    sidecar: Sidecar,
    redis: Option<RedisServer>,
}

impl Env {
    fn upstream() -> Env {
        let redis = RedisServer::start();
        let sidecar = Sidecar::with_config(&redis.url(), CONFIG);
        Env {
            sidecar,
            redis: Some(redis),
        }
    }

    fn embedded() -> Env {
        let file = temp_dir().join("tenants.toml");
        std::fs::write(&file, CONFIG).unwrap();
        let sidecar = Sidecar::start(Cli {
            config: Some(file),
            ..Cli::default()
        });
        Env {
            sidecar,
            redis: None,
        }
    }

    /// A client logged in as `user` (password `<user>-secret`).
    fn login(&self, user: &str) -> RawClient {
        let mut c = self.sidecar.client();
        let password = format!("{user}-secret");
        assert_eq!(&c.call(&["AUTH", user, &password])[..], b"+OK\r\n");
        c
    }

    /// The raw key space: redis-server itself, or the sidecar's default user.
    fn admin(&self) -> RawClient {
        match &self.redis {
            Some(r) => r.client(),
            None => {
                let mut c = self.sidecar.client();
                assert_eq!(&c.call(&["AUTH", "root-secret"])[..], b"+OK\r\n");
                c
            }
        }
    }
}

fn both(check: impl Fn(&Env)) {
    check(&Env::upstream());
    check(&Env::embedded());
}

#[test]
fn authentication_is_required_and_checked() {
    both(|env| {
        let mut c = env.sidecar.client();
        assert_eq!(&c.call(&["PING"])[..], b"+PONG\r\n");
        assert_eq!(
            &c.call(&["GET", "k"])[..],
            b"-NOAUTH Authentication required.\r\n"
        );
        assert_eq!(
            &c.call(&["AUTH", "alice", "nope"])[..],
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            &c.call(&["AUTH", "alice-secret"])[..],
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(&c.call(&["AUTH", "alice", "alice-secret"])[..], b"+OK\r\n");
        assert_eq!(&c.call(&["SET", "k", "v"])[..], b"+OK\r\n");
        assert!(c
            .call(&["AUTH", "bob", "bob-secret"])
            .starts_with(b"-ERR this connection already belongs"));
        // HELLO 3 AUTH: checked here, answered by the sidecar's HELLO, in RESP3.
        let mut h = env.sidecar.client();
        let bad = h.call(&["HELLO", "3", "AUTH", "bob", "alice-secret"]);
        assert!(bad.starts_with(b"-WRONGPASS"), "{bad:?}");
        let hello = h.call(&["HELLO", "3", "AUTH", "bob", "bob-secret"]);
        assert!(hello.starts_with(b"%"), "{hello:?}");
        assert_eq!(&h.call(&["GET", "k"])[..], b"_\r\n");
        // RESET signs out.
        assert_eq!(&h.call(&["RESET"])[..], b"+RESET\r\n");
        assert!(h.call(&["GET", "k"]).starts_with(b"-NOAUTH"));
    });
}

#[test]
fn keys_are_prefixed_and_tenants_isolated() {
    both(|env| {
        let mut alice = env.login("alice");
        let mut bob = env.login("bob");
        let mut admin = env.admin();
        assert_eq!(&alice.call(&["SET", "k", "alice-value"])[..], b"+OK\r\n");
        assert_eq!(
            &admin.call(&["GET", "ws:alice:k"])[..],
            b"$11\r\nalice-value\r\n"
        );
        assert_eq!(&admin.call(&["EXISTS", "k"])[..], b":0\r\n");
        assert_eq!(&bob.call(&["GET", "k"])[..], b"$-1\r\n");
        assert_eq!(&bob.call(&["EXISTS", "k"])[..], b":0\r\n");
        assert_eq!(&bob.call(&["DEL", "k"])[..], b":0\r\n");
        assert_eq!(&bob.call(&["SET", "k", "bob-value"])[..], b"+OK\r\n");
        assert_eq!(&bob.call(&["RENAME", "k", "k2"])[..], b"+OK\r\n");
        assert_eq!(&alice.call(&["GET", "k"])[..], b"$11\r\nalice-value\r\n");
        assert_eq!(
            &admin.call(&["GET", "ws:bob:k2"])[..],
            b"$9\r\nbob-value\r\n"
        );
        // Multi-key commands, numkeys and scripts.
        alice.call(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(
            &alice.call(&["MGET", "a", "b", "k2"])[..],
            b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
        );
        assert_eq!(
            &alice.call(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "a"])[..],
            b"$1\r\n1\r\n"
        );
        assert_eq!(
            &admin.call(&["EXISTS", "ws:alice:a", "ws:alice:b"])[..],
            b":2\r\n"
        );
        // Refusals say why.
        let refused = alice.call(&["CONFIG", "GET", "*"]);
        assert!(
            refused.starts_with(b"-ERR 'config|get' is not allowed for tenants"),
            "{refused:?}"
        );
        assert!(alice
            .call(&["MOVE", "k", "1"])
            .starts_with(b"-ERR 'move' is not allowed"));
    });
}

/// The bulk strings of an array reply, sorted.
fn sorted(reply: &[u8]) -> Vec<String> {
    let Some(Reply::Array(items)) = parse_reply(&Bytes::copy_from_slice(reply)) else {
        panic!("not an array: {reply:?}");
    };
    let mut v: Vec<String> = items.iter().map(text).collect();
    v.sort();
    v
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

#[test]
fn keys_scan_xread_and_randomkey_come_back_unprefixed() {
    both(|env| {
        let mut alice = env.login("alice");
        let mut bob = env.login("bob");
        alice.call(&["SET", "k1", "v"]);
        alice.call(&["SET", "k2", "v"]);
        bob.call(&["SET", "bobs", "v"]);
        assert_eq!(sorted(&alice.call(&["KEYS", "*"])), ["k1", "k2"]);
        assert_eq!(sorted(&alice.call(&["KEYS", "k1"])), ["k1"]);
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = parse_reply(&alice.call(&["SCAN", &cursor, "COUNT", "2"])).unwrap();
            let Reply::Array(parts) = reply else {
                panic!("{reply:?}")
            };
            let Reply::Array(keys) = &parts[1] else {
                panic!("{parts:?}")
            };
            seen.extend(keys.iter().map(text));
            cursor = text(&parts[0]);
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["k1", "k2"]);
        let random = alice.call(&["RANDOMKEY"]);
        assert!(
            &random[..] == b"$2\r\nk1\r\n" || &random[..] == b"$2\r\nk2\r\n",
            "{random:?}"
        );
        assert_eq!(&bob.call(&["RANDOMKEY"])[..], b"$4\r\nbobs\r\n");
        assert_eq!(&alice.call(&["DBSIZE"])[..], b":2\r\n");
        alice.call(&["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(
            &alice.call(&["XREAD", "STREAMS", "s", "0"])[..],
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        alice.call(&["RPUSH", "q", "job"]);
        assert_eq!(
            &alice.call(&["BLPOP", "none", "q", "1"])[..],
            b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n"
        );
        assert_eq!(&bob.call(&["XREAD", "STREAMS", "s", "0"])[..], b"*-1\r\n");
    });
}

#[test]
fn pubsub_is_per_tenant_and_unprefixed() {
    both(|env| {
        let mut sub = env.login("alice");
        assert_eq!(
            &sub.call(&["SUBSCRIBE", "news"])[..],
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        assert_eq!(
            &sub.call(&["PSUBSCRIBE", "n*"])[..],
            b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"
        );
        let mut alice = env.login("alice");
        let mut bob = env.login("bob");
        assert_eq!(&bob.call(&["PUBLISH", "news", "from-bob"])[..], b":0\r\n");
        assert_eq!(sorted(&alice.call(&["PUBSUB", "CHANNELS"])), ["news"]);
        assert_eq!(&bob.call(&["PUBSUB", "CHANNELS"])[..], b"*0\r\n");
        assert_eq!(
            &alice.call(&["PUBSUB", "NUMSUB", "news"])[..],
            b"*2\r\n$4\r\nnews\r\n:1\r\n"
        );
        assert_eq!(&alice.call(&["PUBLISH", "news", "hello"])[..], b":2\r\n");
        // The first messages alice's subscriber gets are alice's, not bob's.
        assert_eq!(
            &sub.read_reply()[..],
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
        );
        assert_eq!(
            &sub.read_reply()[..],
            b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
        );
    });
}

#[test]
fn flushall_and_flushdb_spare_other_tenants() {
    both(|env| {
        let mut alice = env.login("alice");
        let mut bob = env.login("bob");
        let mut admin = env.admin();
        for i in 0..50 {
            alice.call(&["SET", &format!("a{i}"), "v"]);
        }
        bob.call(&["SET", "b", "v"]);
        admin.call(&["SET", "shared", "v"]);
        assert_eq!(&alice.call(&["FLUSHALL"])[..], b"+OK\r\n");
        assert_eq!(&alice.call(&["DBSIZE"])[..], b":0\r\n");
        assert_eq!(&bob.call(&["DBSIZE"])[..], b":1\r\n");
        assert_eq!(&bob.call(&["GET", "b"])[..], b"$1\r\nv\r\n");
        assert_eq!(
            &admin.call(&["EXISTS", "shared", "ws:bob:b"])[..],
            b":2\r\n"
        );
        assert_eq!(&bob.call(&["FLUSHDB", "ASYNC"])[..], b"+OK\r\n");
        assert_eq!(
            &admin.call(&["EXISTS", "shared", "ws:bob:b"])[..],
            b":1\r\n"
        );
    });
}

#[test]
fn passwords_never_reach_the_log() {
    let dir = temp_dir();
    let file = dir.join("tenants.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let (mut child, addr) = support::spawn_sidecar(|port, http| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redis-sidecar"));
        command
            .args([
                "--config",
                file.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    });
    let mut c = RawClient::connect(addr);
    c.call(&["AUTH", "alice", "wrong-password-123"]);
    c.call(&["AUTH", "root-secret"]);
    c.call(&["HELLO", "3", "AUTH", "bob", "bob-secret"]);
    c.call(&["AUTH", "alice", "alice-secret"]);
    c.call(&["SET", "k", "v"]);
    drop(c);
    let log = stop_and_read_log(&mut child);
    assert!(
        log.contains("authentication failed"),
        "the failure is logged: {log}"
    );
    for secret in [
        "wrong-password-123",
        "root-secret",
        "bob-secret",
        "alice-secret",
    ] {
        assert!(!log.contains(secret), "{secret} appears in the log:\n{log}");
    }
}

#[test]
fn resp3_pushes_are_unprefixed_too() {
    both(|env| {
        let mut sub = env.sidecar.client();
        let hello = sub.call(&["HELLO", "3", "AUTH", "alice", "alice-secret"]);
        assert!(hello.starts_with(b"%"), "{hello:?}");
        assert_eq!(
            &sub.call(&["SUBSCRIBE", "a", "b"])[..],
            b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            &sub.read_reply()[..],
            b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        );
        let mut alice = env.login("alice");
        assert_eq!(&alice.call(&["PUBLISH", "b", "hi"])[..], b":1\r\n");
        assert_eq!(
            &sub.read_reply()[..],
            b">3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nhi\r\n"
        );
    });
}

#[test]
fn auth_password_alone_works_like_requirepass() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[auth]\npassword = \"pw\"\n");
    let mut c = sidecar.client();
    assert!(c.call(&["SET", "k", "v"]).starts_with(b"-NOAUTH"));
    assert!(c.call(&["AUTH", "nope"]).starts_with(b"-WRONGPASS"));
    assert_eq!(&c.call(&["AUTH", "pw"])[..], b"+OK\r\n");
    assert_eq!(&c.call(&["SET", "k", "v"])[..], b"+OK\r\n");
    let mut d = sidecar.client();
    assert_eq!(&d.call(&["AUTH", "default", "pw"])[..], b"+OK\r\n");
    assert_eq!(&redis.client().call(&["GET", "k"])[..], b"$1\r\nv\r\n");
}
