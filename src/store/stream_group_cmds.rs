//! XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM: consumer group commands.
//!
//! As in Redis, changing a group's state does not count as modifying the key for WATCH (only
//! the change counter moves); creating the stream with MKSTREAM does.

use bytes::Bytes;

use super::args::{self, err, is, owned};
use super::stream::{entry_reply, Stream, StreamId};
use super::stream_cmds::stream_mut;
use super::stream_groups::{Group, INVALID_ENTRIES_READ};
use super::stream_id::{self, parse_bound, parse_strict};
use super::stream_read::error_with;
use super::{Ctx, Value};
use crate::protocol::Reply;

/// The subcommand error of container commands: `unknown subcommand`, or its arity.
pub fn subcommand<'a>(
    argv: &[Bytes],
    container: &str,
    table: &'a [(&'a str, i32)],
) -> Result<&'a str, Reply> {
    let sub = &argv[1];
    let Some(&(name, arity)) = table.iter().find(|(n, _)| is(sub, n)) else {
        return Err(error_with(&[
            b"ERR unknown subcommand '",
            &sub[..sub.len().min(128)],
            format!("'. Try {} HELP.", container.to_ascii_uppercase()).as_bytes(),
        ]));
    };
    let n = argv.len() as i32;
    if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for '{container}|{name}' command"
        )));
    }
    Ok(name)
}

/// `unknown subcommand or wrong number of arguments for 'X'. Try C HELP.`
pub fn subcommand_syntax(argv: &[Bytes], container: &str) -> Reply {
    error_with(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        &argv[1][..argv[1].len().min(128)],
        format!("'. Try {container} HELP.").as_bytes(),
    ])
}

/// Help lines as status replies.
pub fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

fn no_group(group: &[u8], key: &[u8]) -> Reply {
    error_with(&[
        b"NOGROUP No such consumer group '",
        group,
        b"' for key name '",
        key,
        b"'",
    ])
}

