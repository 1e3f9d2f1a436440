//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, with Redis 7.0's fields in
//! Redis 7.0's order.

use bytes::Bytes;

use super::args::{self, err, is};
use super::stream::{entry_reply, Stream};
use super::stream_cmds::stream_mut;
use super::stream_group_cmds::{help, subcommand, subcommand_syntax};
use super::stream_groups::{Group, INVALID_ENTRIES_READ};
use super::stream_read::error_with;
use super::Ctx;
use crate::protocol::Reply;

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::Bulk(Bytes::from_static(name.as_bytes())), value)
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

fn lag(g: &Group, s: &Stream) -> Reply {
    g.lag(s).map_or(Reply::Nil, Reply::Int)
}

/// XINFO STREAM|GROUPS|CONSUMERS|HELP.
pub fn xinfo(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let table = [("stream", -3), ("groups", 3), ("consumers", 4), ("help", 2)];
    let sub = subcommand(argv, "xinfo", &table)?;
    if sub == "help" {
        return Ok(help(XINFO_HELP));
    }
    let now = ctx.now;
    let Some(s) = stream_mut(ctx, &argv[2])? else {
        return Err(err(args::NO_SUCH_KEY));
    };
    match sub {
        "consumers" => {
            let Some(g) = s.groups.get(&argv[3][..]) else {
                return Err(error_with(&[
                    b"NOGROUP No such consumer group '",
                    &argv[3],
                    b"' for key name '",
                    &argv[2],
                    b"'",
                ]));
            };
            let consumers = g.consumers.iter().map(|(name, c)| {
                Reply::Map(vec![
                    field("name", Reply::Bulk(name.clone())),
                    field("pending", Reply::Int(c.pel.len() as i64)),
                    field("idle", Reply::Int((now as i64 - c.seen_time as i64).max(0))),
                ])
            });
            Ok(Reply::Array(consumers.collect()))
        }
        "groups" => {
            let groups = s.groups.iter().map(|(name, g)| {
                Reply::Map(vec![
                    field("name", Reply::Bulk(name.clone())),
                    field("consumers", Reply::Int(g.consumers.len() as i64)),
                    field("pending", Reply::Int(g.pel.len() as i64)),
                    field("last-delivered-id", g.last_id.reply()),
                    field("entries-read", entries_read(g)),
                    field("lag", lag(g, s)),
                ])
            });
            Ok(Reply::Array(groups.collect()))
        }
        _ => stream_info(s, argv),
    }
}

fn stream_info(s: &Stream, argv: &[Bytes]) -> Result<Reply, Reply> {
    let opts = &argv[3..];
    let full = match opts.len() {
        0 => None,
        1 if is(&opts[0], "full") => Some(10),
        3 if is(&opts[0], "full") && is(&opts[1], "count") => {
            let n = args::int(&opts[2])?;
            Some(if n < 0 { 10 } else { n as usize })
        }
        _ => return Err(subcommand_syntax(argv, "XINFO")),
    };
    let mut map = vec![
        field("length", Reply::Int(s.len() as i64)),
        field("radix-tree-keys", Reply::Int(s.node_count() as i64)),
        field("radix-tree-nodes", Reply::Int(s.radix_nodes() as i64)),
        field("last-generated-id", s.last_id.reply()),
        field("max-deleted-entry-id", s.max_deleted_id.reply()),
        field("entries-added", Reply::Int(s.entries_added as i64)),
        field("recorded-first-entry-id", s.first_id.reply()),
    ];
    let Some(count) = full else {
        let first = s.entries.iter().next();
        let last = s.entries.iter().next_back();
        let entry = |e: Option<(&_, &Vec<_>)>| e.map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        map.push(field("groups", Reply::Int(s.groups.len() as i64)));
        map.push(field("first-entry", entry(first)));
        map.push(field("last-entry", entry(last)));
        return Ok(Reply::Map(map));
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let entries = s.entries.iter().take(limit);
    map.push(field(
        "entries",
        Reply::Array(entries.map(|(id, f)| entry_reply(*id, f)).collect()),
    ));
    let groups = s.groups.iter().map(|(name, g)| {
        let pel = g.pel.iter().take(limit).map(|(id, n)| {
            Reply::Array(vec![
                id.reply(),
                Reply::Bulk(n.consumer.clone()),
                Reply::Int(n.delivery_time as i64),
                Reply::Int(n.delivery_count as i64),
            ])
        });
        let consumers = g.consumers.iter().map(|(cname, c)| {
            let pending = c.pel.iter().take(limit).map(|id| {
                let nack = g.pel.get(id);
                Reply::Array(vec![
                    id.reply(),
                    Reply::Int(nack.map_or(0, |n| n.delivery_time as i64)),
                    Reply::Int(nack.map_or(0, |n| n.delivery_count as i64)),
                ])
            });
            Reply::Map(vec![
                field("name", Reply::Bulk(cname.clone())),
                field("seen-time", Reply::Int(c.seen_time as i64)),
                field("pel-count", Reply::Int(c.pel.len() as i64)),
                field("pending", Reply::Array(pending.collect())),
            ])
        });
        Reply::Map(vec![
            field("name", Reply::Bulk(name.clone())),
            field("last-delivered-id", g.last_id.reply()),
            field("entries-read", entries_read(g)),
            field("lag", lag(g, s)),
            field("pel-count", Reply::Int(g.pel.len() as i64)),
            field("pending", Reply::Array(pel.collect())),
            field("consumers", Reply::Array(consumers.collect())),
        ])
    });
    map.push(field("groups", Reply::Array(groups.collect())));
    Ok(Reply::Map(map))
}
