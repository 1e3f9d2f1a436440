//! Compression of large string values on the way to the upstream, restored on the way back.
//!
//! Invariants:
//! - Values of the SET family, MSET, MSETNX, GETSET, SETEX and PSETEX larger than the threshold
//!   (on keys matching the patterns) are stored compressed when that makes them smaller; a value
//!   that starts with the magic is always wrapped, so it reads back as written.
//! - GET, MGET, GETDEL, GETEX, GETSET, SET ... GET, EXEC and script replies are restored; values
//!   without a valid header (written by others) pass untouched.
//! - Commands that would see the compressed bytes never give a wrong answer: STRLEN answers the
//!   original length from the header; GETRANGE, SUBSTR, APPEND, SETRANGE, INCRBYFLOAT, LCS and
//!   the bit commands on a compressed value are refused with `-ERR value is compressed by
//!   redis-sidecar: <cmd> is not supported on it` (they run as small scripts that check the
//!   header first, atomically, and run the command itself on other values). INCR, INCRBY,
//!   DECR and DECRBY need nothing: a value above the threshold is never an integer.
//! - Scripts and functions passed through the sidecar refuse, atomically, to run on declared
//!   KEYS holding compressed values ([`super::compress_user_scripts`]); SORT refuses to sort by
//!   or store compressed values and restores those it returns ([`super::compress_sort`]).
//! - Hash fields and stream entries are not compressed (see the README).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::compress_codec::{self, looks_compressed, Algorithm};
use super::compress_script::{guard, STRLEN_SCRIPT};
use super::compress_user_scripts::{self as user_scripts, ScriptShas};
use super::{Policy, PolicySession, Verdict};
use crate::command::Command;
use crate::protocol::Reply;

/// The `[compression]` section, validated: `threshold >= 32` (below that a value could still be
/// an integer for INCR), the patterns are Redis globs matched against the client's key (without
/// its tenant prefix); no pattern means every key.
#[derive(Clone, Debug, PartialEq)]
pub struct CompressionConfig {
    pub enabled: bool,
    pub threshold: usize,
    pub algorithm: Algorithm,
    /// zstd's level (lz4 has none).
    pub level: i32,
    pub keys: Vec<Bytes>,
}

impl Default for CompressionConfig {
    fn default() -> CompressionConfig {
        CompressionConfig {
            enabled: true,
            threshold: 1024,
            algorithm: Algorithm::Zstd,
            level: 1,
            keys: Vec::new(),
        }
    }
}

/// The compression policy; see the module doc.
pub struct CompressPolicy {
    config: CompressionConfig,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    restored: AtomicU64,
    /// Shas of the scripts this layer guarded (kept across reloads).
    scripts: Arc<ScriptShas>,
}

/// What `request` does with a command, by name.
enum Kind {
    /// Values at these positions: (first, step), to the end of the arguments.
    Values(usize, usize),
    /// One value at this position.
    Value(usize),
    /// Only the reply needs restoring.
    Reads,
    /// Scripts and functions: guarded ([`user_scripts`]); script replies restored.
    Scripts,
    /// SORT and SORT_RO ([`super::compress_sort`]).
    Sort,
    /// STRLEN: answered from the header.
    Strlen,
    /// Refused on compressed values; `count` keys from `first` (None: to the end).
    Guarded {
        first: usize,
        count: Option<usize>,
    },
    Other,
}

fn kind(cmd: &Command) -> Kind {
    let mut buf = [0u8; 12];
    let name = cmd.name();
    let Some(lower) = buf.get_mut(..name.len()) else {
        return Kind::Other;
    };
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &*lower {
        b"set" | b"setnx" | b"getset" => Kind::Value(2),
        b"setex" | b"psetex" => Kind::Value(3),
        b"mset" | b"msetnx" => Kind::Values(2, 2),
        b"get" | b"mget" | b"getdel" | b"getex" | b"exec" => Kind::Reads,
        b"eval" | b"evalsha" | b"eval_ro" | b"evalsha_ro" | b"fcall" | b"fcall_ro" | b"script"
        | b"function" => Kind::Scripts,
        b"sort" | b"sort_ro" => Kind::Sort,
        b"strlen" => Kind::Strlen,
        b"getrange" | b"substr" | b"append" | b"setrange" | b"incrbyfloat" | b"getbit"
        | b"setbit" | b"bitcount" | b"bitpos" | b"bitfield" | b"bitfield_ro" => Kind::Guarded {
            first: 1,
            count: Some(1),
        },
        b"lcs" => Kind::Guarded {
            first: 1,
            count: Some(2),
        },
        b"bitop" => Kind::Guarded {
            first: 3,
            count: None,
        },
        _ => Kind::Other,
    }
}

