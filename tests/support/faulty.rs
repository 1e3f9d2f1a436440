//! Misbehaving upstreams for the fault tests: a TCP listener on a free loopback port, written for
//! the test, that answers each command the way the test's script says (a Redis-like answer, a
//! reply cut short, garbage, or nothing at all).
//!
//! Replies to the commands read in one `read` go out in one `write`, and [`Act::Hold`] keeps a
//! reply back until the next one is written, so a test can put a good reply and garbage into the
//! same segment the sidecar reads. Dropping a [`Faulty`] closes the listener and every connection,
//! so a real redis-server can take over its port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use redis_sidecar::protocol::{Limits, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{show, wait_until, RawClient, RedisServer, Sidecar};

/// What the fault does with one command.
pub enum Act {
    /// Answer with these bytes (with any held ones before them, in one write).
    Reply(&'static [u8]),
    /// Answer with bytes made for this command.
    Owned(Vec<u8>),
    /// Keep this answer back; it goes out with the next answer written.
    Hold(Vec<u8>),
    /// Never answer this command (keep reading the connection).
    Silent,
    /// Write these bytes (with any held ones), then close the connection.
    Close(&'static [u8]),
}

/// The script: the command's arguments -> what to do.
type Script = dyn Fn(&[Bytes]) -> Act + Send + Sync;

/// A misbehaving upstream; stopped (listener and connections closed) on drop.
pub struct Faulty {
    pub addr: SocketAddr,
    /// Every command received, as text (`"GET k"`), in arrival order, on any connection.
    seen: Arc<Mutex<Vec<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Faulty {
    /// A fault that reads commands and acts on each as `script` says.
    pub fn start(script: impl Fn(&[Bytes]) -> Act + Send + Sync + 'static) -> Faulty {
        Faulty::spawn(Some(Arc::new(script)))
    }

    /// Accepts connections, reads everything, and never writes a byte (not even a TLS
    /// ServerHello).
    pub fn mute() -> Faulty {
        Faulty::spawn(None)
    }

    fn spawn(script: Option<Arc<Script>>) -> Faulty {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_server = seen.clone();
        runtime.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, script.clone(), seen_by_server.clone()));
            }
        });
        Faulty {
            addr,
            seen,
            runtime: Some(runtime),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A `redis://` URL for this fault, with `userinfo` (`":pw@"`, or `""`).
    pub fn url(&self, userinfo: &str) -> String {
        format!("redis://{userinfo}{}", self.addr)
    }

    /// Whether a command starting with `prefix` (`"GET k"`) has arrived.
    pub fn saw(&self, prefix: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with(prefix))
    }

    /// Every command received so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Waits until the listener and every connection are closed, so the port is free.
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

async fn serve(mut socket: TcpStream, script: Option<Arc<Script>>, seen: Arc<Mutex<Vec<String>>>) {
    let mut parser = RequestParser::default();
    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(4096);
    let mut held = BytesMut::new();
    loop {
        match socket.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(script) = &script else {
            buf.clear();
            continue;
        };
        let mut out = BytesMut::new();
        let mut close = false;
        while let Ok(Some(cmd)) = parser.next(&mut buf, &limits) {
            let text: Vec<String> = cmd
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            seen.lock().unwrap().push(text.join(" "));
            match script(&cmd.args) {
                Act::Reply(bytes) => {
                    out.extend_from_slice(&held.split());
                    out.extend_from_slice(bytes);
                }
                Act::Owned(bytes) => {
                    out.extend_from_slice(&held.split());
                    out.extend_from_slice(&bytes);
                }
                Act::Hold(bytes) => held.extend_from_slice(&bytes),
                Act::Silent => {}
                Act::Close(bytes) => {
                    out.extend_from_slice(&held.split());
                    out.extend_from_slice(bytes);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() && socket.write_all(&out).await.is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// The answer a healthy Redis gives to the sidecar's handshake and health check (HELLO 3, AUTH,
/// SELECT, PING), or None for any other command.
pub fn handshake(args: &[Bytes]) -> Option<Act> {
    let name = args.first()?.to_ascii_uppercase();
    match &name[..] {
        b"HELLO" => Some(Act::Reply(
            b"%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n",
        )),
        b"AUTH" | b"SELECT" => Some(Act::Reply(b"+OK\r\n")),
        b"PING" => Some(Act::Reply(b"+PONG\r\n")),
        _ => None,
    }
}

// Helpers for the tests that point a sidecar at a fault.

/// Timeouts small enough for fast tests; one pool connection per protocol, so clients share it.
pub const FAST: &str =
    "[upstream]\nconnect_timeout_ms = 300\ncommand_timeout_ms = 300\nconnections = 1\n";
/// Longest a client may wait for any answer here: a timeout of 300 ms plus generous slack.
pub const BOUND: Duration = Duration::from_millis(2000);

/// [`FAST`] timeouts, a quick health check, and the fallback on or off.
pub fn config(fallback: bool) -> String {
    format!("{FAST}[fallback]\nenabled = {fallback}\nhealth_interval_ms = 100\n")
}

/// An in-process sidecar in front of `url` with [`config`]; its journal in a temp dir.
pub fn sidecar(url: &str, fallback: bool) -> Sidecar {
    Sidecar::with_config(url, &config(fallback))
}

/// A client whose reads give up long before the harness's 30 s, so a hang fails the test fast.
pub fn client(sidecar: &Sidecar) -> RawClient {
    let c = sidecar.client();
    c.set_read_timeout(Duration::from_secs(5));
    c
}

/// Sends `args` and returns the reply as text, asserting it came within [`BOUND`].
pub fn call(c: &mut RawClient, args: &[&str]) -> String {
    let started = Instant::now();
    let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&raw);
    let reply = c.try_read_reply();
    let took = started.elapsed();
    let reply = reply.unwrap_or_else(|| panic!("no reply to {args:?} after {took:?}: a hang"));
    assert!(
        took < BOUND,
        "{args:?} answered after {took:?}: {}",
        show(&reply)
    );
    show(&reply)
}

/// Asserts `reply` is the sidecar's upstream error and names `why`.
pub fn assert_upstream_error(reply: &str, why: &str) {
    assert!(
        reply.starts_with("-ERR upstream unavailable: ") && reply.contains(why),
        "expected an upstream error naming {why:?}, got {reply}"
    );
}

/// Retries `args` until it is answered with `want` (the fallback store takes over).
pub fn until_answered(c: &mut RawClient, args: &[&str], want: &str) {
    let mut last = String::new();
    wait_until(
        &format!("{args:?} to be answered {want}"),
        Duration::from_secs(5),
        || {
            last = call(c, args);
            last == want
        },
    );
}

/// Replaces `fault` with a real redis-server on its port; `extra` as for `RedisServer::start_with`.
pub fn swap_for_redis(fault: Faulty, extra: &[&str]) -> RedisServer {
    let port = fault.port();
    drop(fault);
    let dir = super::temp_dir();
    RedisServer::start_in(port, dir, extra)
}
