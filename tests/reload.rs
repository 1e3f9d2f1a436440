//! SIGHUP reloads the configuration file: the built binary in front of a real redis-server,
//! a temp config file rewritten between signals, clients that stay connected throughout.
//!
//! A reload is known to have happened when `redis_sidecar_config_reloads_total{result=...}`
//! moves on /metrics (polled, never a fixed sleep).

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{spawn_sidecar, temp_dir, wait_until, RawClient, RedisServer};
use tools::{http_get, value};

const BIN: &str = env!("CARGO_BIN_EXE_redis-sidecar");
const WAIT: Duration = Duration::from_secs(10);

/// The sidecar binary with a config file; killed on drop.
struct Running {
    child: Child,
    addr: SocketAddr,
    http: SocketAddr,
    file: PathBuf,
    stderr: Arc<Mutex<String>>,
}

/// The sidecar binary on `port` and `http` with config file `file`, its data under `dir`, and
/// no upstream from the environment.
fn sidecar_command(port: u16, http: u16, file: &Path, dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .arg("--config")
        .arg(file)
        .arg("--journal-dir")
        .arg(dir.join("journal"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("PORT")
        .env_remove("REDIS_URL")
        .env_remove("UPSTASH_REDIS_URL")
        .env_remove("SIDECAR_UPSTREAM_URL");
    command
}

impl Running {
    /// The sidecar in front of `upstream`, or serving from its embedded store (None).
    fn start(upstream: Option<&str>, toml: &str) -> Running {
        let dir = temp_dir();
        let file = dir.join("sidecar.toml");
        std::fs::write(&file, toml).unwrap();
        let mut http = 0;
        let (mut child, addr) = spawn_sidecar(|port, http_port| {
            http = http_port;
            let mut command = sidecar_command(port, http_port, &file, &dir);
            command
                .args(
                    upstream
                        .map(|url| ["--upstream", url])
                        .into_iter()
                        .flatten(),
                )
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            command
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Running {
            child,
            addr,
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            file,
            stderr,
        }
    }

    fn client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    fn reloads(&self, result: &str) -> f64 {
        let (status, body) = http_get(self.http, "/metrics");
        assert_eq!(status, 200);
        value(
            &body,
            &format!("redis_sidecar_config_reloads_total{{result=\"{result}\"}}"),
        )
    }

    /// Writes `toml`, sends SIGHUP, and waits until the reload is counted as `result`.
    fn reload(&self, toml: &str, result: &str) {
        std::fs::write(&self.file, toml).unwrap();
        let before = self.reloads(result);
        let sent = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        wait_until(&format!("a reload counted as {result}"), WAIT, || {
            self.reloads(result) > before
        });
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(client: &mut RawClient, args: &[&str]) {
    let reply = client.call(args);
    assert_eq!(reply, "+OK\r\n", "{args:?}");
}

fn int(reply: &[u8]) -> i64 {
    let text = std::str::from_utf8(reply).unwrap();
    text.trim_end()
        .strip_prefix(':')
        .unwrap_or_else(|| panic!("not an integer: {text:?}"))
        .parse()
        .unwrap()
}

#[test]
fn a_connected_client_sees_the_new_budget_slowlog_and_tenants() {
    let redis = RedisServer::start();
    let sidecar = Running::start(
        Some(&redis.url()),
        "[auth]\npassword = \"root\"\n[budget]\nlimit = 1000\n[slowlog]\nthreshold_ms = 10000\n",
    );
    let mut app = sidecar.client();
    ok(&mut app, &["AUTH", "root"]);
    ok(&mut app, &["SET", "k", "v"]);
    assert_eq!(int(&app.call(&["SLOWLOG", "LEN"])), 0);

    sidecar.reload(
        "[auth]\npassword = \"root\"\n[budget]\nlimit = 4\n[slowlog]\nthreshold_ms = 0\n\
         [[tenants]]\nuser = \"alice\"\npassword = \"pw\"\nprefix = \"ws:alice:\"\n",
        "ok",
    );
    // The same connection, still signed in (the default user's password did not change).
    ok(&mut app, &["SET", "k", "v2"]);
    assert!(
        int(&app.call(&["SLOWLOG", "LEN"])) >= 1,
        "threshold 0 logs every command"
    );
    // The new tenant signs in on a new connection, and its keys are prefixed.
    let mut alice = sidecar.client();
    ok(&mut alice, &["AUTH", "alice", "pw"]);
    ok(&mut alice, &["SET", "x", "1"]);
    assert_eq!(redis.client().call(&["GET", "ws:alice:x"]), "$1\r\n1\r\n");
    // 1 + 1 + 1 of 4 units spent: one more, then the new limit refuses.
    ok(&mut app, &["SET", "k", "v3"]);
    let refused = app.call(&["SET", "k", "v4"]);
    assert!(
        refused.starts_with(b"-ERR max daily request limit exceeded: used 4 of 4"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert_eq!(app.call(&["PING"]), "+PONG\r\n", "the connection goes on");
}

#[test]
fn an_invalid_file_is_reported_and_the_running_configuration_kept() {
    let redis = RedisServer::start();
    let sidecar = Running::start(Some(&redis.url()), "[budget]\nlimit = 3\n");
    let mut app = sidecar.client();
    ok(&mut app, &["SET", "k", "1"]);
    sidecar.reload(
        "[budget]\nlimit = \"lots\"\n[slowlog]\nmax_len = 0\n",
        "error",
    );
    // The log line is written before the reload is counted; the pipe's reader may lag behind.
    wait_until("the refusal in the log", WAIT, || {
        sidecar.stderr().contains("running configuration is kept")
    });
    let logged = sidecar.stderr();
    assert!(logged.contains("budget.limit"), "{logged}");
    assert!(logged.contains("slowlog.max_len"), "every field: {logged}");
    assert!(logged.contains("running configuration is kept"), "{logged}");
    // The old budget still counts and refuses at 3.
    ok(&mut app, &["SET", "k", "2"]);
    ok(&mut app, &["SET", "k", "3"]);
    let refused = app.call(&["SET", "k", "4"]);
    assert!(refused.starts_with(b"-ERR max daily"), "{refused:?}");
    assert_eq!(sidecar.reloads("ok"), 0.0);
}

#[test]
fn budget_spend_survives_a_reload() {
    let redis = RedisServer::start();
    let sidecar = Running::start(Some(&redis.url()), "[budget]\nlimit = 10\n");
    let mut app = sidecar.client();
    for i in 0..3 {
        ok(&mut app, &["SET", "k", &i.to_string()]);
    }
    // A new limit and cost table, and a restart-only change that is reported and ignored.
    sidecar.reload(
        "[budget]\nlimit = 5\n[budget.costs]\nGET = 2\n[limits]\nmax_clients = 7\n",
        "ok",
    );
    wait_until("the restart-only warning in the log", WAIT, || {
        sidecar
            .stderr()
            .contains("takes effect at restart: limits.max_clients")
    });
    // 3 spent before the reload: a GET (2 units) fits, nothing more does.
    assert_eq!(app.call(&["GET", "k"]), "$1\r\n2\r\n");
    let refused = app.call(&["SET", "k", "x"]);
    assert!(
        refused.starts_with(b"-ERR max daily request limit exceeded: used 5 of 5"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
}

#[test]
fn slowlog_entries_survive_a_reload() {
    let redis = RedisServer::start();
    let sidecar = Running::start(Some(&redis.url()), "[slowlog]\nthreshold_ms = 0\n");
    let mut app = sidecar.client();
    ok(&mut app, &["SET", "first", "1"]);
    ok(&mut app, &["SET", "second", "2"]);
    let before = int(&app.call(&["SLOWLOG", "LEN"]));
    assert!(before >= 2, "{before}");
    sidecar.reload("[slowlog]\nthreshold_ms = 10000\nmax_len = 64\n", "ok");
    assert_eq!(int(&app.call(&["SLOWLOG", "LEN"])), before);
    let entries = app.call(&["SLOWLOG", "GET", "-1"]);
    let text = String::from_utf8_lossy(&entries);
    assert!(text.contains("first") && text.contains("second"), "{text}");
    // The new threshold applies: nothing under 10 s is logged any more.
    ok(&mut app, &["SET", "third", "3"]);
    assert_eq!(int(&app.call(&["SLOWLOG", "LEN"])), before);
}

#[test]
fn the_embedded_store_takes_new_tenants_without_dropping_clients() {
    let sidecar = Running::start(None, "[slowlog]\nthreshold_ms = -1\n");
    let mut app = sidecar.client();
    ok(&mut app, &["SET", "ws:bob:k", "bob's"]);
    sidecar.reload(
        "[[tenants]]\nuser = \"bob\"\npassword = \"pw\"\nprefix = \"ws:bob:\"\n",
        "ok",
    );
    // Authentication is now required, on the connection opened before too.
    assert_eq!(
        app.call(&["GET", "ws:bob:k"]),
        "-NOAUTH Authentication required.\r\n"
    );
    ok(&mut app, &["AUTH", "bob", "pw"]);
    assert_eq!(app.call(&["GET", "k"]), "$5\r\nbob's\r\n");
    // Bob's password changes: his session is signed out at its next command, and may AUTH again.
    sidecar.reload(
        "[[tenants]]\nuser = \"bob\"\npassword = \"new\"\nprefix = \"ws:bob:\"\n",
        "ok",
    );
    let signed_out = app.call(&["GET", "k"]);
    assert!(
        signed_out.starts_with(b"-NOAUTH the credentials this connection authenticated with"),
        "{}",
        String::from_utf8_lossy(&signed_out)
    );
    assert!(app.call(&["AUTH", "bob", "pw"]).starts_with(b"-WRONGPASS"));
    ok(&mut app, &["AUTH", "bob", "new"]);
    assert_eq!(app.call(&["GET", "k"]), "$5\r\nbob's\r\n");
}

/// Whether process `pid` has a handler for SIGHUP (bit 0 of `SigCgt` in /proc/PID/status).
fn catches_sighup(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & 1 == 1)
}

#[test]
fn a_sighup_while_starting_is_a_reload_once_serving_not_the_end() {
    // The configuration file is a FIFO, so the sidecar waits in the middle of starting, reading
    // it, until this test writes it: a SIGHUP sent then arrives while it starts.
    let dir = temp_dir();
    let fifo = dir.join("sidecar.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (port, http) = (support::free_port(), support::free_port());
    let mut child = support::KillOnDrop(
        sidecar_command(port, http, &fifo, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    wait_until("SIGHUP caught while starting", WAIT, || catches_sighup(pid));
    let sent = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Written twice: once as the sidecar starts, once more for the reload the SIGHUP asked for
    // (each write waits for the sidecar to open the FIFO). The second waits until the sidecar
    // listens, which it does only after the first read is over: written while that read is
    // still open, both would be read as one file.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::write(&fifo, "[slowlog]\nthreshold_ms = 10\n").unwrap();
            wait_until("the sidecar listening", WAIT, || {
                std::net::TcpStream::connect(addr).is_ok()
            });
            std::fs::write(&fifo, "[slowlog]\nthreshold_ms = 20\n").unwrap();
        })
    };
    wait_until("the sidecar serving after the SIGHUP", WAIT, || {
        RawClient::try_connect(addr)
            .ok()
            .and_then(|mut c| c.try_call(&["PING"]))
            .is_some_and(|r| r == "+PONG\r\n")
    });
    wait_until("the SIGHUP's reload", WAIT, || {
        let (status, body) = http_get(SocketAddr::from(([127, 0, 0, 1], http)), "/metrics");
        status == 200 && value(&body, "redis_sidecar_config_reloads_total{result=\"ok\"}") == 1.0
    });
    writer.join().unwrap();
    assert!(matches!(child.0.try_wait(), Ok(None)), "the sidecar exited");
}