pub fn xgroup(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let table = [
        ("create", -5),
        ("setid", -5),
        ("destroy", 4),
        ("createconsumer", 5),
        ("delconsumer", 5),
        ("help", 2),
    ];
    let sub = subcommand(argv, "xgroup", &table)?;
    if sub == "help" {
        return Ok(help(XGROUP_HELP));
    }
    let (mut mkstream, mut entries_read) = (false, INVALID_ENTRIES_READ);
    let mut i = 5;
    while i < argv.len() {
        if sub == "create" && is(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if matches!(sub, "create" | "setid")
            && is(&argv[i], "entriesread")
            && i + 1 < argv.len()
        {
            entries_read = args::int(&argv[i + 1])?;
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(argv, "XGROUP"));
        }
    }
    let (key, group) = (&argv[2], &argv[3]);
    let exists = stream_mut(ctx, key)?.is_some();
    if !mkstream {
        let Some(s) = stream_mut(ctx, key)? else {
            return Err(err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        };
        if sub != "create" && sub != "destroy" && !s.groups.contains_key(&group[..]) {
            return Err(no_group(group, key));
        }
    }
    let now = ctx.now;
    match sub {
        "create" => {
            if argv.len() > 8 {
                return Err(subcommand_syntax(argv, "XGROUP"));
            }
            let last_id = stream_mut(ctx, key)?.map_or(StreamId::MIN, |s| s.last_id);
            let id = match &argv[4][..] {
                b"$" => last_id,
                arg => parse_strict(arg)?,
            };
            if !exists {
                ctx.db()
                    .set(owned(key), Value::Stream(Box::default()), None);
                ctx.touch(key);
            }
            let Some(s) = stream_mut(ctx, key)? else {
                return Ok(Reply::ok());
            };
            if s.groups.contains_key(&group[..]) {
                return Err(err("BUSYGROUP Consumer Group name already exists"));
            }
            s.groups.insert(owned(group), Group::new(id, entries_read));
            ctx.state.dirty += 1;
            Ok(Reply::ok())
        }
        "setid" => {
            if argv.len() != 5 && argv.len() != 7 {
                return Err(subcommand_syntax(argv, "XGROUP"));
            }
            let Some(s) = stream_mut(ctx, key)? else {
                return Err(no_group(group, key));
            };
            let id = match &argv[4][..] {
                b"$" => s.last_id,
                arg => stream_id::parse(arg, 0, false, false)?.0,
            };
            if let Some(g) = s.groups.get_mut(&group[..]) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            ctx.state.dirty += 1;
            Ok(Reply::ok())
        }
        "destroy" => {
            let removed = stream_mut(ctx, key)?.and_then(|s| s.groups.remove(&group[..]));
            if removed.is_none() {
                return Ok(Reply::Int(0));
            }
            ctx.state.dirty += 1;
            ctx.key_ready(key);
            Ok(Reply::Int(1))
        }
        "createconsumer" => {
            let created = stream_mut(ctx, key)?
                .and_then(|s| s.groups.get_mut(&group[..]))
                .is_some_and(|g| g.create_consumer(&argv[4], now));
            if created {
                ctx.state.dirty += 1;
            }
            Ok(Reply::Int(created as i64))
        }
        _ => {
            let pending = stream_mut(ctx, key)?
                .and_then(|s| s.groups.get_mut(&group[..]))
                .map_or(0, |g| g.delete_consumer(&argv[4]));
            ctx.state.dirty += 1;
            Ok(Reply::Int(pending as i64))
        }
    }
}

pub fn xack(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(s) = stream_mut(ctx, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    if !s.groups.contains_key(&argv[2][..]) {
        return Ok(Reply::Int(0));
    }
    let ids = argv[3..]
        .iter()
        .map(|a| parse_strict(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(g) = s.groups.get_mut(&argv[2][..]) else {
        return Ok(Reply::Int(0));
    };
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    ctx.state.dirty += acked as u64;
    Ok(Reply::Int(acked as i64))
}

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

pub fn xpending(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let n = argv.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(args::syntax());
    }
    let mut range = None;
    if n >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&argv[3], "idle") {
            min_idle = args::int(&argv[4])?;
            if n < 8 {
                return Err(args::syntax());
            }
            at += 2;
        }
        let count = args::int(&argv[at + 2])?.max(0);
        let start = parse_bound(&argv[at], true)?;
        let end = parse_bound(&argv[at + 1], false)?;
        range = Some((start, end, count, min_idle, argv.get(at + 3)));
    }
    let now = ctx.now;
    let s = match stream_mut(ctx, &argv[1])? {
        Some(s) if s.groups.contains_key(&argv[2][..]) => s,
        _ => {
            return Err(error_with(&[
                b"NOGROUP No such key '",
                &argv[1],
                b"' or consumer group '",
                &argv[2],
                b"'",
            ]))
        }
    };
    let Some(g) = s.groups.get(&argv[2][..]) else {
        return Ok(Reply::NilArray);
    };
    let Some((start, end, count, min_idle, consumer)) = range else {
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            first.reply(),
            last.reply(),
            Reply::Array(consumers),
        ]));
    };
    let ids: Box<dyn Iterator<Item = &StreamId>> = match consumer {
        Some(name) => match g.consumers.get(&name[..]) {
            Some(c) => Box::new(c.pel.range(start..)),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| id)),
    };
    let mut out = Vec::new();
    let mut left = count;
    for id in ids {
        if left == 0 || *id > end {
            break;
        }
        let Some(nack) = g.pel.get(id) else { continue };
        let idle = now as i64 - nack.delivery_time as i64;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        left -= 1;
        out.push(Reply::Array(vec![
            id.reply(),
            Reply::Bulk(nack.consumer.clone()),
            Reply::Int(idle.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
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
                super::stream_groups::Nack {
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
