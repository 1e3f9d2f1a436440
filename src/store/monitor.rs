//! MONITOR: clients that see every command the store runs, one status line each, as Redis
//! writes them: `+1700000000.123456 [0 127.0.0.1:50412] "SET" "k" "v"` (`[0 lua]` for a
//! script's commands).
//!
//! Invariants: a line is fed for each command a client runs (not for a blocked command served
//! later, nor for administrative commands, which Redis keeps out of MONITOR); credentials are
//! shown as `(redacted)`; delivery is `try_send` on the monitor's bounded push queue, so a
//! monitor that stops reading loses lines instead of holding memory without bound.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::Client;
use crate::command::secrets::secret_args;
use crate::protocol::Reply;

/// Commands Redis does not show to monitors (its `admin` and `skip-monitor` flags).
const HIDDEN: &[&str] = &[
    "monitor",
    "config",
    "debug",
    "shutdown",
    "save",
    "bgsave",
    "bgrewriteaof",
    "slaveof",
    "replicaof",
    "sync",
    "psync",
    "acl",
    "latency",
    "module",
    "failover",
    "slowlog",
];

/// The clients in MONITOR mode, by client id.
#[derive(Default)]
pub struct Monitors {
    watchers: Vec<(u64, mpsc::Sender<Reply>)>,
}

impl Monitors {
    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// Client `id` sees commands from now on, through `pushes`.
    pub fn add(&mut self, id: u64, pushes: mpsc::Sender<Reply>) {
        if !self.contains(id) {
            self.watchers.push((id, pushes));
        }
    }

    /// Whether client `id` is a monitor.
    pub fn contains(&self, id: u64) -> bool {
        self.watchers.iter().any(|(w, _)| *w == id)
    }

    /// Client `id` is no longer a monitor (RESET, or it left).
    pub fn remove(&mut self, id: u64) {
        self.watchers.retain(|(w, _)| *w != id);
    }

    /// Shows `argv`, run by `client` (`lua`: from a script), to every monitor.
    pub fn feed(&mut self, client: &Client, name: &str, argv: &[Bytes], lua: bool) {
        if HIDDEN.contains(&name) {
            return;
        }
        let addr = if lua { "lua" } else { &client.addr };
        let line = Reply::Status(Bytes::from(line(client.db, addr, argv)));
        self.watchers.retain(|(_, tx)| {
            !matches!(
                tx.try_send(line.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }
}

/// One MONITOR line, without the `+` and CRLF.
fn line(db: usize, addr: &str, argv: &[Bytes]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!("{}.{:06} [{db} {addr}]", now.as_secs(), now.subsec_micros());
    for (arg, secret) in argv.iter().zip(secret_args(argv)) {
        out.push(' ');
        if secret {
            out.push_str("\"(redacted)\"");
        } else {
            quote(arg, &mut out);
        }
    }
    out
}

/// `arg` quoted as Redis's `sdscatrepr`: printable bytes as they are, `\\` `\"` `\n` `\r` `\t`
/// `\a` `\b` escaped, anything else as `\xHH`.
fn quote(arg: &[u8], out: &mut String) {
    out.push('"');
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    #[test]
    fn lines_quote_like_redis_and_hide_credentials() {
        let text = line(
            3,
            "127.0.0.1:5000",
            &args(&[b"SET", b"k\"1", b"a\r\n\x00\xff\\"]),
        );
        let (time, rest) = text.split_once(' ').unwrap();
        let (secs, micros) = time.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        assert_eq!(micros.len(), 6);
        assert_eq!(rest, r#"[3 127.0.0.1:5000] "SET" "k\"1" "a\r\n\x00\xff\\""#);
        let auth = line(0, "lua", &args(&[b"AUTH", b"alice", b"secret"]));
        assert!(
            auth.ends_with(r#"[0 lua] "AUTH" "(redacted)" "(redacted)""#),
            "{auth}"
        );
    }

    #[test]
    fn a_monitor_that_left_is_dropped_and_admin_commands_are_hidden() {
        let store = crate::store::Store::new(Default::default());
        let client = store.client();
        let mut monitors = Monitors::default();
        let (tx, mut rx) = mpsc::channel(4);
        let (gone, _) = mpsc::channel(4);
        monitors.add(1, tx);
        monitors.add(2, gone);
        monitors.feed(&client, "config", &args(&[b"CONFIG", b"GET", b"x"]), false);
        assert!(rx.try_recv().is_err(), "CONFIG is not shown");
        monitors.feed(&client, "get", &args(&[b"GET", b"k"]), false);
        let Ok(Reply::Status(shown)) = rx.try_recv() else {
            panic!("a status line")
        };
        assert!(shown.ends_with(b"[0 embedded] \"GET\" \"k\""), "{shown:?}");
        assert_eq!(monitors.watchers.len(), 1, "the closed queue is forgotten");
    }
}
