//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX XX GT LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST.

use bytes::Bytes;

use super::args::{self, is};
use super::table::{Spec, WRITE};
use super::Ctx;
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("expire", -3, WRITE, expire),
    Spec::new("pexpire", -3, WRITE, pexpire),
    Spec::new("expireat", -3, WRITE, expireat),
    Spec::new("pexpireat", -3, WRITE, pexpireat),
    Spec::new("ttl", 2, 0, ttl),
    Spec::new("pttl", 2, 0, pttl),
    Spec::new("expiretime", 2, 0, expiretime),
    Spec::new("pexpiretime", 2, 0, pexpiretime),
    Spec::new("persist", 2, WRITE, persist),
];

/// `ERR invalid expire time in '<command>' command`, with the command's lowercase name.
pub(super) fn invalid_expire(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR invalid expire time in '{}' command",
        String::from_utf8_lossy(name).to_ascii_lowercase()
    ))
}

fn expire(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now as i64;
    expire_generic(ctx, argv, now, true)
}

fn pexpire(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now as i64;
    expire_generic(ctx, argv, now, false)
}

fn expireat(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    expire_generic(ctx, argv, 0, true)
}

fn pexpireat(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    expire_generic(ctx, argv, 0, false)
}

/// The NX XX GT LT flags of the EXPIRE family.
#[derive(Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    fn parse(options: &[Bytes]) -> Result<Conditions, Reply> {
        let mut c = Conditions::default();
        for opt in options {
            if is(opt, "nx") {
                c.nx = true;
            } else if is(opt, "xx") {
                c.xx = true;
            } else if is(opt, "gt") {
                c.gt = true;
            } else if is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(args::err(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(args::err(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a new expiry `when` may replace `current` (`None`: no TTL, i.e. infinite).
    fn allow(&self, current: Option<u64>, when: i64) -> bool {
        let current = current.map(|c| c.min(i64::MAX as u64) as i64);
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| when <= c)
            || self.lt && current.is_some_and(|c| when >= c))
    }
}

/// Redis's `expireGenericCommand`: `basetime` is now (relative forms) or 0 (absolute forms).
fn expire_generic(
    ctx: &mut Ctx,
    argv: &[Bytes],
    basetime: i64,
    seconds: bool,
) -> Result<Reply, Reply> {
    let conditions = Conditions::parse(&argv[3..])?;
    let mut when = args::int(&argv[2])?;
    if seconds {
        when = when
            .checked_mul(1000)
            .ok_or_else(|| invalid_expire(&argv[0]))?;
    }
    let when = when
        .checked_add(basetime)
        .ok_or_else(|| invalid_expire(&argv[0]))?;
    let key = &argv[1];
    let now = ctx.now;
    let Some(current) = ctx.db().entry(key, now).map(|e| e.expires_at) else {
        return Ok(Reply::Int(0));
    };
    if !conditions.allow(current, when) {
        return Ok(Reply::Int(0));
    }
    if when <= now as i64 {
        ctx.db().remove(key);
    } else {
        ctx.db().set_expiry(key, Some(when as u64), now);
    }
    ctx.touch(key);
    Ok(Reply::Int(1))
}

/// Redis's `ttlGenericCommand`: -2 missing, -1 no TTL, else remaining or absolute time.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], millis: bool, absolute: bool) -> Reply {
    let now = ctx.now;
    let Some(entry) = ctx.db().entry(key, now) else {
        return Reply::Int(-2);
    };
    let Some(at) = entry.expires_at else {
        return Reply::Int(-1);
    };
    let at = at.min(i64::MAX as u64) as i64;
    let ttl = if absolute { at } else { at - now as i64 }.max(0);
    Reply::Int(if millis { ttl } else { (ttl + 500) / 1000 })
}

fn ttl(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(ttl_generic(ctx, &argv[1], false, false))
}

fn pttl(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(ttl_generic(ctx, &argv[1], true, false))
}

fn expiretime(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(ttl_generic(ctx, &argv[1], false, true))
}

fn pexpiretime(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(ttl_generic(ctx, &argv[1], true, true))
}

fn persist(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let key = &argv[1];
    let now = ctx.now;
    let had_ttl = ctx
        .db()
        .entry(key, now)
        .is_some_and(|e| e.expires_at.is_some());
    if !had_ttl {
        return Ok(Reply::Int(0));
    }
    ctx.db().set_expiry(key, None, now);
    ctx.touch(key);
    Ok(Reply::Int(1))
}
