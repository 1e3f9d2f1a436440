//! MULTI ... EXEC through the policy layers keeps Redis's promises: a command a policy refuses
//! while queuing aborts the whole transaction (EXECABORT, nothing runs), a refused EXEC still
//! ends it on the backend, and each reply inside EXEC's array is rewritten as it would be on
//! its own (a tenant's keys un-prefixed).

mod support;

use redis_sidecar::config::Cli;
use support::{temp_dir, RawClient, RedisServer, Sidecar};

const EXECABORT: &str = "-EXECABORT Transaction discarded because of previous errors.\r\n";

fn expect(c: &mut RawClient, steps: &[(&[&str], &str)]) {
    for (cmd, want) in steps {
        let got = c.call(cmd);
        assert_eq!(String::from_utf8_lossy(&got), *want, "{cmd:?}");
    }
}

#[test]
fn a_budget_refusal_while_queuing_aborts_the_whole_transaction() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[budget]\nlimit = 20\nwindow = \"1h\"\n[budget.costs]\nSMEMBERS = 100\n",
    );
    let mut c = sidecar.client();
    c.call(&["MULTI"]);
    expect(&mut c, &[(&["SET", "a", "1"], "+QUEUED\r\n")]);
    let refused = c.call(&["SMEMBERS", "s"]);
    assert!(
        refused.starts_with(b"-ERR max hourly request limit exceeded"),
        "{refused:?}"
    );
    expect(
        &mut c,
        &[(&["SET", "b", "2"], "+QUEUED\r\n"), (&["EXEC"], EXECABORT)],
    );
    assert_eq!(redis.client().call(&["EXISTS", "a", "b"]), ":0\r\n");
    assert_eq!(redis.calls("exec"), 0, "EXEC never ran");
    assert_eq!(redis.calls("discard"), 1);
    // The connection is out of the transaction and the next one runs.
    expect(
        &mut c,
        &[
            (&["MULTI"], "+OK\r\n"),
            (&["SET", "c", "3"], "+QUEUED\r\n"),
            (&["EXEC"], "*1\r\n+OK\r\n"),
            (&["GET", "c"], "$1\r\n3\r\n"),
        ],
    );
}

#[test]
fn a_refused_exec_still_ends_the_transaction_upstream() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[budget]\nlimit = 3\nwindow = \"1h\"\n");
    let mut c = sidecar.client();
    expect(
        &mut c,
        &[
            (&["MULTI"], "+OK\r\n"),
            (&["SET", "a", "1"], "+QUEUED\r\n"),
            (&["SET", "b", "2"], "+QUEUED\r\n"),
        ],
    );
    let exec = String::from_utf8_lossy(&c.call(&["EXEC"])).into_owned();
    assert!(
        exec.starts_with(
            "-EXECABORT Transaction discarded because of: ERR max hourly request limit exceeded: used 3 of 3"
        ),
        "{exec}"
    );
    assert_eq!(redis.client().call(&["EXISTS", "a", "b"]), ":0\r\n");
    // PING is free, and answered at once: the client is no longer in MULTI.
    expect(&mut c, &[(&["PING"], "+PONG\r\n")]);
}

const TENANTS: &str = r#"
[[tenants]]
user = "alice"
password = "alice-secret"
prefix = "ws:alice:"
"#;

/// Each check runs against a sidecar forwarding to redis-server and one serving from its
/// embedded store.
fn both(check: impl Fn(&Sidecar)) {
    let redis = RedisServer::start();
    check(&Sidecar::with_config(&redis.url(), TENANTS));
    let file = temp_dir().join("tenants.toml");
    std::fs::write(&file, TENANTS).unwrap();
    check(&Sidecar::start(Cli {
        config: Some(file),
        ..Cli::default()
    }));
}

fn alice(sidecar: &Sidecar) -> RawClient {
    let mut c = sidecar.client();
    expect(&mut c, &[(&["AUTH", "alice", "alice-secret"], "+OK\r\n")]);
    c
}

#[test]
fn replies_inside_exec_are_unprefixed_like_any_other() {
    both(|sidecar| {
        let mut c = alice(sidecar);
        expect(
            &mut c,
            &[
                (&["MULTI"], "+OK\r\n"),
                (&["SET", "k", "v"], "+QUEUED\r\n"),
                (&["KEYS", "*"], "+QUEUED\r\n"),
                (&["SCAN", "0"], "+QUEUED\r\n"),
                (&["RPUSH", "q", "job"], "+QUEUED\r\n"),
                (&["BLPOP", "q", "0"], "+QUEUED\r\n"),
                (&["GET", "k"], "+QUEUED\r\n"),
                (
                    &["EXEC"],
                    "*6\r\n+OK\r\n*1\r\n$1\r\nk\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n:1\r\n*2\r\n$1\r\nq\r\n$3\r\njob\r\n$1\r\nv\r\n",
                ),
            ],
        );
    });
}

#[test]
fn a_tenant_refusal_while_queuing_aborts_the_transaction() {
    both(|sidecar| {
        let mut c = alice(sidecar);
        expect(
            &mut c,
            &[(&["MULTI"], "+OK\r\n"), (&["SET", "k", "v"], "+QUEUED\r\n")],
        );
        let refused = c.call(&["CONFIG", "GET", "maxmemory"]);
        assert!(refused.starts_with(b"-"), "{refused:?}");
        expect(
            &mut c,
            &[
                (&["EXEC"], EXECABORT),
                (&["EXISTS", "k"], ":0\r\n"),
                (&["PING"], "+PONG\r\n"),
            ],
        );
    });
}
