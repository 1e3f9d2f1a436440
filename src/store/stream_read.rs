//! XREAD and XREADGROUP, with BLOCK.
//!
//! A read that finds nothing and was given BLOCK parks itself (see `blocking.rs`) with rerun
//! arguments that start with the hidden [`RESUMED`] marker, `$` resolved to the last id at the
//! time of blocking, and COUNT set (1000 when none was given, as Redis does for blocked reads).
//! A resumed read behaves as Redis's `serveClientsBlockedOnStreamKey`: it serves one stream,
//! skips keys that are missing or not streams, stays parked when nothing is there, and fails
//! with Redis's own text when its consumer group was destroyed meanwhile.

use std::time::Duration;

use bytes::Bytes;

use super::args::{self, err, is};
use super::stream::{entry_reply, StreamId};
use super::stream_cmds::stream_mut;
use super::stream_groups::{read_history, read_new};
use super::stream_id::parse_strict;
use super::{BlockSpec, Ctx};
use crate::protocol::{Protocol, Reply};

/// First argument of a re-run blocked read (never sent by a client: it begins with a NUL).
const RESUMED: &[u8] = b"\x00resumed";
/// COUNT of a blocked read woken without one, as Redis's `XREAD_BLOCKED_DEFAULT_COUNT`.
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

/// XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ....
pub fn xread(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    read(ctx, argv, false)
}

/// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ....
pub fn xreadgroup(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    read(ctx, argv, true)
}

/// Where a stream is read from: after an id, or (XREADGROUP `>`) new entries for the group.
#[derive(Clone, Copy)]
enum From {
    After(StreamId),
    New,
}

/// Bytes joined into an error reply (names may not be UTF-8).
pub fn error_with(parts: &[&[u8]]) -> Reply {
    Reply::Error(Bytes::from(parts.concat()))
}

