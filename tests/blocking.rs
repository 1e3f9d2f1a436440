//! Blocking list commands over the wire: each scenario runs against a real redis-server and
//! against the sidecar's embedded store, asserts what it expects of each, and the two
//! transcripts of replies must be byte-identical.
//!
//! Synchronization is by observation, never by sleeping: a client that is to block sends
//! `PING` and the blocking command in ONE write. Both servers execute every command of a read
//! before answering any of them (the sidecar runs a read's batch under one lock and writes the
//! PONG only once the blocking command is parked; Redis processes its whole query buffer before
//! writing replies), so receiving the PONG proves the command is blocked. That relies on a
//! single small loopback write being read in one piece, which Linux guarantees in practice; on
//! redis-server it is double-checked with `INFO clients` (`blocked_clients`).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use support::{show, wait_until, RawClient, RedisServer, Sidecar};

enum Server {
    Real(RedisServer),
    Ours(Sidecar),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Real(r) => r.addr(),
            Server::Ours(s) => s.addr,
        }
    }

    /// A client whose reads fail after 10 s instead of hanging the test.
    fn client(&self) -> RawClient {
        let client = RawClient::connect(self.addr());
        client.set_read_timeout(Duration::from_secs(10));
        client
    }

    /// Waits until `n` clients are blocked, where the server reports it (redis-server's INFO);
    /// on the sidecar the PING handshake of [`block`] already established it.
    fn wait_blocked(&self, n: usize) {
        if let Server::Real(redis) = self {
            let mut probe = redis.client();
            let want = format!("blocked_clients:{n}\r\n");
            wait_until("blocked clients", Duration::from_secs(10), || {
                let info = probe.call(&["INFO", "clients"]);
                String::from_utf8_lossy(&info).contains(&want)
            });
        }
    }
}

fn encode(cmds: &[&[&str]]) -> BytesMut {
    let mut out = BytesMut::new();
    for cmd in cmds {
        redis_sidecar::command::encode_args(cmd, &mut out);
    }
    out
}

/// Sends `cmd` on `client` so that it blocks, and returns once it is blocked (see the module
/// doc); `blocked` is how many clients are blocked on the server afterwards.
fn block(server: &Server, client: &mut RawClient, cmd: &[&str], blocked: usize) {
    client.write_raw(&encode(&[&["PING"], cmd]));
    assert_eq!(show(&client.read_reply()), "+PONG⏎");
    server.wait_blocked(blocked);
}

/// Runs `scenario` on a real redis-server and on the sidecar; the transcripts must match.
fn on_both(scenario: impl Fn(&Server) -> Vec<Bytes>) {
    let real = scenario(&Server::Real(RedisServer::start()));
    let ours = scenario(&Server::Ours(Sidecar::embedded()));
    let shown = |t: &[Bytes]| t.iter().map(|r| show(r)).collect::<Vec<_>>();
    assert_eq!(
        shown(&ours),
        shown(&real),
        "transcripts differ (left: sidecar, right: redis-server)"
    );
}

#[test]
fn blpop_is_woken_by_another_clients_push() {
    on_both(|server| {
        let (mut a, mut b) = (server.client(), server.client());
        block(server, &mut a, &["BLPOP", "k", "0"], 1);
        let pushed = b.call(&["LPUSH", "k", "v"]);
        let served = a.read_reply();
        assert_eq!(show(&served), "*2⏎$1⏎k⏎$1⏎v⏎");
        let left = b.call(&["EXISTS", "k"]);
        assert_eq!(show(&left), ":0⏎", "the served element was removed");
        // Another key type, another end, another database: BRPOP in db 1 over several keys.
        a.call(&["SELECT", "1"]);
        b.call(&["SELECT", "1"]);
        block(server, &mut a, &["BRPOP", "x", "y", "0"], 1);
        let pushed_y = b.call(&["RPUSH", "y", "1", "2"]);
        let served_y = a.read_reply();
        assert_eq!(show(&served_y), "*2⏎$1⏎y⏎$1⏎2⏎");
        vec![
            pushed,
            served,
            left,
            pushed_y,
            served_y,
            b.call(&["LRANGE", "y", "0", "-1"]),
        ]
    });
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    on_both(|server| {
        let (mut a, mut b, mut c) = (server.client(), server.client(), server.client());
        block(server, &mut a, &["BLPOP", "k", "0"], 1);
        block(server, &mut b, &["BLPOP", "k", "0"], 2);
        // One element at a time: the first to block gets the first; a wrong order would leave
        // `a` waiting and its read would time out.
        let mut transcript = vec![c.call(&["RPUSH", "k", "first"])];
        transcript.push(a.read_reply());
        transcript.push(c.call(&["RPUSH", "k", "second"]));
        transcript.push(b.read_reply());
        assert_eq!(show(&transcript[1]), "*2⏎$1⏎k⏎$5⏎first⏎");
        assert_eq!(show(&transcript[3]), "*2⏎$1⏎k⏎$6⏎second⏎");
        // Two elements in one push serve both waiters, again in arrival order.
        block(server, &mut b, &["BLPOP", "k", "0"], 1);
        block(server, &mut a, &["BLPOP", "k", "0"], 2);
        transcript.push(c.call(&["RPUSH", "k", "x", "y"]));
        transcript.push(b.read_reply());
        transcript.push(a.read_reply());
        assert_eq!(show(&transcript[5]), "*2⏎$1⏎k⏎$1⏎x⏎");
        transcript
    });
}

