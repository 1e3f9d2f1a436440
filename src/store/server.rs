//! Connection and server commands: PING, ECHO, SELECT, HELLO, QUIT, RESET, COMMAND, TIME, and
//! the registrations of CLIENT ([`super::clients`]), INFO ([`super::info`]) and the
//! administrative commands ([`super::admin`]).

use bytes::Bytes;

use super::admin;
use super::args::{self, err, is};
use super::table::{self, Spec, NO_MULTI, NO_SCRIPT, PUBSUB};
use super::Ctx;
use crate::protocol::{Protocol, Reply};

/// The Redis version the embedded store reports (the command set and replies it follows).
pub const REDIS_VERSION: &str = "7.0.15";

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("ping", -1, PUBSUB, ping),
    Spec::new("echo", 2, 0, echo),
    Spec::new("select", 2, 0, select),
    Spec::new("hello", -1, NO_SCRIPT | PUBSUB, hello),
    Spec::new("quit", -1, NO_SCRIPT | PUBSUB, quit),
    Spec::new("reset", 1, NO_SCRIPT | PUBSUB | NO_MULTI, reset),
    Spec::new("client", -2, NO_SCRIPT, super::clients::client),
    Spec::new("command", -1, 0, command),
    Spec::new("time", 1, 0, time),
    Spec::new("info", -1, 0, super::info::info),
    Spec::new("config", -2, NO_SCRIPT, admin::config),
    Spec::new("memory", -2, 0, admin::memory),
    Spec::new("object", -2, 0, admin::object),
    Spec::new("save", 1, NO_SCRIPT, admin::save),
    Spec::new("bgsave", -1, NO_SCRIPT, admin::bgsave),
    Spec::new("bgrewriteaof", 1, NO_SCRIPT, admin::bgrewriteaof),
    Spec::new("lastsave", 1, 0, admin::lastsave),
    Spec::new("wait", 3, NO_SCRIPT, admin::wait),
    Spec::new("monitor", 1, NO_SCRIPT, monitor),
];

fn ping(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() > 2 {
        return Err(args::wrong_arity(&argv[0]));
    }
    if ctx.client.subscriptions > 0 && ctx.client.protocol == Protocol::Resp2 {
        let msg = argv.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(msg)]));
    }
    Ok(match argv.get(1) {
        Some(msg) => Reply::Bulk(msg.clone()),
        None => Reply::status("PONG"),
    })
}

fn echo(_: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Bulk(argv[1].clone()))
}

fn select(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let db = args::int(&argv[1])?;
    if !(0..super::DATABASES as i64).contains(&db) {
        return Err(err("ERR DB index is out of range"));
    }
    ctx.client.db = db as usize;
    Ok(Reply::ok())
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`. Credentials are checked by the policy
/// layer before the command gets here; the store accepts them.
fn hello(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let mut protocol = ctx.client.protocol;
    if let Some(version) = argv.get(1) {
        protocol = match args::int(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Err(err("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(err(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
        };
    }
    let mut name = None;
    let mut i = 2;
    while i < argv.len() {
        if is(&argv[i], "auth") && i + 2 < argv.len() {
            i += 3;
        } else if is(&argv[i], "setname") && i + 1 < argv.len() {
            name = Some(args::owned(&argv[i + 1]));
            i += 2;
        } else {
            return Err(Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    ctx.client.protocol = protocol;
    if name.is_some() {
        ctx.client.name = name;
    }
    let field = |k: &'static str, v: Reply| (Reply::bulk(k), v);
    Ok(Reply::Map(vec![
        field("server", Reply::bulk("redis")),
        field("version", Reply::bulk(REDIS_VERSION)),
        field(
            "proto",
            Reply::Int(if protocol == Protocol::Resp3 { 3 } else { 2 }),
        ),
        field("id", Reply::Int(ctx.client.id as i64)),
        field("mode", Reply::bulk("standalone")),
        field("role", Reply::bulk("master")),
        field("modules", Reply::Array(vec![])),
    ]))
}

fn quit(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.client.closing = true;
    Ok(Reply::ok())
}

/// RESET: the store's part of returning the client to a fresh connection's state: no
/// subscriptions (dropped silently), database 0, RESP2, no name, CLIENT NO-EVICT/NO-TOUCH off.
/// Leaving MULTI and dropping WATCHes is the session's part (exec.rs).
/// MONITOR: from now on every command the store runs reaches this client as a status line
/// ([`super::monitor`]); RESET or leaving ends it.
fn monitor(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.client.no_block {
        return Err(err("ERR MONITOR isn't allowed for DENY BLOCKING client"));
    }
    let Some(pushes) = ctx.client.pushes.clone() else {
        return Err(err("ERR MONITOR needs a client connection"));
    };
    ctx.state.monitors.add(ctx.client.id, pushes);
    ctx.client.monitoring = true;
    Ok(Reply::ok())
}

fn reset(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.state.monitors.remove(ctx.client.id);
    ctx.client.monitoring = false;
    ctx.state.pubsub.unsubscribe_all(ctx.client.id);
    ctx.client.subscriptions = 0;
    ctx.client.db = 0;
    ctx.client.protocol = Protocol::Resp2;
    ctx.client.name = None;
    let meta = ctx.state.pubsub.clients.meta_mut(ctx.client.id);
    meta.no_evict = false;
    meta.no_touch = false;
    Ok(Reply::status("RESET"))
}

fn command(_: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(sub) = argv.get(1) else {
        return Ok(Reply::Array(
            table::all().map(|s| Reply::bulk(s.name)).collect(),
        ));
    };
    if is(sub, "count") {
        Ok(Reply::Int(table::all().count() as i64))
    } else if is(sub, "docs") {
        // Documentation is not carried; clients (redis-cli) treat an empty map as "no docs".
        Ok(Reply::Map(vec![]))
    } else if is(sub, "info") {
        let names: Vec<&Bytes> = argv[2..].iter().collect();
        Ok(Reply::Array(
            names
                .iter()
                .map(|n| match table::lookup(n) {
                    Some(spec) => Reply::Array(vec![
                        Reply::bulk(spec.name),
                        Reply::Int(spec.arity as i64),
                        Reply::Set(vec![]),
                        Reply::Int(0),
                        Reply::Int(0),
                        Reply::Int(0),
                    ]),
                    None => Reply::NilArray,
                })
                .collect(),
        ))
    } else {
        Err(unknown_subcommand("COMMAND", sub))
    }
}

fn time(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(ctx.now * 1000);
    Ok(Reply::Array(vec![
        Reply::bulk((micros / 1_000_000).to_string()),
        Reply::bulk((micros % 1_000_000).to_string()),
    ]))
}

/// `ERR unknown subcommand 'x'. Try CMD HELP.`
pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// `ERR wrong number of arguments for 'client|setname' command`.
pub fn subcommand_arity(cmd: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{cmd}|{}' command",
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    ))
}
