//! Issue 2: the sidecar forwarding to a real redis-server, driven by real clients.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{show, RawClient, RedisServer, Sidecar};

fn setup() -> (RedisServer, Sidecar) {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    (redis, sidecar)
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli installed");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn set_through_the_sidecar_lands_upstream() {
    let (redis, sidecar) = setup();
    let client = redis::Client::open(sidecar.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("SET")
        .arg("flow:state:1")
        .arg("running")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        redis.client().call(&["GET", "flow:state:1"]),
        "$7\r\nrunning\r\n"
    );
    let got: String = redis::cmd("GET")
        .arg("flow:state:1")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, "running");
}

#[test]
fn a_50000_command_pipeline_is_answered_in_order() {
    let (redis, sidecar) = setup();
    let client = redis::Client::open(sidecar.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..50_000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        if i % 1000 == 0 {
            pipe.cmd("INCR").arg("counter");
        }
    }
    let counts: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<i64>>(),
        "INCR replies in request order"
    );
    assert_eq!(redis.client().call(&["DBSIZE"]), ":50001\r\n");
    assert_eq!(redis.client().call(&["GET", "k49999"]), "$5\r\n49999\r\n");
}

#[test]
fn redis_cli_pipe_mode_reports_no_errors() {
    let (redis, sidecar) = setup();
    let mut input = Vec::new();
    for i in 0..50_000 {
        let (k, v) = (format!("pipe:{i}"), format!("v{i}"));
        write!(
            input,
            "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
            k.len(),
            v.len()
        )
        .unwrap();
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &sidecar.addr.port().to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 50000"), "{text}");
    assert_eq!(redis.client().call(&["DBSIZE"]), ":50000\r\n");
}

#[test]
fn inline_commands_are_understood() {
    let (_redis, sidecar) = setup();
    let mut c = sidecar.client();
    c.write_raw(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\n");
    assert_eq!(c.read_reply(), "+PONG\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert_eq!(c.read_reply(), "$11\r\nhello world\r\n");
}

#[test]
fn multi_exec_and_watch_work_through_the_sidecar() {
    let (_redis, sidecar) = setup();
    let mut c = sidecar.client();
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*2\r\n+OK\r\n:2\r\n");
    // WATCH aborts EXEC when another client changes the key.
    let mut other = sidecar.client();
    assert_eq!(c.call(&["WATCH", "a"]), "+OK\r\n");
    assert_eq!(other.call(&["SET", "a", "changed"]), "+OK\r\n");
    c.call(&["MULTI"]);
    c.call(&["SET", "a", "mine"]);
    assert_eq!(c.call(&["EXEC"]), "*-1\r\n");
    assert_eq!(other.call(&["GET", "a"]), "$7\r\nchanged\r\n");
}

#[test]
fn blpop_is_woken_by_another_clients_lpush() {
    let (redis, sidecar) = setup();
    let mut waiter = sidecar.client();
    waiter.send(&[b"BLPOP", b"celery", b"10"]);
    // Wait until redis-server itself reports the client as blocked.
    let mut probe = redis.client();
    support::wait_until(
        "the BLPOP to block upstream",
        Duration::from_secs(5),
        || String::from_utf8_lossy(&probe.call(&["INFO", "clients"])).contains("blocked_clients:1"),
    );
    let mut pusher = sidecar.client();
    assert_eq!(pusher.call(&["LPUSH", "celery", "task-1"]), ":1\r\n");
    assert_eq!(
        waiter.read_reply(),
        "*2\r\n$6\r\ncelery\r\n$6\r\ntask-1\r\n"
    );
}

#[test]
fn subscribe_receives_publish_in_resp2_and_resp3() {
    let (_redis, sidecar) = setup();
    for resp3 in [false, true] {
        let mut sub = sidecar.client();
        if resp3 {
            assert!(sub.call(&["HELLO", "3"]).starts_with(b"%7\r\n"));
        }
        sub.send(&[b"SUBSCRIBE", b"sse:flow:1", b"sse:flow:2"]);
        let kind = if resp3 { ">" } else { "*" };
        assert_eq!(
            sub.read_reply(),
            format!("{kind}3\r\n$9\r\nsubscribe\r\n$10\r\nsse:flow:1\r\n:1\r\n")
        );
        assert_eq!(
            sub.read_reply(),
            format!("{kind}3\r\n$9\r\nsubscribe\r\n$10\r\nsse:flow:2\r\n:2\r\n")
        );
        let mut publisher = sidecar.client();
        assert_eq!(
            publisher.call(&["PUBLISH", "sse:flow:2", "step-done"]),
            ":1\r\n"
        );
        assert_eq!(
            sub.read_reply(),
            format!("{kind}3\r\n$7\r\nmessage\r\n$10\r\nsse:flow:2\r\n$9\r\nstep-done\r\n")
        );
        if resp3 {
            // RESP3 allows ordinary commands while subscribed; their replies are not pushes.
            assert_eq!(sub.call(&["ECHO", "still here"]), "$10\r\nstill here\r\n");
        }
        sub.send(&[b"UNSUBSCRIBE"]);
        assert!(sub.read_reply().ends_with(b":1\r\n"));
        assert!(sub.read_reply().ends_with(b":0\r\n"));
        assert_eq!(sub.call(&["PING"]), "+PONG\r\n", "back to normal mode");
    }
}

#[test]
fn hello_3_switches_to_resp3_replies() {
    let (_redis, sidecar) = setup();
    let mut c = sidecar.client();
    let hello = c.call(&["HELLO", "3"]);
    assert!(show(&hello).contains("proto⏎:3"), "{}", show(&hello));
    c.call(&["HSET", "sse:1", "a", "1"]);
    assert_eq!(
        c.call(&["HGETALL", "sse:1"]),
        "%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    assert_eq!(c.call(&["GET", "missing"]), "_\r\n");
    let out = redis_cli(sidecar.addr.port(), &["-3", "HELLO", "3"]);
    assert!(out.contains("proto") && out.contains('3'), "{out}");
}

#[test]
fn command_docs_answers_for_redis_cli() {
    let (_redis, sidecar) = setup();
    let out = redis_cli(sidecar.addr.port(), &["COMMAND", "DOCS", "GET"]);
    assert!(out.contains("summary"), "{out}");
}

#[test]
fn a_5_mib_random_value_round_trips_byte_exact() {
    let (redis, sidecar) = setup();
    let mut value = vec![0u8; 5 * 1024 * 1024];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in value.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut c = sidecar.client();
    assert_eq!(c.call_bytes(&[b"SET", b"big", &value]), "+OK\r\n");
    let reply = c.call_bytes(&[b"GET", b"big"]);
    let header = format!("${}\r\n", value.len());
    assert_eq!(&reply[..header.len()], header.as_bytes());
    assert!(
        reply[header.len()..reply.len() - 2] == value[..],
        "value changed in transit"
    );
    let direct = redis.client().call_bytes(&[b"GET", b"big"]);
    assert_eq!(direct, reply);
}

#[test]
fn a_malformed_frame_gets_a_protocol_error_and_others_go_on() {
    let (_redis, sidecar) = setup();
    let mut neighbour = sidecar.client();
    assert_eq!(neighbour.call(&["SET", "n", "1"]), "+OK\r\n");
    let mut bad = sidecar.client();
    bad.write_raw(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n+oops\r\n");
    assert_eq!(
        bad.read_reply(),
        "+PONG\r\n",
        "requests before the bad frame are answered"
    );
    assert_eq!(
        bad.read_reply(),
        "-ERR Protocol error: expected '$', got '+'\r\n"
    );
    assert!(
        bad.try_read_reply().is_none(),
        "the connection is closed after a protocol error"
    );
    assert_eq!(neighbour.call(&["GET", "n"]), "$1\r\n1\r\n");
}

#[test]
fn without_fallback_an_unreachable_upstream_answers_promptly_with_an_error() {
    let port = support::free_port();
    let sidecar = Sidecar::with_config(
        &format!("redis://127.0.0.1:{port}"),
        "[fallback]\nenabled = false\n",
    );
    let mut c = sidecar.client();
    let started = Instant::now();
    let reply = c.call(&["GET", "k"]);
    assert!(
        show(&reply).starts_with("-ERR upstream unavailable: connect to 127.0.0.1:"),
        "{}",
        show(&reply)
    );
    assert_eq!(
        c.call(&["PING"]).first(),
        Some(&b'-'),
        "still answered, still an error"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
}

#[test]
fn the_upstream_password_and_database_come_from_the_url() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let sidecar = Sidecar::upstream(&format!(
        "redis://default:s3cret@127.0.0.1:{}/2",
        redis.port
    ));
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
    let mut direct = redis.client();
    direct.call(&["AUTH", "s3cret"]);
    direct.call(&["SELECT", "2"]);
    assert_eq!(direct.call(&["GET", "k"]), "$1\r\nv\r\n");
    let wrong = Sidecar::upstream(&format!("redis://default:wrong@127.0.0.1:{}", redis.port));
    let reply = wrong.client().call(&["GET", "k"]);
    assert!(
        show(&reply).contains("upstream refused AUTH"),
        "{}",
        show(&reply)
    );
    assert!(
        !show(&reply).contains("wrong"),
        "the password is not echoed: {}",
        show(&reply)
    );
}

/// A username in the URL authenticates as that ACL user (`AUTH app apppass`, `HELLO 3 AUTH app
/// apppass`): the upstream's `default` user has another password, so the password alone is
/// refused. Every connection the sidecar opens upstream (pooled RESP2 and RESP3, dedicated,
/// health check) is the ACL user's.
#[test]
fn the_upstream_acl_user_comes_from_the_url() {
    let redis = RedisServer::start_with(&["--requirepass", "adminpass"]);
    let mut admin = redis.client();
    assert_eq!(admin.call(&["AUTH", "adminpass"]), "+OK\r\n");
    let acl = [
        "ACL", "SETUSER", "app", "on", ">apppass", "~*", "&*", "+@all",
    ];
    assert_eq!(admin.call(&acl), "+OK\r\n");
    let sidecar = Sidecar::upstream(&format!("redis://app:apppass@127.0.0.1:{}", redis.port));
    let mut resp2 = sidecar.client();
    assert_eq!(resp2.call(&["SET", "flow:state:acl", "v"]), "+OK\r\n");
    assert_eq!(resp2.call(&["GET", "flow:state:acl"]), "$1\r\nv\r\n");
    assert_eq!(admin.call(&["GET", "flow:state:acl"]), "$1\r\nv\r\n");
    let mut resp3 = sidecar.client();
    assert!(resp3.call(&["HELLO", "3"]).starts_with(b"%"));
    assert_eq!(resp3.call(&["GET", "flow:state:acl"]), "$1\r\nv\r\n");
    assert_eq!(
        resp2.call(&["MULTI"]),
        "+OK\r\n",
        "held on a dedicated connection"
    );
    let conns = support::client_list(&mut admin);
    assert!(
        conns.len() >= 3,
        "pooled RESP2 and RESP3, dedicated: {conns:#?}"
    );
    assert!(
        conns.iter().any(|c| c.contains(" cmd=multi ")),
        "{conns:#?}"
    );
    for conn in &conns {
        assert!(conn.contains(" user=app "), "{conn}");
    }
    assert_eq!(resp2.call(&["EXEC"]), "*0\r\n");

    let password_alone = Sidecar::upstream(&format!("redis://:apppass@127.0.0.1:{}", redis.port));
    let reply = show(&password_alone.client().call(&["GET", "flow:state:acl"]));
    assert!(
        reply.contains("upstream refused AUTH: WRONGPASS"),
        "{reply}"
    );
    assert!(
        !reply.contains("apppass"),
        "the password is not echoed: {reply}"
    );
}

#[test]
fn quit_answers_ok_and_closes() {
    let (_redis, sidecar) = setup();
    let mut c: RawClient = sidecar.client();
    c.write_raw(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n");
    assert_eq!(c.read_reply(), "+PONG\r\n");
    assert_eq!(c.read_reply(), "+OK\r\n");
    assert!(c.try_read_reply().is_none());
}

#[test]
fn scripts_select_and_client_names_work_through_the_sidecar() {
    let (redis, sidecar) = setup();
    let mut c = sidecar.client();
    assert_eq!(
        c.call(&[
            "EVAL",
            "return redis.call('SET', KEYS[1], ARGV[1])",
            "1",
            "lock:x",
            "tok"
        ]),
        "+OK\r\n"
    );
    let sha = c.call(&["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"]);
    let sha = String::from_utf8_lossy(&sha[5..sha.len() - 2]).to_string();
    assert_eq!(c.call(&["EVALSHA", &sha, "1", "lock:x"]), "$3\r\ntok\r\n");
    assert_eq!(c.call(&["SELECT", "5"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "in5", "yes"]), "+OK\r\n");
    assert_eq!(c.call(&["CLIENT", "SETNAME", "worker-1"]), "+OK\r\n");
    assert_eq!(c.call(&["CLIENT", "GETNAME"]), "$8\r\nworker-1\r\n");
    let mut direct = redis.client();
    direct.call(&["SELECT", "5"]);
    assert_eq!(direct.call(&["GET", "in5"]), "$3\r\nyes\r\n");
    // The name belongs to the client's session in the sidecar: upstream connections are shared.
    assert!(!show(&direct.call(&["CLIENT", "LIST"])).contains("name=worker-1"));
}

#[test]
fn xread_block_is_woken_by_xadd() {
    let (redis, sidecar) = setup();
    let mut reader = sidecar.client();
    reader.send(&[
        b"XREAD",
        b"BLOCK",
        b"10000",
        b"STREAMS",
        b"flow:events:1",
        b"$",
    ]);
    let mut probe = redis.client();
    support::wait_until(
        "the XREAD to block upstream",
        Duration::from_secs(5),
        || String::from_utf8_lossy(&probe.call(&["INFO", "clients"])).contains("blocked_clients:1"),
    );
    let mut writer = sidecar.client();
    let id = writer.call(&["XADD", "flow:events:1", "*", "type", "step"]);
    let reply = reader.read_reply();
    assert!(
        show(&reply).starts_with("*1⏎*2⏎$13⏎flow:events:1⏎"),
        "{}",
        show(&reply)
    );
    assert!(
        reply
            .windows(id.len() - 2)
            .any(|w| w == &id[..id.len() - 2]),
        "the new entry's id is in the reply"
    );
}

#[test]
fn pooled_and_pinned_commands_in_one_pipeline_keep_their_order() {
    let (_redis, sidecar) = setup();
    let mut c = sidecar.client();
    c.write_raw(
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n\
          *1\r\n$4\r\nEXEC\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n\
          *3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$4\r\n0.01\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n",
    );
    let replies: Vec<String> = (0..8).map(|_| show(&c.read_reply())).collect();
    assert_eq!(
        replies,
        [
            "+OK⏎",
            "+OK⏎",
            "+QUEUED⏎",
            "*1⏎:2⏎",
            "$1⏎2⏎",
            "$-1⏎",
            "*-1⏎",
            ":3⏎"
        ]
    );
}

#[test]
fn two_hundred_clients_share_a_few_upstream_connections() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::start(redis_sidecar::config::Cli {
        upstream: Some(redis.url()),
        upstream_connections: Some(3),
        ..Default::default()
    });
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let addr = sidecar.addr;
            std::thread::spawn(move || {
                let mut c = RawClient::connect(addr);
                for j in 0..20 {
                    let key = format!("client:{i}:{j}");
                    assert_eq!(c.call(&["SET", &key, &format!("{i}-{j}")]), "+OK\r\n");
                    assert_eq!(
                        c.call(&["GET", &key]),
                        format!("${}\r\n{i}-{j}\r\n", format!("{i}-{j}").len())
                    );
                }
                c
            })
        })
        .collect();
    let clients: Vec<RawClient> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let list = redis.client().call(&["CLIENT", "LIST"]);
    let upstream_connections = show(&list).matches("id=").count() - 1; // minus the probe itself
    assert!(
        upstream_connections <= 3 + 2,
        "{upstream_connections} upstream connections for 200 clients"
    );
    assert_eq!(redis.client().call(&["DBSIZE"]), ":4000\r\n");
    drop(clients);
}

#[test]
fn running_out_of_dedicated_connections_is_a_clear_error() {
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("sidecar-dedicated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sidecar.toml");
    std::fs::write(&file, "[upstream]\ndedicated_connections = 1\n").unwrap();
    let sidecar = Sidecar::start(redis_sidecar::config::Cli {
        upstream: Some(redis.url()),
        config: Some(file),
        ..Default::default()
    });
    let mut first = sidecar.client();
    assert_eq!(first.call(&["MULTI"]), "+OK\r\n");
    let mut second = sidecar.client();
    let reply = show(&second.call(&["MULTI"]));
    assert!(
        reply.starts_with("-ERR no dedicated upstream connection left: all 1 are held"),
        "{reply}"
    );
    assert_eq!(
        second.call(&["GET", "x"]),
        "$-1\r\n",
        "pooled commands still work"
    );
    assert_eq!(first.call(&["EXEC"]), "*0\r\n");
    assert_eq!(
        second.call(&["MULTI"]),
        "+OK\r\n",
        "the connection was released after EXEC"
    );
}