#[test]
fn blpop_times_out_with_nil() {
    on_both(|server| {
        let mut a = server.client();
        let started = Instant::now();
        let timed_out = a.call(&["BLPOP", "k", "0.1"]);
        assert_eq!(show(&timed_out), "*-1⏎");
        assert!(started.elapsed() < Duration::from_secs(5), "returned");
        let blmove = a.call(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0.05"]);
        let blmpop = a.call(&["BLMPOP", "0.05", "2", "k", "j", "RIGHT", "COUNT", "2"]);
        a.call(&["HELLO", "3"]);
        let resp3 = a.call(&["BRPOP", "k", "0.05"]);
        assert_eq!(show(&resp3), "_⏎");
        vec![
            timed_out,
            blmove,
            blmpop,
            resp3,
            a.call(&["EXISTS", "k", "d"]),
        ]
    });
}

#[test]
fn blmove_is_woken_and_its_push_wakes_the_next() {
    on_both(|server| {
        let (mut a, mut b, mut c) = (server.client(), server.client(), server.client());
        block(
            server,
            &mut a,
            &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"],
            1,
        );
        block(server, &mut b, &["BLPOP", "dst", "0"], 2);
        let pushed = c.call(&["RPUSH", "src", "v"]);
        let moved = a.read_reply();
        assert_eq!(show(&moved), "$1⏎v⏎");
        // The element BLMOVE pushed to dst woke the client blocked there.
        let chained = b.read_reply();
        assert_eq!(show(&chained), "*2⏎$3⏎dst⏎$1⏎v⏎");
        block(server, &mut a, &["BRPOPLPUSH", "src", "dst", "0"], 1);
        let pushed2 = c.call(&["LPUSH", "src", "w"]);
        let moved2 = a.read_reply();
        vec![
            pushed,
            moved,
            chained,
            pushed2,
            moved2,
            c.call(&["LRANGE", "dst", "0", "-1"]),
            c.call(&["EXISTS", "src"]),
        ]
    });
}

#[test]
fn a_client_that_leaves_does_not_swallow_the_next_push() {
    on_both(|server| {
        let (mut b, mut c) = (server.client(), server.client());
        // `a` is a bare socket so that it can half-close: the server sees EOF, drops the
        // blocked command and closes; our read then ends, proving the server has let go.
        let mut a = TcpStream::connect(server.addr()).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        a.write_all(&encode(&[&["PING"], &["BLPOP", "k", "0"]]))
            .unwrap();
        let mut pong = [0u8; 7];
        a.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        server.wait_blocked(1);
        block(server, &mut b, &["BLPOP", "k", "0"], 2);
        a.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing served to the client that left");
        server.wait_blocked(1);
        let pushed = c.call(&["RPUSH", "k", "v1"]);
        let served = b.read_reply();
        assert_eq!(show(&served), "*2⏎$1⏎k⏎$2⏎v1⏎");
        // With no reader left, a pushed value simply stays.
        let pushed2 = c.call(&["RPUSH", "k", "v2"]);
        let stays = c.call(&["LRANGE", "k", "0", "-1"]);
        assert_eq!(show(&stays), "*1⏎$2⏎v2⏎");
        vec![pushed, served, pushed2, stays]
    });
}

#[test]
fn blocking_commands_inside_multi_answer_at_once() {
    on_both(|server| {
        let mut a = server.client();
        let started = Instant::now();
        let mut transcript = vec![
            a.call(&["MULTI"]),
            a.call(&["BLPOP", "k", "0"]),
            a.call(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]),
            a.call(&["BLMPOP", "0", "1", "k", "LEFT"]),
            a.call(&["EXEC"]),
        ];
        assert_eq!(show(&transcript[4]), "*3⏎*-1⏎$-1⏎*-1⏎");
        assert!(started.elapsed() < Duration::from_secs(5), "did not block");
        // A push in the same transaction is seen by a later BLPOP in it.
        for cmd in [
            &["MULTI"][..],
            &["RPUSH", "k", "v"],
            &["BLPOP", "k", "0"],
            &["EXEC"],
        ] {
            transcript.push(a.call(cmd));
        }
        transcript
    });
}
