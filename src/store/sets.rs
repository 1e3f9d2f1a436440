//! Set commands on one key (SINTER and friends are in `sets_algebra`).
//!
//! Order: Redis 7.0 keeps a set of at most 512 integers as an intset, which it answers sorted
//! numerically; other sets are hash tables whose order is unspecified. So every reply listing a
//! whole set sorts it when it is intset-like ([`ordered`]), and otherwise answers in storage order.

use bytes::Bytes;
use rand::Rng;

use super::args::{self, owned, syntax, wrongtype};
use super::hashes_random::{random_count, scan_reply, too_many, ScanOpts, MAX_RANDOM_REPLY};
use super::table::{Spec, DENY_OOM, WRITE};
use super::value::Set;
use super::{scan, Ctx, Value};
use crate::protocol::request::parse_int;
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("sadd", -3, WRITE | DENY_OOM, sadd),
    Spec::new("srem", -3, WRITE, srem),
    Spec::new("smembers", 2, 0, smembers),
    Spec::new("sismember", 3, 0, sismember),
    Spec::new("smismember", -3, 0, smismember),
    Spec::new("scard", 2, 0, scard),
    Spec::new("smove", 4, WRITE | DENY_OOM, smove),
    Spec::new("spop", -2, WRITE, spop),
    Spec::new("srandmember", -2, 0, srandmember),
    Spec::new("sscan", -3, 0, sscan),
];

/// Redis's `set-max-intset-entries` default.
const INTSET_MAX: usize = 512;

/// Whether Redis would hold these members as an intset (all canonical integers, at most 512).
pub(super) fn is_intset<'a>(members: impl ExactSizeIterator<Item = &'a Bytes>) -> bool {
    members.len() <= INTSET_MAX && members.into_iter().all(|m| parse_int(m).is_some())
}

/// The members in the order Redis answers: numerically sorted for an intset-like set, storage
/// order otherwise.
pub(super) fn ordered(set: &Set) -> Vec<&Bytes> {
    let mut members: Vec<&Bytes> = set.iter().collect();
    if is_intset(set.iter()) {
        members.sort_by_key(|m| parse_int(m).unwrap_or(0));
    }
    members
}

/// A whole set as a RESP3 set reply, in [`ordered`] order.
pub(super) fn set_reply(set: &Set) -> Reply {
    Reply::Set(
        ordered(set)
            .into_iter()
            .map(|m| Reply::Bulk(m.clone()))
            .collect(),
    )
}

/// The set at `key`: `Ok(None)` when the key does not exist, WRONGTYPE for another type.
pub(super) fn set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(wrongtype()),
    }
}

/// Removes `key` if its set became empty.
fn remove_if_empty(ctx: &mut Ctx, key: &[u8]) {
    if set(ctx, key).ok().flatten().is_some_and(|s| s.is_empty()) {
        ctx.db().remove(key);
    }
}