impl CompressPolicy {
    /// The policy for `config`. With `enabled = false` it compresses nothing new but still
    /// restores, guards and measures values written compressed earlier (a reload that turns
    /// compression off keeps the layer in this form).
    pub fn new(config: CompressionConfig) -> CompressPolicy {
        CompressPolicy {
            config,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            restored: AtomicU64::new(0),
            scripts: Arc::default(),
        }
    }

    /// The policy for `config` after a reload: it keeps the shas of the scripts `self` guarded,
    /// so clients' EVALSHA go on reaching them.
    pub fn reconfigured(&self, config: CompressionConfig) -> CompressPolicy {
        CompressPolicy {
            scripts: self.scripts.clone(),
            ..CompressPolicy::new(config)
        }
    }

    /// Bytes of the values compressed since start, before compression.
    pub fn bytes_before(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes of the same values as stored (after compression, headers included).
    pub fn bytes_after(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Values restored in replies since start.
    pub fn restored_total(&self) -> u64 {
        self.restored.load(Ordering::Relaxed)
    }

    /// Whether `key` (as sent upstream, with any tenant prefix) is one compression applies to.
    fn applies(&self, session: &PolicySession, key: &[u8]) -> bool {
        if self.config.keys.is_empty() {
            return true;
        }
        let key = match &session.prefix {
            Some(prefix) => key.strip_prefix(&prefix[..]).unwrap_or(key),
            None => key,
        };
        self.config
            .keys
            .iter()
            .any(|p| crate::store::glob::matches(p, key))
    }

    /// The stored form of `value`: compressed if large enough and worth it, or always when it
    /// starts with the magic (so it cannot be mistaken for a compressed value).
    fn store_form(&self, value: &Bytes) -> Option<Bytes> {
        let magic = looks_compressed(value);
        // Disabled (kept by a reload to restore values written earlier): only the magic wraps.
        // HyperLogLogs must stay readable by PFCOUNT.
        if !magic
            && (!self.config.enabled
                || value.len() <= self.config.threshold
                || value.starts_with(b"HYLL"))
        {
            return None;
        }
        let stored = compress_codec::compress(self.config.algorithm, self.config.level, value);
        if stored.len() >= value.len() && !magic {
            return None;
        }
        self.bytes_in
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(stored.len() as u64, Ordering::Relaxed);
        Some(stored)
    }

    fn rewrite_value(&self, session: &PolicySession, cmd: &mut Command, at: usize) {
        let (Some(key), Some(value)) = (cmd.args.get(1), cmd.args.get(at)) else {
            return;
        };
        if !self.applies(session, key) {
            return;
        }
        if let Some(stored) = self.store_form(&value.clone()) {
            cmd.args_mut()[at] = stored;
        }
    }

    /// Restores every compressed bulk string in `reply` (nested in arrays too).
    fn restore(&self, reply: &mut Reply) {
        match reply {
            Reply::Bulk(b) if looks_compressed(b) => {
                if let Some(original) = compress_codec::restore(b) {
                    *b = Bytes::from(original);
                    self.restored.fetch_add(1, Ordering::Relaxed);
                }
            }
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                items.iter_mut().for_each(|i| self.restore(i));
            }
            Reply::Map(pairs) => pairs.iter_mut().for_each(|(_, v)| self.restore(v)),
            _ => {}
        }
    }
}

/// A refusal naming a key (`key '<prefix><k>' holds a value compressed by redis-sidecar...`)
/// names it as the tenant does, without the prefix.
fn unprefix_refusal(prefix: &[u8], error: &mut Bytes) {
    const MARK: &[u8] = b"ERR key '";
    if error.starts_with(MARK)
        && error[MARK.len()..].starts_with(prefix)
        && error.windows(13).any(|w| w == b"redis-sidecar")
    {
        let mut out = Vec::with_capacity(error.len() - prefix.len());
        out.extend_from_slice(MARK);
        out.extend_from_slice(&error[MARK.len() + prefix.len()..]);
        *error = Bytes::from(out);
    }
}

impl Policy for CompressPolicy {
    fn request(&self, session: &mut PolicySession, cmd: &mut Command) -> Result<Verdict, Reply> {
        let reads = Verdict {
            rewrite_reply: true,
        };
        match kind(cmd) {
            Kind::Value(at) => {
                self.rewrite_value(session, cmd, at);
                // GETSET and SET ... GET reply with the old value.
                let old_value = cmd.is("getset")
                    || (cmd.is("set")
                        && cmd
                            .args
                            .iter()
                            .skip(3)
                            .any(|a| a.eq_ignore_ascii_case(b"get")));
                Ok(if old_value { reads } else { Verdict::default() })
            }
            Kind::Values(first, step) => {
                let mut i = first;
                while i < cmd.args.len() {
                    if self.applies(session, &cmd.args[i - 1]) {
                        let value = cmd.args[i].clone();
                        if let Some(stored) = self.store_form(&value) {
                            cmd.args_mut()[i] = stored;
                        }
                    }
                    i += step;
                }
                Ok(Verdict::default())
            }
            Kind::Reads => Ok(reads),
            Kind::Scripts => {
                user_scripts::request(&self.scripts, cmd)?;
                Ok(reads)
            }
            Kind::Sort => Ok(Verdict {
                rewrite_reply: super::compress_sort::request(cmd),
            }),
            Kind::Strlen => {
                if cmd.args.len() == 2 && self.applies(session, &cmd.args[1]) {
                    let key = cmd.args[1].clone();
                    *cmd.args_mut() = vec![
                        Bytes::from_static(b"EVAL"),
                        Bytes::from_static(STRLEN_SCRIPT.as_bytes()),
                        Bytes::from_static(b"1"),
                        key,
                    ];
                }
                Ok(Verdict::default())
            }
            Kind::Guarded { first, count } => {
                let end = count.map_or(cmd.args.len(), |n| (first + n).min(cmd.args.len()));
                let keys: Vec<Bytes> = cmd.args[first.min(end)..end]
                    .iter()
                    .filter(|k| self.applies(session, k))
                    .cloned()
                    .collect();
                // A wrong arity keeps Redis's own error (a script would word it differently).
                let arity_ok = crate::store::table::lookup(cmd.name())
                    .is_none_or(|spec| spec.arity_ok(cmd.args.len()));
                if !keys.is_empty() && arity_ok {
                    let original = std::mem::take(cmd.args_mut());
                    *cmd.args_mut() = guard(&keys, original);
                }
                Ok(Verdict::default())
            }
            Kind::Other => Ok(Verdict::default()),
        }
    }

