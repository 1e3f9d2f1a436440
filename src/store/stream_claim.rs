//! XCLAIM and XAUTOCLAIM: moving pending entries between consumers of a group.

use bytes::Bytes;

use super::args::{self, err, is};
use super::stream::{entry_reply, Stream, StreamId};
use super::stream_cmds::stream_mut;
use super::stream_groups::Nack;
use super::stream_id::{parse_bound, parse_strict};
use super::stream_read::error_with;
use super::Ctx;
use crate::protocol::Reply;

/// The stream and group a claiming command works on, or Redis's NOGROUP error.
fn stream_and_group<'a>(ctx: &'a mut Ctx, argv: &[Bytes]) -> Result<&'a mut Stream, Reply> {
    match stream_mut(ctx, &argv[1])? {
        Some(s) if s.groups.contains_key(&argv[2][..]) => Ok(s),
        _ => Err(error_with(&[
            b"NOGROUP No such key '",
            &argv[1],
            b"' or consumer group '",
            &argv[2],
            b"'",
        ])),
    }
}

/// The claimed entry as XCLAIM/XAUTOCLAIM reply it: its id with JUSTID, else the entry.
fn claimed(s: &Stream, id: StreamId, justid: bool) -> Reply {
    if justid {
        return id.reply();
    }
    match s.entries.get(&id) {
        Some(fields) => entry_reply(id, fields),
        None => Reply::Nil,
    }
}

/// XCLAIM key group consumer min-idle id ... [options].
pub fn xclaim(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let s = stream_and_group(ctx, argv)?;
    let min_idle = args::int(&argv[4])
        .map_err(|_| err("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut j = 5;
    while j < argv.len() && parse_strict(&argv[j]).is_ok() {
        j += 1;
    }
    let ids_end = j;
    let (mut force, mut justid) = (false, false);
    let (mut retrycount, mut delivery, mut last_id) = (-1i64, -1i64, StreamId::MIN);
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        let int_arg = |j: usize, what: &str| {
            args::int(&argv[j])
                .map_err(|_| Reply::error(format!("ERR Invalid {what} option argument for XCLAIM")))
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            delivery = (now as i64).wrapping_sub(int_arg(j, "IDLE")?);
        } else if is(opt, "time") && more > 0 {
            j += 1;
            delivery = int_arg(j, "TIME")?;
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = int_arg(j, "RETRYCOUNT")?;
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict(&argv[j])?;
        } else {
            return Err(error_with(&[
                b"ERR Unrecognized XCLAIM option '",
                opt,
                b"'",
            ]));
        }
        j += 1;
    }
    let Some((gname, mut g)) = s.groups.remove_entry(&argv[2][..]) else {
        return Err(err("ERR no such group"));
    };
    g.last_id = g.last_id.max(last_id);
    if delivery == -1 || delivery < 0 || delivery > now as i64 {
        delivery = now as i64;
    }
    let consumer = &argv[3];
    let mut out = Vec::new();
    for arg in &argv[5..ids_end] {
        let Ok(id) = parse_strict(arg) else { continue };
        if !s.entries.contains_key(&id) {
            g.ack(id);
            continue;
        }
        let mut had_owner = g.pel.contains_key(&id);
        if force && !had_owner {
            g.pel.insert(
                id,
                Nack {
                    consumer: Bytes::new(),
                    delivery_time: now,
                    delivery_count: 1,
                },
            );
            had_owner = false;
        }
        let Some(nack) = g.pel.get(&id) else { continue };
        if had_owner && min_idle != 0 && (now as i64 - nack.delivery_time as i64) < min_idle {
            continue;
        }
        g.create_consumer(consumer, now);
        let name = g.own(id, consumer);
        if let Some(nack) = g.pel.get_mut(&id) {
            nack.consumer = name;
            nack.delivery_time = delivery as u64;
            if retrycount >= 0 {
                nack.delivery_count = retrycount as u64;
            } else if !justid {
                nack.delivery_count += 1;
            }
        }
        out.push(claimed(s, id, justid));
    }
    s.groups.insert(gname, g);
    ctx.state.dirty += 1;
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]: Redis 7.0 three-element reply.
pub fn xautoclaim(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let min_idle = args::int(&argv[4])
        .map_err(|_| err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = parse_bound(&argv[5], true)?;
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = args::int(&argv[j + 1])
                .ok()
                .filter(|n| (1..=i64::MAX / 16).contains(n))
                .ok_or_else(|| err("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is(&argv[j], "justid") {
            justid = true;
        } else {
            return Err(args::syntax());
        }
        j += 1;
    }
    let s = stream_and_group(ctx, argv)?;
    let Some((gname, mut g)) = s.groups.remove_entry(&argv[2][..]) else {
        return Err(err("ERR no such group"));
    };
    let consumer = &argv[3];
    let (mut attempts, mut out, mut deleted) = (count.saturating_mul(10), Vec::new(), Vec::new());
    let mut cursor = Some(start);
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(id) = cursor.and_then(|c| g.pel.range(c..).next().map(|(id, _)| *id)) else {
            cursor = None;
            break;
        };
        cursor = id.incr();
        if !s.entries.contains_key(&id) {
            g.ack(id);
            deleted.push(id.reply());
            count -= 1;
            continue;
        }
        let idle = g
            .pel
            .get(&id)
            .map_or(0, |n| now as i64 - n.delivery_time as i64);
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        g.create_consumer(consumer, now);
        let name = g.own(id, consumer);
        if let Some(nack) = g.pel.get_mut(&id) {
            nack.consumer = name;
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
        }
        out.push(claimed(s, id, justid));
        count -= 1;
    }
    let next = cursor
        .and_then(|c| g.pel.range(c..).next().map(|(id, _)| *id))
        .unwrap_or(StreamId::MIN);
    s.groups.insert(gname, g);
    ctx.state.dirty += 1;
    Ok(Reply::Array(vec![
        next.reply(),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}