fn sadd(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if set(ctx, &argv[1])?.is_none() {
        ctx.db()
            .set(owned(&argv[1]), Value::Set(Set::default()), None);
    }
    let Some(s) = set(ctx, &argv[1])? else {
        return Err(wrongtype());
    };
    let added = argv[2..].iter().filter(|m| s.insert(owned(m))).count();
    if added > 0 {
        ctx.touch(&argv[1]);
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(s) = set(ctx, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let removed = argv[2..]
        .iter()
        .filter(|m| s.swap_remove(m.as_ref()))
        .count();
    remove_if_empty(ctx, &argv[1]);
    if removed > 0 {
        ctx.touch(&argv[1]);
    }
    Ok(Reply::Int(removed as i64))
}

fn smembers(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set(ctx, &argv[1])?.map_or(Reply::Set(vec![]), |s| set_reply(s)))
}

fn sismember(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let found = set(ctx, &argv[1])?.is_some_and(|s| s.contains(&argv[2]));
    Ok(Reply::Int(found as i64))
}

fn smismember(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let s = set(ctx, &argv[1])?;
    let s = s.as_deref();
    Ok(Reply::Array(
        argv[2..]
            .iter()
            .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

fn scard(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(set(ctx, &argv[1])?.map_or(0, |s| s.len()) as i64))
}

fn smove(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    if set(ctx, src)?.is_none() {
        return Ok(Reply::Int(0));
    }
    set(ctx, dst)?;
    if src == dst {
        let found = set(ctx, src)?.is_some_and(|s| s.contains(member));
        return Ok(Reply::Int(found as i64));
    }
    if !set(ctx, src)?.is_some_and(|s| s.swap_remove(member.as_ref())) {
        return Ok(Reply::Int(0));
    }
    remove_if_empty(ctx, src);
    ctx.touch(src);
    match set(ctx, dst)? {
        Some(s) => {
            s.insert(owned(member));
        }
        None => {
            let mut s = Set::default();
            s.insert(owned(member));
            ctx.db().set(owned(dst), Value::Set(s), None);
        }
    }
    ctx.touch(dst);
    Ok(Reply::Int(1))
}

fn spop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() > 3 {
        return Err(syntax());
    }
    if argv.len() == 2 {
        let Some(s) = set(ctx, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let i = rand::thread_rng().gen_range(0..s.len());
        let Some(member) = s.swap_remove_index(i) else {
            return Ok(Reply::Nil);
        };
        remove_if_empty(ctx, &argv[1]);
        ctx.touch(&argv[1]);
        return Ok(Reply::Bulk(member));
    }
    // Redis's getPositiveLongFromObjectOrReply: one message for both non-numbers and negatives.
    let count = parse_int(&argv[2])
        .filter(|n| *n >= 0)
        .ok_or_else(|| args::err("ERR value is out of range, must be positive"))?
        as u64;
    let Some(s) = set(ctx, &argv[1])? else {
        return Ok(Reply::Set(vec![]));
    };
    if count == 0 {
        return Ok(Reply::Set(vec![]));
    }
    let reply = if count >= s.len() as u64 {
        let reply = set_reply(s);
        ctx.db().remove(&argv[1]);
        reply
    } else {
        let mut rng = rand::thread_rng();
        let mut popped = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let i = rng.gen_range(0..s.len());
            if let Some(member) = s.swap_remove_index(i) {
                popped.push(Reply::Bulk(member));
            }
        }
        Reply::Set(popped)
    };
    ctx.touch(&argv[1]);
    Ok(reply)
}

fn srandmember(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() > 3 {
        return Err(syntax());
    }
    if argv.len() == 2 {
        let Some(s) = set(ctx, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let i = rand::thread_rng().gen_range(0..s.len());
        return Ok(s
            .get_index(i)
            .map_or(Reply::Nil, |m| Reply::Bulk(m.clone())));
    }
    let count = random_count(&argv[2])?;
    let Some(s) = set(ctx, &argv[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    let wanted = count.unsigned_abs();
    let mut rng = rand::thread_rng();
    let members: Vec<Reply> = if count < 0 || count == 1 {
        if wanted > MAX_RANDOM_REPLY {
            return Err(too_many());
        }
        (0..wanted)
            .filter_map(|_| s.get_index(rng.gen_range(0..s.len())))
            .map(|m| Reply::Bulk(m.clone()))
            .collect()
    } else if wanted >= s.len() as u64 {
        ordered(s)
            .into_iter()
            .map(|m| Reply::Bulk(m.clone()))
            .collect()
    } else {
        rand::seq::index::sample(&mut rng, s.len(), wanted as usize)
            .into_iter()
            .filter_map(|i| s.get_index(i))
            .map(|m| Reply::Bulk(m.clone()))
            .collect()
    };
    Ok(Reply::Array(members))
}

fn sscan(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan::parse_cursor(&argv[2])?;
    let Some(s) = set(ctx, &argv[1])? else {
        return Ok(scan_reply(0, vec![]));
    };
    let opts = ScanOpts::parse(argv)?;
    let (next, members) = if is_intset(s.iter()) {
        (0, ordered(s))
    } else {
        scan::page(s.iter().map(|m| (m.as_ref(), m)), cursor, opts.count)
    };
    let items = members
        .into_iter()
        .filter(|m| opts.keeps(m))
        .map(|m| Reply::Bulk(m.clone()))
        .collect();
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(members: &[&str]) -> Set {
        members.iter().map(|m| Bytes::from(m.to_string())).collect()
    }

    #[test]
    fn intset_like_sets_are_ordered_numerically() {
        let s = set_of(&["10", "-3", "2"]);
        let got: Vec<&[u8]> = ordered(&s).into_iter().map(|m| m.as_ref()).collect();
        assert_eq!(got, vec![&b"-3"[..], b"2", b"10"]);
        let s = set_of(&["10", "a", "2"]);
        let got: Vec<&[u8]> = ordered(&s).into_iter().map(|m| m.as_ref()).collect();
        assert_eq!(got, vec![&b"10"[..], b"a", b"2"], "storage order");
        assert!(!is_intset(set_of(&["1", "-0"]).iter()));
        assert!(!is_intset(set_of(&["01"]).iter()));
    }
}