    /// `reply` changes only values that start with the magic, SCRIPT's replies and errors.
    fn leaves_reply(&self, _session: &PolicySession, cmd: &Command, frame: &[u8]) -> bool {
        !matches!(frame.first(), Some(b'-' | b'!' | b'|'))
            && !cmd.is("script")
            && memchr::memmem::find(frame, compress_codec::MAGIC).is_none()
    }

    fn reply(&self, session: &PolicySession, cmd: &Command, reply: &mut Reply) {
        self.restore(reply);
        user_scripts::reply(&self.scripts, cmd, reply);
        if let (Reply::Error(e), Some(prefix)) = (&mut *reply, &session.prefix) {
            unprefix_refusal(prefix, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    /// Whether the raw `frame` passes unparsed, and if so, that `reply` indeed leaves it as is.
    fn left(policy: &CompressPolicy, cmd: &[&str], reply: Reply) -> bool {
        let session = PolicySession::default();
        let cmd = Command::from_strs(cmd);
        let frame = reply.to_bytes(Protocol::Resp3);
        let leaves = policy.leaves_reply(&session, &cmd, &frame);
        if leaves {
            let mut rewritten = reply.clone();
            policy.reply(&session, &cmd, &mut rewritten);
            assert_eq!(rewritten, reply, "said to leave {frame:?} but changed it");
        }
        leaves
    }

    #[test]
    fn only_replies_it_could_change_are_parsed() {
        let policy = CompressPolicy::new(CompressionConfig::default());
        let stored = compress_codec::compress(Algorithm::Zstd, 1, "v".repeat(4096).as_bytes());
        assert!(left(&policy, &["GET", "k"], Reply::bulk("plain")));
        assert!(left(&policy, &["GET", "k"], Reply::Nil));
        assert!(left(
            &policy,
            &["MGET", "a", "b"],
            Reply::Array(vec![Reply::bulk("x"), Reply::Nil])
        ));
        assert!(!left(&policy, &["GET", "k"], Reply::Bulk(stored.clone())));
        assert!(
            !left(
                &policy,
                &["MGET", "a", "b"],
                Reply::Array(vec![Reply::bulk("x"), Reply::Bulk(stored)])
            ),
            "a compressed value inside an aggregate"
        );
        assert!(!left(&policy, &["GET", "k"], Reply::error("ERR wrong")));
        assert!(!left(
            &policy,
            &["SCRIPT", "LOAD", "return 1"],
            Reply::bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        ));
    }
}
