//! Sorted-set commands on one key and its members: ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD,
//! ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY{SCORE,RANK,LEX}; and the helpers every sorted-set command shares (lookup, scored replies,
//! storing a result).

use bytes::Bytes;

use super::args::{self, is, owned};
use super::zset::ZSet;
use super::zset_num::score_arg;
use super::zset_range::{rank_span, LexRange, ScoreRange};
use super::{Ctx, Value};
use crate::protocol::{Protocol, Reply};

/// The live sorted set at `key`: None if there is none, WRONGTYPE if another type is there.
pub(super) fn lookup<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut ZSet>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(args::wrongtype()),
    }
}

/// Members, with their scores when `withscores`: a flat array in RESP2, `[member, score]` pairs
/// in RESP3, as Redis replies to ZRANGE ... WITHSCORES.
pub(super) fn scored_reply(ctx: &Ctx, items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if !withscores {
        return Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect());
    }
    scored_pairs(ctx.client.protocol == Protocol::Resp3, items)
}

/// Member-score pairs: nested `[member, score]` arrays when `nested`, else one flat array.
pub(super) fn scored_pairs(nested: bool, items: Vec<(Bytes, f64)>) -> Reply {
    if nested {
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        )
    } else {
        Reply::Array(
            items
                .into_iter()
                .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                .collect(),
        )
    }
}

/// Stores `set` at `dst` (replacing any value and TTL), or deletes `dst` when `set` is empty, as
/// Redis's *STORE commands do; replies with the stored size.
pub(super) fn store_result(ctx: &mut Ctx, dst: &Bytes, set: ZSet) -> Reply {
    let now = ctx.now;
    let existed = ctx.db().contains(dst, now);
    if set.is_empty() {
        if existed {
            ctx.db().remove(dst);
            ctx.touch(dst);
        }
        return Reply::Int(0);
    }
    let len = set.len();
    ctx.db().set(owned(dst), Value::ZSet(set), None);
    ctx.touch(dst);
    if !existed {
        ctx.key_ready(dst);
    }
    Reply::Int(len as i64)
}

