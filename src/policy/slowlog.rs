//! The slow log: commands whose round trip (sidecar to backend and back) passes the threshold
//! are logged at warn level and kept, newest first, for `SLOWLOG GET|LEN|RESET|HELP`, which the
//! sidecar answers itself in Redis's reply format (Upstash has no SLOWLOG).
//!
//! Invariants: at most `max_len` entries are kept; an entry keeps at most 32 arguments of at
//! most 128 bytes each (as Redis does), and AUTH, HELLO AUTH, CONFIG SET and ACL SETUSER
//! arguments are stored and logged as "(redacted)". Blocking commands (BLPOP, XREAD BLOCK, ...)
//! are never logged: their round trip is waiting, not work. A client with a tenant sees and
//! resets only its tenant's entries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;

use super::slowlog_format::{entry_args, log_args, HELP};
use super::{Completed, Policy, PolicySession, Verdict};
use crate::command::Command;
use crate::protocol::Reply;

/// The `[slowlog]` section. `threshold: None` disables the slow log (a negative `threshold_ms`).
#[derive(Clone, Debug, PartialEq)]
pub struct SlowlogConfig {
    pub threshold: Option<Duration>,
    pub max_len: usize,
}

impl Default for SlowlogConfig {
    fn default() -> SlowlogConfig {
        SlowlogConfig {
            threshold: Some(Duration::from_millis(100)),
            max_len: 128,
        }
    }
}

impl SlowlogConfig {
    /// Reads the section (defaults when absent); problems are appended to `errors`.
    pub fn from_toml(table: Option<&toml::Table>, errors: &mut Vec<String>) -> SlowlogConfig {
        let mut config = SlowlogConfig::default();
        let Some(table) = table else { return config };
        for (key, value) in table {
            match (key.as_str(), value) {
                ("threshold_ms", toml::Value::Integer(n)) if *n >= 0 => {
                    config.threshold = Some(Duration::from_millis(*n as u64));
                }
                ("threshold_ms", toml::Value::Integer(_)) => config.threshold = None,
                ("threshold_ms", other) => errors.push(format!(
                    "slowlog.threshold_ms: {other} is not allowed; use milliseconds (>= 0), or -1 to turn the slow log off"
                )),
                ("max_len", toml::Value::Integer(n)) if (1..=100_000).contains(n) => {
                    config.max_len = *n as usize;
                }
                ("max_len", other) => errors.push(format!(
                    "slowlog.max_len: {other} is not allowed; use a number of entries from 1 to 100000"
                )),
                (other, _) => errors.push(format!(
                    "slowlog.{other}: unknown key; allowed: threshold_ms, max_len"
                )),
            }
        }
        config
    }
}

/// One kept entry.
struct Entry {
    id: u64,
    unix_s: i64,
    micros: i64,
    args: Vec<Bytes>,
    tenant: Option<Arc<str>>,
}

/// The slow log policy; see the module doc. A reload that keeps the slow log on changes its
/// threshold and length in place ([`SlowlogPolicy::reconfigure`]), so its entries survive.
pub struct SlowlogPolicy {
    /// The threshold in nanoseconds.
    threshold_ns: AtomicU64,
    max_len: AtomicUsize,
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    logged: AtomicU64,
}

impl SlowlogPolicy {
    /// None when the configuration turns the slow log off.
    pub fn new(config: &SlowlogConfig) -> Option<SlowlogPolicy> {
        Some(SlowlogPolicy {
            threshold_ns: AtomicU64::new(nanos(config.threshold?)),
            max_len: AtomicUsize::new(config.max_len),
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            logged: AtomicU64::new(0),
        })
    }

    /// Takes `config`'s threshold and length, keeping the entries (the oldest are dropped if
    /// the log got shorter). Returns false, changing nothing, when `config` turns the log off.
    pub fn reconfigure(&self, config: &SlowlogConfig) -> bool {
        let Some(threshold) = config.threshold else {
            return false;
        };
        self.threshold_ns.store(nanos(threshold), Ordering::Relaxed);
        self.max_len.store(config.max_len, Ordering::Relaxed);
        self.entries.lock().truncate(config.max_len);
        true
    }

    /// The threshold and length in force.
    pub fn config(&self) -> SlowlogConfig {
        SlowlogConfig {
            threshold: Some(Duration::from_nanos(
                self.threshold_ns.load(Ordering::Relaxed),
            )),
            max_len: self.max_len.load(Ordering::Relaxed),
        }
    }

    /// Slow commands seen since start (including those since dropped or reset).
    pub fn logged_total(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }

