//! Hash commands (HRANDFIELD and HSCAN are in `hashes_random`).
//!
//! Field order: `Value::Hash` keeps insertion order and HDEL uses `shift_remove`, which is what
//! Redis's small (listpack) hashes answer with; for big hashes Redis's order is unspecified.

use crate::protocol::request::parse_int;
use bytes::Bytes;

use super::args::{self, owned, wrongtype};
use super::strings_float::{self, Parsed};
use super::table::{Spec, DENY_OOM, WRITE};
use super::value::Hash;
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("hset", -4, WRITE | DENY_OOM, hset),
    Spec::new("hmset", -4, WRITE | DENY_OOM, hset),
    Spec::new("hsetnx", 4, WRITE | DENY_OOM, hsetnx),
    Spec::new("hget", 3, 0, hget),
    Spec::new("hmget", -3, 0, hmget),
    Spec::new("hgetall", 2, 0, hgetall),
    Spec::new("hkeys", 2, 0, hkeys),
    Spec::new("hvals", 2, 0, hvals),
    Spec::new("hdel", -3, WRITE, hdel),
    Spec::new("hexists", 3, 0, hexists),
    Spec::new("hlen", 2, 0, hlen),
    Spec::new("hstrlen", 3, 0, hstrlen),
    Spec::new("hincrby", 4, WRITE | DENY_OOM, hincrby),
    Spec::new("hincrbyfloat", 4, WRITE | DENY_OOM, hincrbyfloat),
];

/// The hash at `key`: `Ok(None)` when the key does not exist, WRONGTYPE for another type.
pub(super) fn hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(wrongtype()),
    }
}

/// The hash at `key`, created empty when missing. The caller must add a field before it returns
/// (stored aggregates are never empty).
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &Bytes) -> Result<&'a mut Hash, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    if hash_exists(db.get(key, now))? {
        db.set(owned(key), Value::Hash(Hash::default()), None);
    }
    match db.get(key, now) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(wrongtype()),
    }
}

/// True if the hash is missing (to be created); WRONGTYPE if the key holds another type.
fn hash_exists(value: Option<&mut Value>) -> Result<bool, Reply> {
    match value {
        None => Ok(true),
        Some(Value::Hash(_)) => Ok(false),
        Some(_) => Err(wrongtype()),
    }
}

/// HSET and HMSET: pairs must come in twos; HSET answers the number of new fields, HMSET OK.
fn hset(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() % 2 == 1 {
        return Err(args::wrong_arity(&argv[0]));
    }
    let h = hash_or_create(ctx, &argv[1])?;
    let mut created = 0;
    for pair in argv[2..].chunks_exact(2) {
        if h.insert(owned(&pair[0]), owned(&pair[1])).is_none() {
            created += 1;
        }
    }
    ctx.touch(&argv[1]);
    Ok(if args::is(&argv[0], "hmset") {
        Reply::ok()
    } else {
        Reply::Int(created)
    })
}

fn hsetnx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if hash(ctx, &argv[1])?.is_some_and(|h| h.contains_key(&argv[2])) {
        return Ok(Reply::Int(0));
    }
    hash_or_create(ctx, &argv[1])?.insert(owned(&argv[2]), owned(&argv[3]));
    ctx.touch(&argv[1]);
    Ok(Reply::Int(1))
}

fn hget(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(match hash(ctx, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        Some(v) => Reply::Bulk(v.clone()),
        None => Reply::Nil,
    })
}

fn hmget(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let h = hash(ctx, &argv[1])?;
    let h = h.as_deref();
    Ok(Reply::Array(
        argv[2..]
            .iter()
            .map(|f| match h.and_then(|h| h.get(f)) {
                Some(v) => Reply::Bulk(v.clone()),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

fn hgetall(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let pairs = hash(ctx, &argv[1])?.map_or_else(Vec::new, |h| {
        h.iter()
            .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
            .collect()
    });
    Ok(Reply::Map(pairs))
}

fn hkeys(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let keys = hash(ctx, &argv[1])?.map_or_else(Vec::new, |h| {
        h.keys().map(|f| Reply::Bulk(f.clone())).collect()
    });
    Ok(Reply::Array(keys))
}

fn hvals(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let vals = hash(ctx, &argv[1])?.map_or_else(Vec::new, |h| {
        h.values().map(|v| Reply::Bulk(v.clone())).collect()
    });
    Ok(Reply::Array(vals))
}

fn hdel(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(h) = hash(ctx, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let removed = argv[2..]
        .iter()
        .filter(|f| h.shift_remove(f.as_ref()).is_some())
        .count();
    let emptied = h.is_empty();
    if emptied {
        ctx.db().remove(&argv[1]);
    }
    if removed > 0 {
        ctx.touch(&argv[1]);
    }
    Ok(Reply::Int(removed as i64))
}

fn hexists(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let found = hash(ctx, &argv[1])?.is_some_and(|h| h.contains_key(&argv[2]));
    Ok(Reply::Int(found as i64))
}

fn hlen(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(
        hash(ctx, &argv[1])?.map_or(0, |h| h.len()) as i64
    ))
}

fn hstrlen(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let len = hash(ctx, &argv[1])?
        .and_then(|h| h.get(&argv[2]))
        .map_or(0, |v| v.len());
    Ok(Reply::Int(len as i64))
}

fn hincrby(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let incr = parse_int(&argv[3]).ok_or_else(|| args::err(args::NOT_INTEGER))?;
    let old = match hash(ctx, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        None => 0,
        Some(v) => parse_int(v).ok_or_else(|| args::err("ERR hash value is not an integer"))?,
    };
    let new = old
        .checked_add(incr)
        .ok_or_else(|| args::err(args::OVERFLOW))?;
    let text = Bytes::from(new.to_string());
    hash_or_create(ctx, &argv[1])?.insert(owned(&argv[2]), text);
    ctx.touch(&argv[1]);
    Ok(Reply::Int(new))
}

/// HINCRBYFLOAT with Redis's `long double` arithmetic and `%.17Lf`-style text.
fn hincrbyfloat(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let incr = match strings_float::parse(&argv[3]) {
        None => return Err(args::err(args::NOT_FLOAT)),
        Some(Parsed::Infinite) => return Err(args::err("ERR value is NaN or Infinity")),
        Some(Parsed::Finite(v)) => v,
    };
    let old = match hash(ctx, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        None => match strings_float::parse(b"0") {
            Some(Parsed::Finite(zero)) => zero,
            _ => unreachable!("0 parses as a finite number"),
        },
        Some(v) => match strings_float::parse(v) {
            Some(Parsed::Finite(v)) => v,
            Some(Parsed::Infinite) => {
                return Err(args::err("ERR increment would produce NaN or Infinity"))
            }
            None => return Err(args::err("ERR hash value is not a float")),
        },
    };
    let Parsed::Finite(new) = old.add(incr) else {
        return Err(args::err("ERR increment would produce NaN or Infinity"));
    };
    let text = Bytes::from(new.to_human());
    hash_or_create(ctx, &argv[1])?.insert(owned(&argv[2]), text.clone());
    ctx.touch(&argv[1]);
    Ok(Reply::Bulk(text))
}
