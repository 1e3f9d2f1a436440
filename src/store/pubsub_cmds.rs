//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.
//!
//! A (un)subscribe command answers one confirmation frame per channel; since a handler returns
//! one [`Reply`], they are returned as one [`Reply::Raw`] holding the frames encoded in the
//! client's protocol (push frames in RESP3, arrays in RESP2), so they stay in order with the
//! client's other replies.

use bytes::{Bytes, BytesMut};

use super::args::{self, is};
use super::pubsub::Kind;
use super::server::{subcommand_arity, unknown_subcommand};
use super::table::{Spec, NO_SCRIPT, PUBSUB};
use super::Ctx;
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("subscribe", -2, PUBSUB | NO_SCRIPT, subscribe),
    Spec::new("psubscribe", -2, PUBSUB | NO_SCRIPT, psubscribe),
    Spec::new("ssubscribe", -2, PUBSUB | NO_SCRIPT, ssubscribe),
    Spec::new("unsubscribe", -1, PUBSUB | NO_SCRIPT, unsubscribe),
    Spec::new("punsubscribe", -1, PUBSUB | NO_SCRIPT, punsubscribe),
    Spec::new("sunsubscribe", -1, PUBSUB | NO_SCRIPT, sunsubscribe),
    Spec::new("publish", 3, 0, publish),
    Spec::new("spublish", 3, 0, spublish),
    Spec::new("pubsub", -2, 0, pubsub),
];

fn subscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(subscribe_to(ctx, Kind::Channel, &argv[1..]))
}

fn psubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(subscribe_to(ctx, Kind::Pattern, &argv[1..]))
}

fn ssubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(subscribe_to(ctx, Kind::Shard, &argv[1..]))
}

fn unsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(unsubscribe_from(ctx, Kind::Channel, &argv[1..]))
}

fn punsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(unsubscribe_from(ctx, Kind::Pattern, &argv[1..]))
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(unsubscribe_from(ctx, Kind::Shard, &argv[1..]))
}

fn verbs(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// Sets the client's total subscription count, which the executor reads for subscribed mode.
fn sync_count(ctx: &mut Ctx) {
    let (c, p, s) = ctx.state.pubsub.counts(ctx.client.id);
    ctx.client.subscriptions = c + p + s;
}

fn confirmation(ctx: &Ctx, verb: &'static str, name: Reply, kind: Kind, out: &mut BytesMut) {
    let count = ctx.state.pubsub.confirmation_count(kind, ctx.client.id);
    Reply::Push(vec![Reply::bulk(verb), name, Reply::Int(count as i64)])
        .encode(ctx.client.protocol, out);
}

fn subscribe_to(ctx: &mut Ctx, kind: Kind, names: &[Bytes]) -> Reply {
    let (verb, _) = verbs(kind);
    let mut out = BytesMut::new();
    for name in names {
        let name = args::owned(name);
        let tx = ctx.client.pushes.clone();
        ctx.state
            .pubsub
            .subscribe(kind, ctx.client.id, &tx, name.clone());
        confirmation(ctx, verb, Reply::Bulk(name), kind, &mut out);
    }
    sync_count(ctx);
    Reply::Raw(out.freeze())
}

fn unsubscribe_from(ctx: &mut Ctx, kind: Kind, names: &[Bytes]) -> Reply {
    let (_, verb) = verbs(kind);
    let mut out = BytesMut::new();
    let all;
    let names = if names.is_empty() {
        all = ctx.state.pubsub.subscribed(kind, ctx.client.id);
        if all.is_empty() {
            confirmation(ctx, verb, Reply::Nil, kind, &mut out);
        }
        &all[..]
    } else {
        names
    };
    for name in names {
        ctx.state.pubsub.unsubscribe(kind, ctx.client.id, name);
        confirmation(ctx, verb, Reply::Bulk(args::owned(name)), kind, &mut out);
    }
    sync_count(ctx);
    Reply::Raw(out.freeze())
}

fn publish(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    publish_on(ctx, false, argv)
}

fn spublish(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    publish_on(ctx, true, argv)
}

/// PUBLISH/SPUBLISH: the number of receivers. A client publishing to itself gets the message
/// before the reply, as from Redis, except inside MULTI or a script (there it is queued).
fn publish_on(ctx: &mut Ctx, shard: bool, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (channel, payload) = (args::owned(&argv[1]), args::owned(&argv[2]));
    let local = (!ctx.client.no_block).then_some(ctx.client.id);
    let mut own = Vec::new();
    let receivers = ctx
        .state
        .pubsub
        .publish(shard, &channel, &payload, local, &mut own);
    let reply = Reply::Int(receivers as i64);
    if own.is_empty() {
        return Ok(reply);
    }
    let mut out = BytesMut::new();
    for msg in own.iter().chain(std::iter::once(&reply)) {
        msg.encode(ctx.client.protocol, &mut out);
    }
    Ok(Reply::Raw(out.freeze()))
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    let ps = &ctx.state.pubsub;
    let channels = is(sub, "channels");
    if channels || is(sub, "shardchannels") {
        if argv.len() > 3 {
            return Err(Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(sub)
            )));
        }
        let pattern = argv.get(2).map(|p| &p[..]);
        let names = ps.active(!channels, pattern);
        Ok(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
    } else if is(sub, "numsub") || is(sub, "shardnumsub") {
        let shard = is(sub, "shardnumsub");
        let mut items = Vec::with_capacity(2 * (argv.len() - 2));
        for channel in &argv[2..] {
            items.push(Reply::Bulk(args::owned(channel)));
            items.push(Reply::Int(ps.numsub(shard, channel) as i64));
        }
        Ok(Reply::Array(items))
    } else if is(sub, "numpat") {
        if argv.len() != 2 {
            return Err(subcommand_arity("pubsub", sub));
        }
        Ok(Reply::Int(ps.numpat() as i64))
    } else if is(sub, "help") {
        if argv.len() != 2 {
            return Err(subcommand_arity("pubsub", sub));
        }
        Ok(help(PUBSUB_HELP))
    } else {
        Err(unknown_subcommand("PUBSUB", sub))
    }
}

/// A HELP reply: one status line per entry.
pub fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}
