//! Helpers for the observability tests: a plain HTTP GET, finding external tools (Prometheus,
//! Chromium) with the skip rule, reading values out of a Prometheus exposition, and a child
//! process that is killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// GETs `path` from `addr`; the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to http {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    (status, body.to_string())
}

/// The sidecar's `/metrics` at `addr`.
pub fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "/metrics: {body}");
    body
}

/// The value of the series `series` (name with labels exactly as exported, e.g.
/// `redis_sidecar_commands_total{command="get",outcome="ok"}`), or 0 if absent.
pub fn value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            (name == series).then(|| v.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// The path of the first of `names` found on PATH.
pub fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The tool, or None when the test should be skipped: only when it is genuinely absent and
/// `CI` is not set. Under CI a missing tool fails the test (CI installs it).
pub fn tool_or_skip(names: &[&str], package: &str) -> Option<PathBuf> {
    if let Some(found) = find_tool(names) {
        return Some(found);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{names:?} not found under CI: .ci/run must install the `{package}` package");
    }
    println!("SKIPPED: {names:?} not installed (apt-get install {package}); CI runs this test");
    None
}

/// Where tests leave files for people to look at: target/test-outputs/.
pub fn outputs_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = target.join("test-outputs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process killed (and reaped) on drop.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to completion with a deadline; kills it and panics if it takes longer.
pub fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(output) => output.expect("wait for child"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "{cmd:?} did not finish within {:?} (started {:?} ago)",
                deadline,
                started.elapsed()
            );
        }
    }
}

/// Chromium's headless flags for a reproducible run with no network but loopback.
pub fn chromium(binary: &PathBuf, profile: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
        "--virtual-time-budget=5000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Percent-encodes `s` for a URL's query (everything but ASCII letters, digits and `_`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The integer value of attribute `name` in the first tag of `html` containing `marker`
/// (0 if absent).
pub fn attribute(html: &str, marker: &str, name: &str) -> u64 {
    attribute_text(html, marker, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Scrapes `/metrics` at `addr` until `done` holds for the exposition or `timeout` passes, and
/// returns the last exposition either way (the caller asserts on it, value by value, so a
/// failure names the series that did not get there).
pub fn scrape_until(addr: SocketAddr, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let exposition = scrape(addr);
        if done(&exposition) || Instant::now() > deadline {
            return exposition;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Lua script that busy-loops for `ms` milliseconds on the server that runs it (TIME advances
/// inside scripts), then returns 1: a command slow for a real reason.
pub fn busy_script(ms: u64) -> String {
    format!(
        "local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end \
         local s = now() while now() - s < {} do end return 1",
        ms * 1000
    )
}

/// What `html` holds between the end of the first tag containing `marker` and the next
/// `close` (e.g. a `<tbody id="x">`'s rows up to `</tbody>`); empty if absent.
pub fn inside<'a>(html: &'a str, marker: &str, close: &str) -> &'a str {
    let Some(at) = html.find(marker) else {
        return "";
    };
    let Some(open_end) = html[at..].find('>').map(|e| at + e + 1) else {
        return "";
    };
    let end = html[open_end..]
        .find(close)
        .map_or(html.len(), |e| open_end + e);
    &html[open_end..end]
}

/// The text value of attribute `name` in the first tag of `html` containing `marker` (None if
/// absent).
pub fn attribute_text<'a>(html: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<').unwrap_or(at);
    let end = html[at..].find('>').map_or(html.len(), |e| at + e);
    let tag = &html[start..end];
    let pos = tag.find(&format!("{name}=\""))?;
    tag[pos + name.len() + 2..].split('"').next()
}