    /// The newest `n` entries, newest first, for the status page.
    pub fn recent(&self, n: usize) -> Vec<crate::metrics::status::SlowEntry> {
        let entries = self.entries.lock();
        // Kept newest first.
        entries
            .iter()
            .take(n)
            .map(|e| crate::metrics::status::SlowEntry {
                id: e.id,
                at_ms: (e.unix_s as u64).saturating_mul(1000),
                duration_us: e.micros.max(0) as u64,
                command: e
                    .args
                    .iter()
                    .take(4)
                    .map(|a| String::from_utf8_lossy(&a[..a.len().min(32)]).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                tenant: e.tenant.as_deref().map(str::to_string),
            })
            .collect()
    }

    /// Entries kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Answers SLOWLOG as Redis 7 does.
    fn answer(&self, session: &PolicySession, cmd: &Command) -> Reply {
        let args = &cmd.args;
        let Some(sub) = args.get(1) else {
            return Reply::error("ERR wrong number of arguments for 'slowlog' command");
        };
        let visible = |e: &Entry| session.tenant.is_none() || e.tenant == session.tenant;
        let lower = sub.to_ascii_lowercase();
        match (lower.as_slice(), args.len()) {
            (b"get", 2 | 3) => {
                let count = match args.get(2) {
                    None => 10,
                    Some(n) => match std::str::from_utf8(n)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        Some(n) if n >= -1 => n,
                        _ => {
                            return Reply::error("ERR count should be greater than or equal to -1")
                        }
                    },
                };
                let count = if count == -1 {
                    usize::MAX
                } else {
                    count as usize
                };
                let entries = self.entries.lock();
                Reply::Array(
                    entries
                        .iter()
                        .filter(|e| visible(e))
                        .take(count)
                        .map(|e| {
                            Reply::Array(vec![
                                Reply::Int(e.id as i64),
                                Reply::Int(e.unix_s),
                                Reply::Int(e.micros),
                                Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                                Reply::bulk(""),
                                Reply::bulk(""),
                            ])
                        })
                        .collect(),
                )
            }
            (b"len", 2) => {
                Reply::Int(self.entries.lock().iter().filter(|e| visible(e)).count() as i64)
            }
            (b"reset", 2) => {
                self.entries.lock().retain(|e| !visible(e));
                Reply::ok()
            }
            (b"help", 2) => Reply::Array(HELP.iter().map(|l| Reply::status(l)).collect()),
            (b"len" | b"reset" | b"help", _) => Reply::error(format!(
                "ERR wrong number of arguments for 'slowlog|{}' command",
                String::from_utf8_lossy(&lower)
            )),
            (b"get", _) => Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&sub[..sub.len().min(128)])
            )),
            _ => Reply::error(format!(
                "ERR unknown subcommand '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&sub[..sub.len().min(128)])
            )),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// Commands whose round trip is mostly waiting for data, not work.
fn is_blocking(cmd: &Command) -> bool {
    cmd.may_block()
        || ["subscribe", "psubscribe", "ssubscribe", "monitor"]
            .iter()
            .any(|name| cmd.is(name))
}

impl Policy for SlowlogPolicy {
    fn rewrites_replies(&self) -> bool {
        false
    }

    fn rewrites_requests(&self) -> bool {
        false
    }

    fn request(&self, session: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
        if cmd.is("slowlog") {
            return Err(self.answer(session, cmd));
        }
        Ok(Verdict::default())
    }

    fn completed(&self, done: &Completed) {
        if nanos(done.elapsed) <= self.threshold_ns.load(Ordering::Relaxed) || is_blocking(done.cmd)
        {
            return;
        }
        self.logged.fetch_add(1, Ordering::Relaxed);
        crate::metrics::slowlog::inc();
        let micros = done.elapsed.as_micros().min(i64::MAX as u128) as i64;
        tracing::warn!(
            command = %done.cmd.name_lossy(),
            args = %log_args(&done.cmd.args),
            tenant = done.session.tenant.as_deref().unwrap_or("-"),
            duration_ms = micros as f64 / 1000.0,
            served = done.served.as_str(),
            "slow command"
        );
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            micros,
            args: entry_args(&done.cmd.args),
            tenant: done.session.tenant.clone(),
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(self.max_len.load(Ordering::Relaxed));
    }

    fn observes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_redis() {
        let log = SlowlogPolicy::new(&SlowlogConfig::default()).unwrap();
        let session = PolicySession::default();
        let ask = |a: &[&str]| log.answer(&session, &Command::from_strs(a));
        assert_eq!(ask(&["SLOWLOG", "LEN"]), Reply::Int(0));
        assert_eq!(
            ask(&["SLOWLOG", "GET", "x"]),
            Reply::error("ERR count should be greater than or equal to -1")
        );
        assert_eq!(
            ask(&["SLOWLOG", "foo"]),
            Reply::error("ERR unknown subcommand 'foo'. Try SLOWLOG HELP.")
        );
        assert_eq!(
            ask(&["SLOWLOG", "get", "1", "2"]),
            Reply::error(
                "ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP."
            )
        );
        assert_eq!(
            ask(&["SLOWLOG", "len", "x"]),
            Reply::error("ERR wrong number of arguments for 'slowlog|len' command")
        );
    }

    #[test]
    fn a_reconfigured_log_keeps_its_entries() {
        let log = SlowlogPolicy::new(&SlowlogConfig {
            threshold: Some(Duration::ZERO),
            max_len: 10,
        })
        .unwrap();
        let session = PolicySession::default();
        for i in 0..5 {
            let cmd = Command::from_strs(&["GET", &format!("k{i}")]);
            log.completed(&Completed {
                cmd: &cmd,
                elapsed: Duration::from_millis(2),
                served: super::super::Served::Store,
                error: false,
                empty: false,
                session: &session,
            });
        }
        assert_eq!(log.len(), 5);
        let shorter = SlowlogConfig {
            threshold: Some(Duration::from_millis(5)),
            max_len: 3,
        };
        assert!(log.reconfigure(&shorter));
        assert_eq!(
            log.len(),
            3,
            "the oldest entries go when the log gets shorter"
        );
        assert_eq!(log.config(), shorter);
        assert_eq!(log.recent(1)[0].command, "GET k4", "the newest stay");
        assert!(!log.reconfigure(&SlowlogConfig {
            threshold: None,
            max_len: 3
        }));
        assert_eq!(log.config(), shorter, "turning off is not done in place");
    }
}
