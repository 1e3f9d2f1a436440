//! String commands that read or replace whole values: GET, SET (and its options), SETNX, SETEX,
//! PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX. In-place edits and counters are in
//! `strings_edit`.
//!
//! GET and SET are the hottest path: GET clones a `Bytes` (a reference count, no allocation) and
//! plain SET copies the key (only when the key is new) and the value once into the store.

use bytes::Bytes;

use super::args::{self, is, owned, wrongtype};
use super::db::Db;
use super::keys_expire::invalid_expire;
use super::table::{Spec, DENY_OOM, WRITE};
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("get", 2, 0, get),
    Spec::new("set", -3, WRITE | DENY_OOM, set),
    Spec::new("setnx", 3, WRITE | DENY_OOM, setnx),
    Spec::new("setex", 4, WRITE | DENY_OOM, setex),
    Spec::new("psetex", 4, WRITE | DENY_OOM, psetex),
    Spec::new("getset", 3, WRITE | DENY_OOM, getset),
    Spec::new("getdel", 2, WRITE, getdel),
    Spec::new("getex", -2, WRITE, getex),
    Spec::new("mget", -2, 0, mget),
    Spec::new("mset", -3, WRITE | DENY_OOM, mset),
    Spec::new("msetnx", -3, WRITE | DENY_OOM, msetnx),
];

/// The string at `key`: `Ok(None)` if missing, WRONGTYPE if it holds another type.
pub(super) fn get_str(db: &mut Db, key: &[u8], now: u64) -> Result<Option<Bytes>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        // A short value is copied: cheaper than sharing it, which writes its reference count
        // (a cache line of its own) twice and, the first time, allocates that count.
        Some(Value::Str(s)) if s.len() <= SHORT_VALUE => Ok(Some(Bytes::copy_from_slice(s))),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrongtype()),
    }
}

/// Values up to this size are copied into replies rather than shared.
const SHORT_VALUE: usize = 64;

/// Stores the string `value` at `key`, replacing any value. The TTL becomes `expires_at`, or
/// stays as it was with `keep_ttl`. The key is copied only when it is new.
pub(super) fn store_str(
    db: &mut Db,
    key: &Bytes,
    value: Bytes,
    expires_at: Option<u64>,
    keep_ttl: bool,
    now: u64,
) {
    // Either way the value is measured as it is stored: callers may use `Ctx::touch_measured`.
    match db.replace(key, Value::Str(value), now) {
        Ok(old_ttl) => {
            if !keep_ttl && old_ttl != expires_at {
                db.set_expiry(key, expires_at, now);
            }
        }
        Err(value) => db.set(owned(key), value, expires_at.filter(|_| !keep_ttl)),
    }
}

fn get(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    Ok(get_str(ctx.db(), &argv[1], now)?.map_or(Reply::Nil, Reply::Bulk))
}

/// How an expiry argument is read.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// Options of SET (`for_set`) or GETEX, parsed as Redis's `parseExtendedStringArgumentsOrReply`.
#[derive(Default)]
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(Unit, &'a [u8])>,
}

