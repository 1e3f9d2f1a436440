//! What a write executed by the embedded store becomes in the journal, so that replaying it on
//! the upstream later has the effect it had when the client was told it succeeded.
//!
//! - Relative TTLs become absolute (`SET k v EX 60` -> `SET k v PXAT <ms>`, `EXPIRE` ->
//!   `PEXPIREAT`): time that passed during the outage counts.
//! - Conditions already decided are dropped (`SET k v NX` that succeeded replays as `SET k v`).
//! - Pops become removals of the exact elements popped (`RPOP q` that returned `t` replays as
//!   `LREM q -1 t`): a task consumed during the outage removes that task upstream, not whatever
//!   sits at the head there.
//! - Everything else replays as executed. Scripts are journaled by their effects (the commands
//!   they ran), not as EVAL.

use bytes::Bytes;

use crate::command::lowercase_into;
use crate::protocol::Reply;

/// The journal entries for `argv`, which changed data and answered `reply` at time `now` (ms).
pub fn for_replay(argv: &[Bytes], reply: &Reply, now: u64) -> Vec<Vec<Bytes>> {
    let mut name = [0u8; 16];
    let Some(name) = lowercase_into(&argv[0], &mut name) else {
        return vec![argv.to_vec()];
    };
    let at = |ms: i64| Bytes::from((now as i64).saturating_add(ms).to_string());
    let num = |b: &Bytes| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    match name {
        b"set" => vec![rewrite_set(argv, now)],
        b"setex" | b"psetex" => {
            let unit = if name == b"setex" { 1000 } else { 1 };
            let ttl = num(&argv[2]).unwrap_or(0).saturating_mul(unit);
            vec![vec![
                b("SET"),
                argv[1].clone(),
                argv[3].clone(),
                b("PXAT"),
                at(ttl),
            ]]
        }
        b"expire" | b"pexpire" | b"expireat" | b"pexpireat" => {
            let t = num(&argv[2]).unwrap_or(0);
            let abs = match name {
                b"expire" => at(t.saturating_mul(1000)),
                b"pexpire" => at(t),
                b"expireat" => Bytes::from(t.saturating_mul(1000).to_string()),
                _ => argv[2].clone(),
            };
            vec![vec![b("PEXPIREAT"), argv[1].clone(), abs]]
        }
        b"getex" => match ttl_option(&argv[2..], now) {
            Some(Ttl::At(abs)) => vec![vec![b("PEXPIREAT"), argv[1].clone(), abs]],
            Some(Ttl::Persist) => vec![vec![b("PERSIST"), argv[1].clone()]],
            _ => vec![],
        },
        b"lpop" | b"rpop" => removals(b"LREM", &argv[1], name == b"lpop", &values(reply)),
        b"blpop" | b"brpop" => {
            let items = values(reply);
            match items.split_first() {
                Some((key, popped)) => removals(b"LREM", key, name == b"blpop", popped),
                None => vec![],
            }
        }
        b"lmpop" | b"blmpop" => {
            let items = values(reply);
            let left = argv.iter().any(|a| a.eq_ignore_ascii_case(b"left"));
            match items.split_first() {
                Some((key, popped)) => removals(b"LREM", key, left, popped),
                None => vec![],
            }
        }
        b"lmove" | b"blmove" | b"rpoplpush" | b"brpoplpush" => {
            let Reply::Bulk(value) = reply else {
                return vec![];
            };
            let (from_left, to_left) = match name {
                b"lmove" | b"blmove" => (
                    argv[3].eq_ignore_ascii_case(b"left"),
                    argv[4].eq_ignore_ascii_case(b"left"),
                ),
                _ => (false, true),
            };
            let mut out = removals(b"LREM", &argv[1], from_left, std::slice::from_ref(value));
            out.push(vec![
                b(if to_left { "LPUSH" } else { "RPUSH" }),
                argv[2].clone(),
                value.clone(),
            ]);
            out
        }
        b"spop" => remove_members(b"SREM", &argv[1], values(reply)),
        b"zpopmin" | b"zpopmax" => remove_members(b"ZREM", &argv[1], members(reply)),
        b"bzpopmin" | b"bzpopmax" => {
            let items = values(reply);
            match items.first() {
                Some(key) => vec![vec![
                    b("ZREM"),
                    key.clone(),
                    items.get(1).cloned().unwrap_or_default(),
                ]],
                None => vec![],
            }
        }
        b"zmpop" | b"bzmpop" => match reply {
            Reply::Array(parts) if parts.len() == 2 => match &parts[0] {
                Reply::Bulk(key) => remove_members(b"ZREM", key, members(&parts[1])),
                _ => vec![],
            },
            _ => vec![],
        },
        _ => vec![argv.to_vec()],
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

enum Ttl {
    At(Bytes),
    Persist,
    Keep,
}

/// The absolute expiry an EX/PX/EXAT/PXAT/PERSIST/KEEPTTL option list asks for.
fn ttl_option(options: &[Bytes], now: u64) -> Option<Ttl> {
    let mut i = 0;
    while i < options.len() {
        let opt = &options[i];
        let value = options
            .get(i + 1)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
        let abs = |ms: i64| Some(Ttl::At(Bytes::from(ms.to_string())));
        if opt.eq_ignore_ascii_case(b"ex") {
            return abs((now as i64).saturating_add(value?.saturating_mul(1000)));
        } else if opt.eq_ignore_ascii_case(b"px") {
            return abs((now as i64).saturating_add(value?));
        } else if opt.eq_ignore_ascii_case(b"exat") {
            return abs(value?.saturating_mul(1000));
        } else if opt.eq_ignore_ascii_case(b"pxat") {
            return abs(value?);
        } else if opt.eq_ignore_ascii_case(b"persist") {
            return Some(Ttl::Persist);
        } else if opt.eq_ignore_ascii_case(b"keepttl") {
            return Some(Ttl::Keep);
        }
        i += 1;
    }
    None
}

/// `SET k v [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]` that succeeded -> `SET k v [PXAT ms|KEEPTTL]`.
fn rewrite_set(argv: &[Bytes], now: u64) -> Vec<Bytes> {
    let mut out = vec![b("SET"), argv[1].clone(), argv[2].clone()];
    match ttl_option(&argv[3..], now) {
        Some(Ttl::At(abs)) => out.extend([b("PXAT"), abs]),
        Some(Ttl::Keep) => out.push(b("KEEPTTL")),
        _ => {}
    }
    out
}

fn removals(cmd: &[u8], key: &Bytes, from_left: bool, popped: &[Bytes]) -> Vec<Vec<Bytes>> {
    let direction = Bytes::from_static(if from_left { b"1" } else { b"-1" });
    popped
        .iter()
        .map(|v| {
            vec![
                Bytes::copy_from_slice(cmd),
                key.clone(),
                direction.clone(),
                v.clone(),
            ]
        })
        .collect()
}

fn remove_members(cmd: &[u8], key: &Bytes, members: Vec<Bytes>) -> Vec<Vec<Bytes>> {
    if members.is_empty() {
        return vec![];
    }
    let mut entry = vec![Bytes::copy_from_slice(cmd), key.clone()];
    entry.extend(members);
    vec![entry]
}

/// Every bulk string in a reply, depth first (a popped value, a key and its values).
fn values(reply: &Reply) -> Vec<Bytes> {
    let mut out = Vec::new();
    collect(reply, &mut out);
    out
}

fn collect(reply: &Reply, out: &mut Vec<Bytes>) {
    match reply {
        Reply::Bulk(b) => out.push(b.clone()),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            items.iter().for_each(|i| collect(i, out))
        }
        _ => {}
    }
}

/// The members of a sorted-set pop reply: `[m, s, m, s]` (RESP2) or `[[m, s], ...]` (RESP3).
fn members(reply: &Reply) -> Vec<Bytes> {
    match reply {
        Reply::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Reply::Array(pair) => match pair.first() {
                    Some(Reply::Bulk(m)) => Some(m.clone()),
                    _ => None,
                },
                Reply::Bulk(m) if i % 2 == 0 => Some(m.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn show(entries: Vec<Vec<Bytes>>) -> Vec<String> {
        entries
            .into_iter()
            .map(|e| {
                e.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn relative_ttls_become_absolute() {
        let now = 1_000_000;
        assert_eq!(
            show(for_replay(&args("SET k v NX EX 60"), &Reply::ok(), now)),
            ["SET k v PXAT 1060000"]
        );
        assert_eq!(
            show(for_replay(&args("set k v KEEPTTL GET"), &Reply::Nil, now)),
            ["SET k v KEEPTTL"]
        );
        assert_eq!(
            show(for_replay(&args("SETEX k 10 v"), &Reply::ok(), now)),
            ["SET k v PXAT 1010000"]
        );
        assert_eq!(
            show(for_replay(&args("EXPIRE k 5 NX"), &Reply::Int(1), now)),
            ["PEXPIREAT k 1005000"]
        );
        assert_eq!(
            show(for_replay(&args("GETEX k PERSIST"), &Reply::bulk("v"), now)),
            ["PERSIST k"]
        );
    }

    #[test]
    fn pops_become_removals_of_what_was_popped() {
        let popped = Reply::Array(vec![Reply::bulk("celery"), Reply::bulk("task-7")]);
        assert_eq!(
            show(for_replay(&args("BRPOP celery 1"), &popped, 0)),
            ["LREM celery -1 task-7"]
        );
        let many = Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")]);
        assert_eq!(
            show(for_replay(&args("LPOP q 2"), &many, 0)),
            ["LREM q 1 a", "LREM q 1 b"]
        );
        assert_eq!(
            show(for_replay(
                &args("LMOVE src dst RIGHT LEFT"),
                &Reply::bulk("x"),
                0
            )),
            ["LREM src -1 x", "LPUSH dst x"]
        );
        let zpop = Reply::Array(vec![
            Reply::bulk("m1"),
            Reply::Double(1.0),
            Reply::bulk("m2"),
            Reply::Double(2.0),
        ]);
        assert_eq!(
            show(for_replay(&args("ZPOPMIN z 2"), &zpop, 0)),
            ["ZREM z m1 m2"]
        );
        assert_eq!(
            show(for_replay(&args("SPOP s"), &Reply::bulk("m"), 0)),
            ["SREM s m"]
        );
    }

    #[test]
    fn other_writes_replay_as_executed() {
        assert_eq!(
            show(for_replay(&args("XADD s * f v"), &Reply::bulk("1-0"), 0)),
            ["XADD s * f v"]
        );
        assert_eq!(
            show(for_replay(&args("INCR n"), &Reply::Int(3), 0)),
            ["INCR n"]
        );
    }
}
