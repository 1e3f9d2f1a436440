//! The keyspace as commands: what an append-only file is compacted to (Redis's AOF rewrite).
//!
//! Per database with keys: `SELECT n`, then per key the commands that rebuild it: `SET`, `RPUSH`,
//! `HSET`, `SADD`, `ZADD` (scores printed with 17 significant digits, so they read back exactly),
//! `XADD` with explicit ids, then `PEXPIREAT` for a TTL. Aggregates are split into commands of
//! at most [`ITEMS_PER_COMMAND`] elements, as Redis does.
//!
//! Streams: entries keep their ids; the last id survives even when the last entries were
//! deleted (an `XADD` then `XDEL` of that id, or `XADD ... MAXLEN 0` for an empty stream);
//! groups come back with `XGROUP CREATE ... ENTRIESREAD` and their consumers with
//! `XGROUP CREATECONSUMER`. Not kept (the store has no XSETID or XCLAIM-with-FORCE to express
//! them): the pending entries lists, the exact `entries_added` and `max_deleted_id` counters.
//! Invariant: loading the dump into an empty store gives every key its value and TTL, in its db.

use bytes::{Bytes, BytesMut};

use super::stream::Stream;
use super::{State, Value};
use crate::command::encode_args;
use crate::protocol::format_double;

/// Elements per command for aggregates (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_COMMAND: usize = 64;

/// Appends the commands that rebuild every live key of `state` (as of `now`, Unix ms) to `out`.
pub fn keyspace(state: &State, now: u64, out: &mut BytesMut) {
    for (index, db) in state.dbs.iter().enumerate() {
        let mut selected = false;
        for (key, entry) in db.iter_live(now) {
            if !selected {
                encode_args(&[b"SELECT".as_slice(), index.to_string().as_bytes()], out);
                selected = true;
            }
            value(key, &entry.value, out);
            if let Some(at) = entry.expires_at {
                encode_args(
                    &[
                        b"PEXPIREAT".as_slice(),
                        key.as_ref(),
                        at.to_string().as_bytes(),
                    ],
                    out,
                );
            }
        }
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Emits `head` followed by items, at most [`ITEMS_PER_COMMAND`] per command.
fn chunked(head: &[Bytes], items: impl Iterator<Item = Vec<Bytes>>, out: &mut BytesMut) {
    let mut cmd: Vec<Bytes> = head.to_vec();
    let mut count = 0;
    for item in items {
        cmd.extend(item);
        count += 1;
        if count == ITEMS_PER_COMMAND {
            encode_args(&cmd, out);
            cmd.truncate(head.len());
            count = 0;
        }
    }
    if count > 0 {
        encode_args(&cmd, out);
    }
}

fn value(key: &Bytes, value: &Value, out: &mut BytesMut) {
    match value {
        Value::Str(s) => encode_args(&[b("SET"), key.clone(), s.clone()], out),
        Value::List(l) => chunked(
            &[b("RPUSH"), key.clone()],
            l.iter().map(|e| vec![e.clone()]),
            out,
        ),
        Value::Hash(h) => chunked(
            &[b("HSET"), key.clone()],
            h.iter().map(|(f, v)| vec![f.clone(), v.clone()]),
            out,
        ),
        Value::Set(s) => chunked(
            &[b("SADD"), key.clone()],
            s.iter().map(|m| vec![m.clone()]),
            out,
        ),
        Value::ZSet(z) => chunked(
            &[b("ZADD"), key.clone()],
            z.iter()
                .map(|(m, score)| vec![Bytes::from(score_text(score)), m.clone()]),
            out,
        ),
        Value::Stream(s) => stream(key, s, out),
    }
}

/// A score that parses back to the same double (`%.17g`, as Redis's AOF rewrite).
fn score_text(score: f64) -> String {
    let short = format_double(score);
    if short.parse::<f64>().ok() == Some(score) || score.is_infinite() {
        short
    } else {
        format!("{score:e}")
    }
}

fn stream(key: &Bytes, s: &Stream, out: &mut BytesMut) {
    for (id, fields) in &s.entries {
        let mut cmd = vec![b("XADD"), key.clone(), id.to_bytes()];
        for (f, v) in fields {
            cmd.extend([f.clone(), v.clone()]);
        }
        encode_args(&cmd, out);
    }
    let last_entry = s.entries.keys().next_back().copied();
    if last_entry.is_none() && s.last_id == Default::default() {
        // A stream that never had an entry (made by XGROUP CREATE MKSTREAM).
        let tmp = b("__sidecar_dump__");
        encode_args(
            &[
                b("XGROUP"),
                b("CREATE"),
                key.clone(),
                tmp.clone(),
                b("0"),
                b("MKSTREAM"),
            ],
            out,
        );
        encode_args(&[b("XGROUP"), b("DESTROY"), key.clone(), tmp], out);
    } else if last_entry.is_none() {
        // An empty stream still exists, with its last id.
        encode_args(
            &[
                b("XADD"),
                key.clone(),
                b("MAXLEN"),
                b("0"),
                s.last_id.to_bytes(),
                b("x"),
                b("y"),
            ],
            out,
        );
    } else if last_entry != Some(s.last_id) {
        // The last entries were deleted: re-create the last id, then delete it again.
        let id = s.last_id.to_bytes();
        encode_args(&[b("XADD"), key.clone(), id.clone(), b("x"), b("y")], out);
        encode_args(&[b("XDEL"), key.clone(), id], out);
    }
    for (name, group) in &s.groups {
        encode_args(
            &[
                b("XGROUP"),
                b("CREATE"),
                key.clone(),
                name.clone(),
                group.last_id.to_bytes(),
                b("ENTRIESREAD"),
                Bytes::from(group.entries_read.to_string()),
            ],
            out,
        );
        for consumer in group.consumers.keys() {
            encode_args(
                &[
                    b("XGROUP"),
                    b("CREATECONSUMER"),
                    key.clone(),
                    name.clone(),
                    consumer.clone(),
                ],
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_back_exactly() {
        for x in [0.1, 1.0 / 3.0, -2.5e-300, 1e300, f64::INFINITY, -0.0, 42.0] {
            let text = score_text(x);
            let back: f64 = if text == "inf" {
                f64::INFINITY
            } else {
                text.parse().unwrap()
            };
            assert_eq!(back.to_bits(), x.to_bits(), "{x} printed as {text}");
        }
    }
}
