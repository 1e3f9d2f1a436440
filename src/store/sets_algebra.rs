//! SINTER, SUNION, SDIFF, their *STORE forms, and SINTERCARD.
//!
//! Every input key is type-checked before anything is computed (a missing key is an empty set),
//! as Redis does; a *STORE writes its result over any value at the destination (dropping its
//! TTL) or deletes the destination when the result is empty.

use bytes::Bytes;

use super::args::{self, owned};
use super::sets::{set, set_reply};
use super::table::{Spec, DENY_OOM, WRITE};
use super::value::Set;
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("sinter", -2, 0, sinter),
    Spec::new("sunion", -2, 0, sunion),
    Spec::new("sdiff", -2, 0, sdiff),
    Spec::new("sinterstore", -3, WRITE | DENY_OOM, sinterstore),
    Spec::new("sunionstore", -3, WRITE | DENY_OOM, sunionstore),
    Spec::new("sdiffstore", -3, WRITE | DENY_OOM, sdiffstore),
    Spec::new("sintercard", -3, 0, sintercard),
];

#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Copies of the sets at `keys` (None for a missing key), or WRONGTYPE if any holds another type.
fn load(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Option<Set>>, Reply> {
    keys.iter()
        .map(|k| Ok(set(ctx, k)?.map(|s| s.clone())))
        .collect()
}

/// Members of the intersection, iterating the smallest set as Redis does, stopping after
/// `limit` members (0: no limit).
fn intersect(sets: &[Option<Set>], limit: usize) -> Set {
    let Some(mut sets) = sets
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<&Set>>>()
    else {
        return Set::default();
    };
    sets.sort_by_key(|s| s.len());
    let mut out = Set::default();
    let Some((first, rest)) = sets.split_first() else {
        return out;
    };
    for member in first.iter() {
        if rest.iter().all(|s| s.contains(member)) {
            out.insert(member.clone());
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

fn compute(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Result<Set, Reply> {
    let sets = load(ctx, keys)?;
    Ok(match op {
        Op::Inter => intersect(&sets, 0),
        Op::Union => {
            let mut out = Set::default();
            for s in sets.iter().flatten() {
                out.extend(s.iter().cloned());
            }
            out
        }
        Op::Diff => {
            let mut out = sets.first().cloned().flatten().unwrap_or_default();
            for s in sets.iter().skip(1).flatten() {
                out.retain(|m| !s.contains(m));
            }
            out
        }
    })
}

fn sinter(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_reply(&compute(ctx, &argv[1..], Op::Inter)?))
}

fn sunion(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_reply(&compute(ctx, &argv[1..], Op::Union)?))
}

fn sdiff(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_reply(&compute(ctx, &argv[1..], Op::Diff)?))
}

/// Stores `op` of `argv[2..]` at `argv[1]`: the result's size, or 0 and the key deleted.
fn store(ctx: &mut Ctx, argv: &[Bytes], op: Op) -> Result<Reply, Reply> {
    let result = compute(ctx, &argv[2..], op)?;
    let dst = &argv[1];
    let len = result.len();
    let now = ctx.now;
    if len > 0 {
        // Members are already the store's own copies; only the key comes from the request.
        ctx.db().set(owned(dst), Value::Set(result), None);
        ctx.touch(dst);
    } else if ctx.db().contains(dst, now) {
        ctx.db().remove(dst);
        ctx.touch(dst);
    }
    Ok(Reply::Int(len as i64))
}

fn sinterstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    store(ctx, argv, Op::Inter)
}

fn sunionstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    store(ctx, argv, Op::Union)
}

fn sdiffstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    store(ctx, argv, Op::Diff)
}

fn sintercard(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let numkeys_error = || args::err("ERR numkeys should be greater than 0");
    let numkeys = args::int(&argv[1]).map_err(|_| numkeys_error())?;
    if numkeys < 1 {
        return Err(numkeys_error());
    }
    if numkeys > argv.len() as i64 - 2 {
        return Err(args::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if args::is(&argv[i], "limit") && i + 1 < argv.len() {
            let n = args::int(&argv[i + 1])
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| args::err("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else {
            return Err(args::syntax());
        }
    }
    let sets = load(ctx, &argv[2..2 + numkeys])?;
    Ok(Reply::Int(intersect(&sets, limit).len() as i64))
}