impl<'a> Options<'a> {
    fn parse(opts: &'a [Bytes], for_set: bool) -> Result<Options<'a>, Reply> {
        let mut o = Options::default();
        let mut i = 0;
        while i < opts.len() {
            let opt = &opts[i];
            let next = opts.get(i + 1);
            let unit = |u: Unit| o.expire.is_none_or(|(cur, _)| cur == u);
            let free_ttl = !o.keep_ttl && !o.persist;
            let expire_unit = [("ex", Unit::Ex), ("px", Unit::Px)]
                .into_iter()
                .chain([("exat", Unit::ExAt), ("pxat", Unit::PxAt)])
                .find(|(name, _)| is(opt, name))
                .map(|(_, u)| u);
            if is(opt, "nx") && !o.xx && for_set {
                o.nx = true;
            } else if is(opt, "xx") && !o.nx && for_set {
                o.xx = true;
            } else if is(opt, "get") && for_set {
                o.get = true;
            } else if is(opt, "keepttl") && !o.persist && o.expire.is_none() && for_set {
                o.keep_ttl = true;
            } else if is(opt, "persist") && !for_set && o.expire.is_none() && !o.keep_ttl {
                o.persist = true;
            } else if let (Some(u), Some(next)) = (expire_unit, next) {
                if !(free_ttl && unit(u)) {
                    return Err(args::syntax());
                }
                o.expire = Some((u, next));
                i += 1;
            } else {
                return Err(args::syntax());
            }
            i += 1;
        }
        Ok(o)
    }

    /// The absolute expiry in Unix ms, as Redis's `getExpireMillisecondsOrReply`.
    fn expires_at(&self, name: &[u8], now: u64) -> Result<Option<u64>, Reply> {
        let Some((unit, arg)) = self.expire else {
            return Ok(None);
        };
        expire_time(arg, unit, name, now).map(Some)
    }
}

fn expire_time(arg: &[u8], unit: Unit, name: &[u8], now: u64) -> Result<u64, Reply> {
    let mut ms = args::int(arg)?;
    let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(invalid_expire(name));
    }
    if seconds {
        ms *= 1000;
    }
    if matches!(unit, Unit::Ex | Unit::Px) {
        ms = ms
            .checked_add(now as i64)
            .ok_or_else(|| invalid_expire(name))?;
    }
    Ok(ms as u64)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
fn set(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let key = &argv[1];
    if argv.len() == 3 {
        store_str(ctx.db(), key, owned(&argv[2]), None, false, now);
        ctx.touch_measured(key);
        return Ok(Reply::ok());
    }
    let opts = Options::parse(&argv[3..], true)?;
    let expires_at = opts.expires_at(&argv[0], now)?;
    let old = if opts.get {
        Some(get_str(ctx.db(), key, now)?.map_or(Reply::Nil, Reply::Bulk))
    } else {
        None
    };
    let found = ctx.db().contains(key, now);
    if (opts.nx && found) || (opts.xx && !found) {
        return Ok(old.unwrap_or(Reply::Nil));
    }
    store_str(
        ctx.db(),
        key,
        owned(&argv[2]),
        expires_at,
        opts.keep_ttl,
        now,
    );
    ctx.touch_measured(key);
    Ok(old.unwrap_or(Reply::ok()))
}

fn setnx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    if ctx.db().contains(&argv[1], now) {
        return Ok(Reply::Int(0));
    }
    store_str(ctx.db(), &argv[1], owned(&argv[2]), None, false, now);
    ctx.touch(&argv[1]);
    Ok(Reply::Int(1))
}

fn setex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, argv, Unit::Ex)
}

fn psetex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, argv, Unit::Px)
}

fn set_with_ttl(ctx: &mut Ctx, argv: &[Bytes], unit: Unit) -> Result<Reply, Reply> {
    let now = ctx.now;
    let at = expire_time(&argv[2], unit, &argv[0], now)?;
    store_str(ctx.db(), &argv[1], owned(&argv[3]), Some(at), false, now);
    ctx.touch(&argv[1]);
    Ok(Reply::ok())
}

fn getset(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let old = get_str(ctx.db(), &argv[1], now)?;
    store_str(ctx.db(), &argv[1], owned(&argv[2]), None, false, now);
    ctx.touch(&argv[1]);
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

fn getdel(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let Some(old) = get_str(ctx.db(), &argv[1], now)? else {
        return Ok(Reply::Nil);
    };
    ctx.db().remove(&argv[1]);
    ctx.touch(&argv[1]);
    Ok(Reply::Bulk(old))
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`.
fn getex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let opts = Options::parse(&argv[2..], false)?;
    let (now, key) = (ctx.now, &argv[1]);
    let Some(value) = get_str(ctx.db(), key, now)? else {
        return Ok(Reply::Nil);
    };
    let expires_at = opts.expires_at(&argv[0], now)?;
    let had_ttl = ctx
        .db()
        .entry(key, now)
        .is_some_and(|e| e.expires_at.is_some());
    match expires_at {
        Some(at) if at <= now => {
            ctx.db().remove(key);
            ctx.touch(key);
        }
        Some(at) => {
            ctx.db().set_expiry(key, Some(at), now);
            ctx.touch(key);
        }
        None if opts.persist && had_ttl => {
            ctx.db().set_expiry(key, None, now);
            ctx.touch(key);
        }
        None => {}
    }
    Ok(Reply::Bulk(value))
}

fn mget(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    Ok(Reply::Array(
        argv[1..]
            .iter()
            .map(|key| match db.get(key, now) {
                Some(Value::Str(s)) => Reply::Bulk(s.clone()),
                _ => Reply::Nil,
            })
            .collect(),
    ))
}

fn mset(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() % 2 == 0 {
        return Err(args::wrong_arity(&argv[0]));
    }
    mset_pairs(ctx, &argv[1..]);
    Ok(Reply::ok())
}

fn msetnx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() % 2 == 0 {
        return Err(args::wrong_arity(&argv[0]));
    }
    let now = ctx.now;
    let db = ctx.db();
    if argv[1..].chunks(2).any(|pair| db.contains(&pair[0], now)) {
        return Ok(Reply::Int(0));
    }
    mset_pairs(ctx, &argv[1..]);
    Ok(Reply::Int(1))
}

fn mset_pairs(ctx: &mut Ctx, pairs: &[Bytes]) {
    let now = ctx.now;
    for pair in pairs.chunks_exact(2) {
        store_str(ctx.db(), &pair[0], owned(&pair[1]), None, false, now);
        ctx.touch(&pair[0]);
    }
}