fn read(ctx: &mut Ctx, argv: &[Bytes], grouped: bool) -> Result<Reply, Reply> {
    let resumed = argv.get(1).is_some_and(|a| a == RESUMED);
    let (mut block, mut count, mut noack) = (None::<Option<Duration>>, 0i64, false);
    let mut group: Option<(&Bytes, &Bytes)> = None;
    let mut streams_at = 0;
    let mut i = if resumed { 2 } else { 1 };
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let opt = &argv[i];
        if is(opt, "block") && more > 0 {
            i += 1;
            block = Some(parse_timeout(&argv[i], ctx.now)?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            count = args::int(&argv[i])?.max(0);
        } else if is(opt, "streams") && more > 0 {
            streams_at = i + 1;
            if (argv.len() - streams_at) % 2 != 0 {
                return Err(err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            break;
        } else if is(opt, "group") && more >= 2 {
            if !grouped {
                return Err(err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            group = Some((&argv[i + 1], &argv[i + 2]));
            i += 2;
        } else if is(opt, "noack") {
            if !grouped {
                return Err(err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            noack = true;
        } else {
            return Err(args::syntax());
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(args::syntax());
    }
    if grouped && group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (argv.len() - streams_at) / 2;
    let keys = &argv[streams_at..streams_at + n];
    let mut froms = Vec::with_capacity(n);
    for (key, arg) in keys.iter().zip(&argv[streams_at + n..]) {
        let s = match stream_mut(ctx, key) {
            Err(_) if resumed => None,
            other => other?,
        };
        if let Some((g, _)) = group {
            match s.as_ref().map(|s| s.groups.contains_key(&g[..])) {
                Some(true) => {}
                _ if resumed && s.is_none() => {}
                _ if resumed => {
                    return Err(err(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ))
                }
                _ => {
                    return Err(error_with(&[
                        b"NOGROUP No such key '",
                        key,
                        b"' or consumer group '",
                        g,
                        b"' in XREADGROUP with GROUP option",
                    ]))
                }
            }
        }
        let from = match &arg[..] {
            b"$" if grouped => return Err(err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            b"$" => From::After(s.map_or(StreamId::MIN, |s| s.last_id)),
            b">" if !grouped => return Err(err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
            b">" => From::New,
            _ => From::After(parse_strict(arg)?),
        };
        froms.push(from);
    }

    let now = ctx.now;
    let mut served = Vec::new();
    for (key, from) in keys.iter().zip(&froms) {
        let Ok(Some(s)) = stream_mut(ctx, key) else {
            continue;
        };
        let items = match (group, *from) {
            (Some((g, c)), from) => {
                let last_valid = s.last_valid_id();
                let Some(grp) = s.groups.get_mut(&g[..]) else {
                    continue;
                };
                if let From::New = from {
                    if last_valid == StreamId::MIN || last_valid <= grp.last_id {
                        continue;
                    }
                }
                grp.create_consumer(c, now);
                if let Some(consumer) = grp.consumers.get_mut(&c[..]) {
                    consumer.seen_time = now;
                }
                let items = match from {
                    From::New => read_new(s, g, c, count as usize, noack, now),
                    From::After(id) => match id.incr() {
                        Some(start) => read_history(s, g, c, start, count as usize, now),
                        None => Vec::new(),
                    },
                };
                ctx.state.dirty += 1;
                items
            }
            (None, From::After(gt)) => {
                if s.entries.is_empty() || s.last_valid_id() <= gt {
                    continue;
                }
                let Some(start) = gt.incr() else { continue };
                let iter = s.entries.range(start..).map(|(id, f)| entry_reply(*id, f));
                match count {
                    0 => iter.collect(),
                    n => iter.take(n as usize).collect(),
                }
            }
            (None, From::New) => continue,
        };
        served.push((key.clone(), items));
        if resumed {
            break;
        }
    }
    if !served.is_empty() {
        return Ok(if ctx.client.protocol == Protocol::Resp3 {
            Reply::Map(
                served
                    .into_iter()
                    .map(|(k, items)| (Reply::Bulk(k), Reply::Array(items)))
                    .collect(),
            )
        } else {
            Reply::Array(
                served
                    .into_iter()
                    .map(|(k, items)| Reply::Array(vec![Reply::Bulk(k), Reply::Array(items)]))
                    .collect(),
            )
        });
    }
    if let Some(timeout) = block {
        if !ctx.client.no_block {
            let mut rerun = vec![argv[0].clone(), Bytes::from_static(RESUMED)];
            if let Some((g, c)) = group {
                rerun.extend([Bytes::from_static(b"GROUP"), g.clone(), c.clone()]);
            }
            let count = if count == 0 {
                BLOCKED_DEFAULT_COUNT
            } else {
                count
            };
            rerun.extend([Bytes::from_static(b"COUNT"), Bytes::from(count.to_string())]);
            rerun.extend([Bytes::from_static(b"BLOCK"), Bytes::from_static(b"0")]);
            if noack {
                rerun.push(Bytes::from_static(b"NOACK"));
            }
            rerun.push(Bytes::from_static(b"STREAMS"));
            rerun.extend(keys.iter().cloned());
            rerun.extend(froms.iter().map(|f| match f {
                From::After(id) => id.to_bytes(),
                From::New => Bytes::from_static(b">"),
            }));
            let mut wait_keys: Vec<Bytes> = Vec::with_capacity(n);
            for key in keys {
                if !wait_keys.contains(key) {
                    wait_keys.push(args::owned(key));
                }
            }
            ctx.block_on(BlockSpec {
                keys: wait_keys,
                timeout,
                rerun_args: Some(rerun),
            });
        }
    }
    Ok(Reply::NilArray)
}

/// BLOCK's milliseconds: `None` waits forever (0, or too far to add to now).
fn parse_timeout(arg: &[u8], now: u64) -> Result<Option<Duration>, Reply> {
    let ms = crate::protocol::request::parse_int(arg)
        .ok_or_else(|| err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    if ms == 0
        || (ms as u64)
            .checked_add(now)
            .is_none_or(|t| t > i64::MAX as u64)
    {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}
