//! The CLIENT command.
//!
//! Other clients are shown as of their last command (see [`super::registry`]); the calling
//! client as it is now. `addr` and `laddr` are the connection's (`embedded` for a client that
//! is not a TCP connection), and MULTI state (kept by the session) shows as `multi=-1`.

use std::fmt::Write as _;

use bytes::Bytes;

use super::args::{self, err, is};
use super::registry::{resp, Meta};
use super::server::{subcommand_arity, unknown_subcommand};
use super::Ctx;
use crate::protocol::Reply;

/// The client's CLIENT LIST line: the calling client live, others from the registry.
fn line(ctx: &Ctx, id: u64, meta: &Meta, now: u64, out: &mut String) {
    let (sub, psub, ssub) = ctx.state.pubsub.counts(id);
    let mut flags = String::new();
    if ctx.state.monitors.contains(id) {
        flags.push('O');
    }
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    if meta.no_evict {
        flags.push('e');
    }
    if meta.no_touch {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let text =
        |b: &Option<Bytes>| String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned();
    let cmd = match &meta.sub {
        Some(sub) => format!("{}|{}", meta.cmd, String::from_utf8_lossy(sub)),
        None if meta.cmd.is_empty() => "NULL".to_string(),
        None => meta.cmd.to_string(),
    };
    let _ = writeln!(
        out,
        "id={id} addr={} laddr={} fd=0 name={} age={} idle={} flags={flags} db={} \
         sub={sub} psub={psub} ssub={ssub} multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 \
         rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={cmd} user=default redir=-1 \
         resp={} lib-name={} lib-ver={}",
        meta.addr.as_ref().map_or("embedded", |(addr, _)| addr),
        meta.addr.as_ref().map_or("embedded", |(_, laddr)| laddr),
        text(&meta.name),
        now.saturating_sub(meta.created_ms) / 1000,
        now.saturating_sub(meta.last_ms) / 1000,
        meta.db,
        meta.resp,
        text(&meta.lib_name),
        text(&meta.lib_ver),
    );
}

/// The calling client's current state as registry metadata (`cmd` is the running command).
fn caller_meta(ctx: &Ctx, cmd_sub: &[u8]) -> Meta {
    let client = &*ctx.client;
    let stored = ctx.state.pubsub.clients.clients.get(&client.id);
    Meta {
        addr: Some((client.addr.clone(), client.laddr.clone())),
        name: client.name.clone(),
        db: client.db,
        resp: resp(client.protocol),
        lib_name: client.lib_name.clone(),
        lib_ver: client.lib_ver.clone(),
        created_ms: stored.map_or(ctx.now, |m| m.created_ms),
        last_ms: ctx.now,
        cmd: "client",
        sub: Some(Bytes::from(cmd_sub.to_ascii_lowercase())),
        no_evict: stored.is_some_and(|m| m.no_evict),
        no_touch: stored.is_some_and(|m| m.no_touch),
    }
}

/// CLIENT LIST [TYPE type] [ID id ...].
fn list(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let mut ids: Option<Vec<u64>> = None;
    let mut pubsub_only = None;
    match argv.get(2) {
        None => {}
        Some(opt) if is(opt, "type") && argv.len() == 4 => {
            let t = &argv[3];
            pubsub_only = Some(if is(t, "pubsub") {
                true
            } else if is(t, "normal") || is(t, "master") || is(t, "replica") || is(t, "slave") {
                false
            } else {
                return Err(Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            });
            if !is(t, "pubsub") && !is(t, "normal") {
                ids = Some(Vec::new()); // no masters or replicas here
            }
        }
        Some(opt) if is(opt, "id") && argv.len() > 3 => {
            let mut wanted = Vec::new();
            for id in &argv[3..] {
                match args::int(id) {
                    Ok(id) if id > 0 => wanted.push(id as u64),
                    Ok(_) => {}
                    Err(_) => return Err(err("ERR Invalid client ID")),
                }
            }
            ids = Some(wanted);
        }
        Some(_) => return Err(args::syntax()),
    }
    let now = ctx.now;
    let me = caller_meta(ctx, &argv[1]);
    let mut metas: Vec<(u64, Meta)> = ctx
        .state
        .pubsub
        .clients
        .clients
        .iter()
        .filter(|(id, _)| **id != ctx.client.id)
        .map(|(id, m)| (*id, m.clone()))
        .collect();
    metas.push((ctx.client.id, me));
    metas.sort_by_key(|(id, _)| *id);
    let mut out = String::new();
    for (id, meta) in &metas {
        if ids.as_ref().is_some_and(|ids| !ids.contains(id)) {
            continue;
        }
        let (c, p, s) = ctx.state.pubsub.counts(*id);
        if pubsub_only.is_some_and(|want| want != (c + p + s > 0)) {
            continue;
        }
        line(ctx, *id, meta, now, &mut out);
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

/// CLIENT KILL, old form `ip:port` or filters. Only the calling client can be killed (the store
/// has no handle on other connections): matching another client is an error.
fn kill(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() == 3 {
        return Err(err("ERR No such client")); // no client has a socket address here
    }
    if argv.len() % 2 != 0 {
        return Err(args::syntax());
    }
    let mut skipme = true;
    let mut matches_any_addr = true;
    let mut id_filter = None;
    let mut pubsub_only = None;
    for pair in argv[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            match args::int(val) {
                Ok(id) if id > 0 => id_filter = Some(id as u64),
                _ => return Err(err("ERR client-id should be greater than 0")),
            }
        } else if is(opt, "type") {
            if is(val, "pubsub") {
                pubsub_only = Some(true);
            } else if is(val, "normal") {
                pubsub_only = Some(false);
            } else if is(val, "master") || is(val, "replica") || is(val, "slave") {
                matches_any_addr = false;
            } else {
                return Err(Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(val)
                )));
            }
        } else if is(opt, "addr") || is(opt, "laddr") {
            matches_any_addr = false;
        } else if is(opt, "user") {
            matches_any_addr &= is(val, "default");
        } else if is(opt, "skipme") {
            skipme = if is(val, "yes") {
                true
            } else if is(val, "no") {
                false
            } else {
                return Err(args::syntax());
            };
        } else {
            return Err(args::syntax());
        }
    }
    if !matches_any_addr {
        return Ok(Reply::Int(0));
    }
    let me = ctx.client.id;
    let candidates: Vec<u64> = ctx
        .state
        .pubsub
        .clients
        .clients
        .keys()
        .copied()
        .chain(std::iter::once(me))
        .filter(|id| id_filter.is_none_or(|want| want == *id))
        .filter(|id| {
            let (c, p, s) = ctx.state.pubsub.counts(*id);
            pubsub_only.is_none_or(|want| want == (c + p + s > 0))
        })
        .collect();
    let others = candidates.iter().filter(|id| **id != me).count();
    if others > 0 {
        return Err(err(
            "ERR CLIENT KILL of other connections is not supported by the embedded store",
        ));
    }
    if skipme || candidates.is_empty() {
        return Ok(Reply::Int(0));
    }
    ctx.client.closing = true;
    Ok(Reply::Int(1))
}

fn on_off(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(args::syntax())
    }
}