/// ZADD's options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Redis's `zaddGenericCommand`, for ZADD and ZINCRBY (`incr`).
fn zadd_generic(ctx: &mut Ctx, argv: &[Bytes], incr: bool) -> Result<Reply, Reply> {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut idx = 2;
    while let Some(opt) = argv.get(idx) {
        match () {
            _ if is(opt, "nx") => f.nx = true,
            _ if is(opt, "xx") => f.xx = true,
            _ if is(opt, "ch") => f.ch = true,
            _ if is(opt, "incr") => f.incr = true,
            _ if is(opt, "gt") => f.gt = true,
            _ if is(opt, "lt") => f.lt = true,
            _ => break,
        }
        idx += 1;
    }
    let elements = argv.len() - idx;
    if elements % 2 != 0 || elements == 0 {
        return Err(args::syntax());
    }
    if f.nx && f.xx {
        return Err(args::err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(args::err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(args::err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs = argv[idx..]
        .chunks_exact(2)
        .map(|p| Ok((score_arg(&p[0])?, &p[1])))
        .collect::<Result<Vec<_>, Reply>>()?;
    let key = &argv[1];
    let created = match lookup(ctx, key)? {
        Some(_) => false,
        None if f.xx => return Ok(if f.incr { Reply::Nil } else { Reply::Int(0) }),
        None => {
            ctx.db().set(owned(key), Value::ZSet(ZSet::new()), None);
            true
        }
    };
    let Some(z) = lookup(ctx, key)? else {
        return Err(args::err("ERR no such key"));
    };
    let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
    let mut failure = None;
    for (score, member) in pairs {
        match z.score(member) {
            Some(_) if f.nx => {}
            Some(current) => {
                let score = if f.incr { score + current } else { score };
                if score.is_nan() {
                    failure = Some(args::err("ERR resulting score is not a number (NaN)"));
                    break;
                }
                if (f.lt && score >= current) || (f.gt && score <= current) {
                    continue;
                }
                processed += 1;
                last = score;
                if score != current {
                    z.insert(owned(member), score);
                    updated += 1;
                }
            }
            None if f.xx => {}
            None => {
                z.insert(owned(member), score);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if z.is_empty() {
        ctx.db().remove(key);
    }
    if added + updated > 0 {
        ctx.touch(key);
    }
    if created && added > 0 {
        ctx.key_ready(key);
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(match (f.incr, processed) {
        (true, 0) => Reply::Nil,
        (true, _) => Reply::Double(last),
        (false, _) => Reply::Int(if f.ch { added + updated } else { added }),
    })
}

pub(super) fn zadd(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zadd_generic(ctx, argv, false)
}

pub(super) fn zincrby(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zadd_generic(ctx, argv, true)
}

pub(super) fn zrem(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let key = &argv[1];
    let Some(z) = lookup(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = argv[2..].iter().filter(|m| z.remove(m).is_some()).count();
    if z.is_empty() {
        ctx.db().remove(key);
    }
    if removed > 0 {
        ctx.touch(key);
    }
    Ok(Reply::Int(removed as i64))
}

pub(super) fn zscore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(
        match lookup(ctx, &argv[1])?.and_then(|z| z.score(&argv[2])) {
            Some(score) => Reply::Double(score),
            None => Reply::Nil,
        },
    )
}

pub(super) fn zmscore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let z = lookup(ctx, &argv[1])?;
    let z = z.as_deref();
    Ok(Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(score) => Reply::Double(score),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

pub(super) fn zcard(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(
        lookup(ctx, &argv[1])?.map_or(0, |z| z.len()) as i64
    ))
}

fn rank(ctx: &mut Ctx, argv: &[Bytes], rev: bool) -> Result<Reply, Reply> {
    Ok(
        match lookup(ctx, &argv[1])?.and_then(|z| z.rank(&argv[2], rev)) {
            Some(rank) => Reply::Int(rank as i64),
            None => Reply::Nil,
        },
    )
}

pub(super) fn zrank(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    rank(ctx, argv, false)
}

pub(super) fn zrevrank(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    rank(ctx, argv, true)
}

pub(super) fn zcount(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let range = ScoreRange::parse(&argv[2], &argv[3])?;
    let n = lookup(ctx, &argv[1])?.map_or(0, |z| range.select(z, false).count());
    Ok(Reply::Int(n as i64))
}

pub(super) fn zlexcount(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let range = LexRange::parse(&argv[2], &argv[3])?;
    let n = lookup(ctx, &argv[1])?.map_or(0, |z| range.select(z, false).count());
    Ok(Reply::Int(n as i64))
}

/// ZREMRANGEBY*: removes what `select` picks (given the set), replies the count, drops the key
/// when emptied.
fn remove_range(
    ctx: &mut Ctx,
    key: &Bytes,
    select: impl FnOnce(&ZSet) -> Vec<Bytes>,
) -> Result<Reply, Reply> {
    let Some(z) = lookup(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let doomed = select(z);
    for member in &doomed {
        z.remove(member);
    }
    let emptied = z.is_empty();
    if emptied {
        ctx.db().remove(key);
    }
    if !doomed.is_empty() {
        ctx.touch(key);
    }
    Ok(Reply::Int(doomed.len() as i64))
}

pub(super) fn zremrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let range = ScoreRange::parse(&argv[2], &argv[3])?;
    remove_range(ctx, &argv[1], |z| {
        range.select(z, false).map(|(m, _)| m.clone()).collect()
    })
}

pub(super) fn zremrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let range = LexRange::parse(&argv[2], &argv[3])?;
    remove_range(ctx, &argv[1], |z| {
        range.select(z, false).map(|(m, _)| m.clone()).collect()
    })
}

pub(super) fn zremrangebyrank(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (start, end) = (args::int(&argv[2])?, args::int(&argv[3])?);
    remove_range(ctx, &argv[1], |z| match rank_span(start, end, z.len()) {
        None => Vec::new(),
        Some((a, b)) => z
            .iter()
            .skip(a)
            .take(b - a + 1)
            .map(|(m, _)| m.clone())
            .collect(),
    })
}
