//! Test harness: real redis-server processes on free loopback ports, the sidecar in-process,
//! and a raw RESP client that returns replies byte for byte.
//!
//! Readiness is always polled (connect + PING), never waited for with a fixed sleep.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use redis_sidecar::config::{Cli, Config};
use redis_sidecar::protocol::frame_len;

pub mod faulty;
pub mod flow_states;

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the sidecar binary on a pair of free ports (`command(port, http)` builds it) and
/// returns the child and its client address once PING is answered (PONG or NOAUTH) while the
/// child is still running.
///
/// A port found free can be taken by another test before the binary binds it; the binary then
/// exits (it binds the client port first, then the HTTP port), so an exit during start-up, or a
/// connection closed before PING's reply, means "try again on other ports", never a failure.
pub fn spawn_sidecar(mut command: impl FnMut(u16, u16) -> Command) -> (Child, SocketAddr) {
    let mut last = String::new();
    for _ in 0..5 {
        let (port, http) = (free_port(), free_port());
        let mut child = command(port, http)
            .spawn()
            .expect("the sidecar binary starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("the sidecar on ports {port}/{http} exited: {status}");
                break;
            }
            let answered = RawClient::try_connect(addr)
                .ok()
                .and_then(|mut c| c.try_call(&["PING"]))
                .is_some_and(|r| r == "+PONG\r\n" || r.starts_with(b"-NOAUTH"));
            // Answered, and by this child: had its ports been taken it would have exited.
            if answered && matches!(child.try_wait(), Ok(None)) {
                return (child, addr);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                last = format!("the sidecar on port {port} did not answer in 10 s");
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("the sidecar binary did not start: {last}");
}

/// Polls `ready` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A redis-server child process; killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    pub dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts redis-server with extra arguments (`["--requirepass", "x"]`) on a free port. A
    /// port found free can be taken by another test before redis binds it: then this server
    /// exits, and it is started again on another port.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("sidecar-test-redis-{port}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            match RedisServer::try_start_in(port, dir, extra) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("redis-server did not start: {last}");
    }

    /// Starts redis-server on `port` with its files in `dir` (restarts reuse both).
    pub fn start_in(port: u16, dir: PathBuf, extra: &[&str]) -> RedisServer {
        RedisServer::try_start_in(port, dir, extra).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts redis-server and waits until *this* process answers on `port` (its INFO
    /// `process_id` is checked: another test's server on the same port does not count).
    fn try_start_in(port: u16, dir: PathBuf, extra: &[&str]) -> Result<RedisServer, String> {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let mut server = RedisServer { port, child, dir };
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .map(|i| extra[i + 1].to_string());
        let own = format!("process_id:{}\r\n", server.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server on port {port} exited: {status}"));
            }
            // Whatever else answers on the port (another test's server, a fake upstream that
            // hangs up, a connection to itself) is not this server: poll again.
            if let Ok(mut c) = RawClient::try_connect(server.addr()) {
                c.set_read_timeout(Duration::from_secs(1));
                let authed = password
                    .as_ref()
                    .is_none_or(|pw| c.try_call(&["AUTH", pw]).is_some());
                let ours = authed
                    && c.try_call(&["INFO", "server"])
                        .is_some_and(|info| String::from_utf8_lossy(&info).contains(&own));
                if ours {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {port} did not answer in 10 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr())
    }

    /// How many times this server ran `command` (lowercase), from INFO commandstats.
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.client().call(&["INFO", "commandstats"]);
        let text = String::from_utf8_lossy(&info);
        let prefix = format!("cmdstat_{command}:calls=");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small deterministic generator (xorshift): a test that prints or fixes its seed replays.
/// The seed must not be 0.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Stops a sidecar process (spawned with its stderr piped) with SIGTERM and returns everything
/// it logged.
pub fn stop_and_read_log(child: &mut Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut log)
        .expect("the log is text");
    log
}

/// A child process killed and reaped when dropped, so a failed assertion leaves none behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sidecar running in-process on its own runtime thread; stopped on drop.
pub struct Sidecar {
    pub addr: SocketAddr,
    pub http: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sidecar {
    /// A sidecar serving from its embedded store.
    pub fn embedded() -> Sidecar {
        Sidecar::start(Cli::default())
    }

    /// A sidecar forwarding to `url`.
    pub fn upstream(url: &str) -> Sidecar {
        Sidecar::start(Cli {
            upstream: Some(url.to_string()),
            ..Cli::default()
        })
    }

    /// A sidecar forwarding to `url` with `toml` as its configuration file.
    pub fn with_config(url: &str, toml: &str) -> Sidecar {
        let file = temp_dir().join("sidecar.toml");
        std::fs::write(&file, toml).unwrap();
        Sidecar::start(Cli {
            upstream: Some(url.to_string()),
            config: Some(file),
            ..Cli::default()
        })
    }

    /// A sidecar serving from its embedded store with `toml` as its configuration file and its
    /// append-only file in `data_dir` (a restart with the same directory finds the data).
    pub fn embedded_with(toml: &str, data_dir: &std::path::Path) -> Sidecar {
        let file = temp_dir().join("sidecar.toml");
        std::fs::write(&file, toml).unwrap();
        Sidecar::start(Cli {
            config: Some(file),
            data_dir: Some(data_dir.to_path_buf()),
            ..Cli::default()
        })
    }

    /// A sidecar from flags; listen and http default to free ports, and no config file is read
    /// unless `cli.config` names one.
    pub fn start(mut cli: Cli) -> Sidecar {
        cli.listen.get_or_insert_with(|| "127.0.0.1:0".into());
        cli.http.get_or_insert_with(|| "127.0.0.1:0".into());
        if cli.config.is_none() {
            cli.config = Some(empty_config_file());
        }
        cli.journal_dir.get_or_insert_with(temp_dir);
        cli.data_dir.get_or_insert_with(temp_dir);
        if std::env::var_os("RUST_LOG").is_some() {
            // The sidecar's logs in the test output, for debugging a failure.
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
        let config = Config::load_with_env(&cli, |_| None).expect("valid test configuration");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server = redis_sidecar::server::Server::bind(config)
                    .await
                    .expect("bind");
                addr_tx
                    .send((server.local_addr(), server.http_addr()))
                    .unwrap();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let (addr, http) = addr_rx.recv().expect("sidecar started");
        Sidecar {
            addr,
            http,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fresh directory under the system's temp dir.
pub fn temp_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sidecar-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn empty_config_file() -> PathBuf {
    let path = std::env::temp_dir().join(format!("sidecar-test-empty-{}.toml", std::process::id()));
    if !path.exists() {
        std::fs::write(&path, "").unwrap();
    }
    path
}

/// A blocking RESP client that returns each reply as the exact bytes received.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        RawClient::try_connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Sends one command and returns its reply's bytes.
    pub fn call(&mut self, args: &[&str]) -> Bytes {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call_bytes(&args)
    }

    pub fn call_bytes(&mut self, args: &[&[u8]]) -> Bytes {
        self.send(args);
        self.read_reply()
    }

    /// Sends one command and returns its reply, or None if the connection failed first (the
    /// server died: whether it executed the command is unknown).
    pub fn try_call(&mut self, args: &[&str]) -> Option<Bytes> {
        let mut out = BytesMut::new();
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        redis_sidecar::command::encode_args(&args, &mut out);
        self.stream.write_all(&out).ok()?;
        self.try_read_reply()
    }

    /// Sends one command without reading its reply.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        redis_sidecar::command::encode_args(args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// Writes raw bytes (malformed frames, inline commands, pipelines).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one complete reply frame.
    pub fn read_reply(&mut self) -> Bytes {
        self.try_read_reply()
            .expect("connection closed before a reply")
    }

    /// Reads one reply, or None if the peer closed the connection first.
    pub fn try_read_reply(&mut self) -> Option<Bytes> {
        loop {
            if let Some(len) = frame_len(&self.buf, 128).expect("valid RESP from the server") {
                return Some(self.buf.split_to(len).freeze());
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Peeks at the socket without consuming (Ok(0): the server closed the connection).
    pub fn peek(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.buf.is_empty() {
            return Ok(self.buf.len().min(buf.len()));
        }
        self.stream.peek(buf)
    }
}

/// Runs the same commands against a real redis-server and the embedded store and compares the
/// replies byte for byte.
pub struct Differential {
    pub redis: RedisServer,
    pub sidecar: Sidecar,
    pub real: RawClient,
    pub ours: RawClient,
}

impl Differential {
    pub fn new() -> Differential {
        let redis = RedisServer::start();
        let sidecar = Sidecar::embedded();
        let real = redis.client();
        let ours = sidecar.client();
        Differential {
            redis,
            sidecar,
            real,
            ours,
        }
    }

    /// Sends `args` to both and asserts the replies are identical; returns the reply.
    pub fn check(&mut self, args: &[&str]) -> Bytes {
        let (real, ours) = (self.real.call(args), self.ours.call(args));
        assert_eq!(
            show(&ours),
            show(&real),
            "replies differ for {args:?} (left: sidecar, right: redis-server)"
        );
        real
    }

    /// Like `check`, for binary arguments.
    pub fn check_bytes(&mut self, args: &[&[u8]]) -> Bytes {
        let (real, ours) = (self.real.call_bytes(args), self.ours.call_bytes(args));
        assert_eq!(
            show(&ours),
            show(&real),
            "replies differ for {:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
        real
    }

    /// Runs every command in `script` (one command per line, split on whitespace) with `check`.
    /// A line starting with `~ ` expects integer replies within 1 of each other, `~~ ` within
    /// 1000 (a TTL or PTTL read while time passes between the two servers).
    pub fn check_all(&mut self, script: &str) {
        for line in script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (tolerance, command) = match (line.strip_prefix("~~ "), line.strip_prefix("~ ")) {
                (Some(rest), _) => (Some(1000), rest),
                (None, Some(rest)) => (Some(1), rest),
                _ => (None, line),
            };
            let args: Vec<&str> = command.split_whitespace().collect();
            match tolerance {
                Some(t) => self.check_close(&args, t),
                None => {
                    self.check(&args);
                }
            }
        }
    }

    /// Both replies are integers within `tolerance` of each other.
    pub fn check_close(&mut self, args: &[&str], tolerance: i64) {
        let (real, ours) = (self.real.call(args), self.ours.call(args));
        let int = |r: &Bytes| -> i64 {
            assert_eq!(
                r.first(),
                Some(&b':'),
                "{args:?} did not answer an integer: {}",
                show(r)
            );
            String::from_utf8_lossy(&r[1..r.len() - 2]).parse().unwrap()
        };
        let (a, b) = (int(&real), int(&ours));
        assert!(
            (a - b).abs() <= tolerance,
            "{args:?}: sidecar {b}, redis-server {a}"
        );
    }

    /// For replies whose element order Redis leaves unspecified (SMEMBERS of a big set, HGETALL of
    /// a big hash, KEYS): compares the sorted top-level elements.
    pub fn check_unordered(&mut self, args: &[&str]) {
        let (real, ours) = (self.real.call(args), self.ours.call(args));
        assert_eq!(
            sorted_elements(&ours),
            sorted_elements(&real),
            "replies differ (as sets) for {args:?}"
        );
    }

    /// For errors whose wording may differ between Redis versions: compares the error code only
    /// (the first word), and that both are errors.
    pub fn check_error_code(&mut self, args: &[&str]) {
        let (real, ours) = (self.real.call(args), self.ours.call(args));
        assert_eq!(
            real.first(),
            Some(&b'-'),
            "redis-server did not fail {args:?}: {}",
            show(&real)
        );
        assert_eq!(
            ours.first(),
            Some(&b'-'),
            "sidecar did not fail {args:?}: {}",
            show(&ours)
        );
        let code = |b: &Bytes| b.split(|c| *c == b' ').next().map(|c| c.to_vec());
        assert_eq!(
            code(&ours),
            code(&real),
            "error codes differ for {args:?}: {} vs {}",
            show(&ours),
            show(&real)
        );
    }
}

/// A redis-server's connections as its `CLIENT LIST` lines, without the `probe` asking.
pub fn client_list(probe: &mut RawClient) -> Vec<String> {
    let list = probe.call(&["CLIENT", "LIST"]);
    String::from_utf8_lossy(&list)
        .lines()
        .filter(|l| l.starts_with("id=") && !l.contains("cmd=client|list"))
        .map(str::to_string)
        .collect()
}

/// Replies shown with CR/LF visible, for assertion messages.
pub fn show(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).replace("\r\n", "⏎")
}

/// The top-level elements of an aggregate reply, each as raw bytes, sorted.
pub fn sorted_elements(reply: &Bytes) -> Vec<Vec<u8>> {
    let header_end = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a header")
        + 2;
    let mut rest = &reply[header_end..];
    let mut items = Vec::new();
    while !rest.is_empty() {
        let len = frame_len(rest, 128).unwrap().expect("complete element");
        items.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    items.sort();
    items
}

/// A reply parsed just enough to look inside random or paged replies (SRANDMEMBER, HSCAN...),
/// comparable and sortable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    Bulk(Vec<u8>),
    Agg(u8, Vec<Resp>),
    Line(Vec<u8>),
}

pub fn parse(buf: &[u8]) -> (Resp, &[u8]) {
    let end = buf.windows(2).position(|w| w == b"\r\n").expect("a line");
    let (kind, head, rest) = (buf[0], &buf[1..end], &buf[end + 2..]);
    let n = || std::str::from_utf8(head).unwrap().parse::<i64>().unwrap();
    match kind {
        b'$' if n() >= 0 => {
            let len = n() as usize;
            (Resp::Bulk(rest[..len].to_vec()), &rest[len + 2..])
        }
        b'*' | b'%' | b'~' if n() >= 0 => {
            let len = n() as usize * if kind == b'%' { 2 } else { 1 };
            let mut items = Vec::new();
            let mut rest = rest;
            for _ in 0..len {
                let (item, more) = parse(rest);
                items.push(item);
                rest = more;
            }
            (Resp::Agg(kind, items), rest)
        }
        _ => (Resp::Line(buf[..end].to_vec()), rest),
    }
}

pub fn items(reply: &[u8]) -> Vec<Resp> {
    match parse(reply).0 {
        Resp::Agg(_, items) => items,
        other => panic!("not an aggregate: {other:?}"),
    }
}

/// Switches both sides of `d` to RESP3.
pub fn hello3(d: &mut Differential) {
    d.real.call(&["HELLO", "3"]);
    d.ours.call(&["HELLO", "3"]);
}