/// The CLIENT command. PAUSE/UNPAUSE are accepted and do nothing (the embedded store serves
/// every client from one lock; there is no replication to pause for).
pub fn client(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(subcommand_arity("client", sub))
        }
    };
    if is(sub, "setname") {
        arity(argv.len() == 3)?;
        if argv[2].iter().any(|b| *b <= b' ' || *b > b'~') {
            return Err(err(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        ctx.client.name = (!argv[2].is_empty()).then(|| args::owned(&argv[2]));
        Ok(Reply::ok())
    } else if is(sub, "getname") {
        arity(argv.len() == 2)?;
        Ok(ctx.client.name.clone().map_or(Reply::Nil, Reply::Bulk))
    } else if is(sub, "id") {
        arity(argv.len() == 2)?;
        Ok(Reply::Int(ctx.client.id as i64))
    } else if is(sub, "setinfo") {
        arity(argv.len() == 4)?;
        if is(&argv[2], "lib-name") {
            ctx.client.lib_name = Some(args::owned(&argv[3]));
        } else if is(&argv[2], "lib-ver") {
            ctx.client.lib_ver = Some(args::owned(&argv[3]));
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(&argv[2])
            )));
        }
        Ok(Reply::ok())
    } else if is(sub, "info") {
        arity(argv.len() == 2)?;
        let mut out = String::new();
        let me = caller_meta(ctx, sub);
        line(ctx, ctx.client.id, &me, ctx.now, &mut out);
        Ok(Reply::Verbatim(Bytes::from(out)))
    } else if is(sub, "list") {
        list(ctx, argv)
    } else if is(sub, "kill") {
        arity(argv.len() >= 3)?;
        kill(ctx, argv)
    } else if is(sub, "pause") {
        arity(argv.len() == 3 || argv.len() == 4)?;
        let timeout = args::int(&argv[2])
            .map_err(|_| err("ERR timeout is not an integer or out of range"))?;
        if timeout < 0 {
            return Err(err("ERR timeout is negative"));
        }
        if let Some(mode) = argv.get(3) {
            if !is(mode, "write") && !is(mode, "all") {
                return Err(err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
            }
        }
        Ok(Reply::ok())
    } else if is(sub, "unpause") {
        arity(argv.len() == 2)?;
        Ok(Reply::ok())
    } else if is(sub, "no-evict") || is(sub, "no-touch") {
        arity(argv.len() == 3)?;
        let on = on_off(&argv[2])?;
        let meta = ctx.state.pubsub.clients.meta_mut(ctx.client.id);
        if is(sub, "no-evict") {
            meta.no_evict = on;
        } else {
            meta.no_touch = on;
        }
        Ok(Reply::ok())
    } else if is(sub, "tracking") {
        arity(argv.len() >= 3)?;
        if is(&argv[2], "off") {
            return Ok(Reply::ok());
        }
        on_off(&argv[2])?;
        Err(err(
            "ERR CLIENT TRACKING is not supported by the embedded store",
        ))
    } else if is(sub, "getredir") {
        arity(argv.len() == 2)?;
        Ok(Reply::Int(-1))
    } else if is(sub, "trackinginfo") {
        arity(argv.len() == 2)?;
        Ok(Reply::Map(vec![
            (Reply::bulk("flags"), Reply::Set(vec![Reply::bulk("off")])),
            (Reply::bulk("redirect"), Reply::Int(-1)),
            (Reply::bulk("prefixes"), Reply::Array(vec![])),
        ]))
    } else if is(sub, "caching") || is(sub, "reply") || is(sub, "unblock") {
        Err(Reply::error(format!(
            "ERR CLIENT {} is not supported by the embedded store",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )))
    } else {
        Err(unknown_subcommand("CLIENT", sub))
    }
}
