//! The slow log through the sidecar: a slow script is logged and kept, a fast GET is not.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use redis_sidecar::config::Cli;
use support::{temp_dir, RawClient, RedisServer, Sidecar};

/// A script that busy-loops for 50 ms (TIME advances inside scripts).
const SLOW: &str =
    "local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end \
                    local s = now() while now() - s < 50000 do end return 1";

/// Everything the sidecars in this test process log at warn level and above.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        log
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// The slow-log checks, for a sidecar served by `served` ("upstream" or "store").
fn slow_script_is_kept_and_logged(c: &mut RawClient, served: &str, marker: &str) {
    let log = captured();
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", marker, "v"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", marker]), "$1\r\nv\r\n");
    assert_eq!(
        c.call(&["SLOWLOG", "LEN"]),
        ":0\r\n",
        "a fast GET is not slow"
    );
    assert_eq!(c.call(&["EVAL", SLOW, "1", marker]), ":1\r\n");
    assert_eq!(c.call(&["SLOWLOG", "LEN"]), ":1\r\n");
    let entries = text(&c.call(&["SLOWLOG", "GET"]));
    // [[id, time, micros, [EVAL, script, 1, marker], "", ""]]
    let lines: Vec<&str> = entries.split("\r\n").collect();
    assert_eq!(&lines[..2], ["*1", "*6"], "{entries}");
    let micros: u64 = lines[4][1..].parse().unwrap();
    assert!(micros >= 50_000, "{entries}");
    // The script is cut at 128 bytes, as Redis cuts long arguments.
    let script = format!("{}... ({} more bytes)", &SLOW[..128], SLOW.len() - 128);
    let args = format!(
        "*4\r\n$4\r\nEVAL\r\n${}\r\n{script}\r\n$1\r\n1\r\n${}\r\n{marker}\r\n$0\r\n\r\n$0\r\n\r\n",
        script.len(),
        marker.len()
    );
    assert!(entries.ends_with(&args), "{entries}");
    let logged = text(&log.lock().unwrap());
    let line = logged
        .lines()
        .find(|l| {
            l.contains("slow command")
                && l.contains("command=eval")
                && l.contains(&format!("served=\"{served}\""))
        })
        .unwrap_or_else(|| panic!("no log line for the script served by {served} in:\n{logged}"));
    assert!(
        line.contains("WARN") && line.contains("duration_ms="),
        "{line}"
    );
    assert!(!logged.contains("command=get"), "{logged}");
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(c.call(&["SLOWLOG", "GET"]), "*0\r\n");
}

#[test]
fn through_the_upstream() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[slowlog]\nthreshold_ms = 30\n");
    let mut c = sidecar.client();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    slow_script_is_kept_and_logged(&mut c, "upstream", "upstream-marker");
}

#[test]
fn from_the_embedded_store() {
    let file = temp_dir().join("sidecar.toml");
    std::fs::write(&file, "[slowlog]\nthreshold_ms = 30\n").unwrap();
    let sidecar = Sidecar::start(Cli {
        config: Some(file),
        ..Cli::default()
    });
    let mut c = sidecar.client();
    slow_script_is_kept_and_logged(&mut c, "store", "store-marker");
}

#[test]
fn blocking_commands_are_not_slow_and_secrets_are_redacted() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[slowlog]\nthreshold_ms = 0\nmax_len = 3\n");
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(c.call(&["BLPOP", "nothing", "0.1"]), "*-1\r\n");
    assert_eq!(
        c.call(&["SLOWLOG", "LEN"]),
        ":0\r\n",
        "BLPOP waits; it is not slow"
    );
    // Threshold 0: everything else is kept, at most max_len entries.
    for i in 0..5 {
        c.call(&["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(c.call(&["SLOWLOG", "LEN"]), ":3\r\n");
    c.call(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let entries = text(&c.call(&["SLOWLOG", "GET", "1"]));
    assert!(
        entries.contains("$6\r\nCONFIG\r\n$3\r\nSET\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n"),
        "{entries}"
    );
    assert!(!entries.contains("noeviction"));
}

#[test]
fn a_rewritten_command_is_logged_as_the_client_sent_it() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[slowlog]\nthreshold_ms = 0\n[compression]\nthreshold_bytes = 64\n",
    );
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    let big = "a".repeat(100);
    assert_eq!(c.call(&["SET", "big", &big]), "+OK\r\n");
    // Compression sends STRLEN upstream as a script, and the value compressed.
    assert_eq!(c.call(&["STRLEN", "big"]), ":100\r\n");
    assert!(
        redis.calls("eval") >= 1,
        "STRLEN was not rewritten upstream"
    );
    let stored = redis.client().call(&["STRLEN", "big"]);
    assert_ne!(stored, ":100\r\n", "the value was not compressed upstream");
    let entries = text(&c.call(&["SLOWLOG", "GET", "2"]));
    assert!(
        entries.contains("*2\r\n$6\r\nSTRLEN\r\n$3\r\nbig\r\n"),
        "{entries}"
    );
    assert!(
        entries.contains(&format!(
            "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$100\r\n{big}\r\n"
        )),
        "{entries}"
    );
    assert!(!entries.contains("EVAL"), "{entries}");
}
