//! XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM: consumer group commands.
//!
//! As in Redis, changing a group's state does not count as modifying the key for WATCH (only
//! the change counter moves); creating the stream with MKSTREAM does.

use bytes::Bytes;

use super::args::{self, err, is, owned};
use super::stream::StreamId;
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

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP.
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

/// XACK key group id ...: how many were pending.
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

/// XPENDING key group [[IDLE ms] start end count [consumer]].
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
