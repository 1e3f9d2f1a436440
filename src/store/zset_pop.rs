//! Sorted-set pops (ZPOPMIN, ZPOPMAX, ZMPOP and the blocking BZPOPMIN, BZPOPMAX, BZMPOP through
//! the executor's [`BlockSpec`]), ZRANDMEMBER and ZSCAN.

use bytes::Bytes;
use rand::seq::index;
use rand::Rng;

use super::args::{self, is, owned};
use super::blocking::BlockSpec;
use super::zset_cmds::{lookup, scored_pairs, scored_reply};
use super::zset_num::timeout_arg;
use super::{glob, scan, Ctx};
use crate::protocol::{format_double, Protocol, Reply};

/// The most elements ZRANDMEMBER with a negative count builds into one reply; beyond it the
/// command fails with `ERR value is out of range`. Redis streams any number, but a reply is built
/// whole here, and `ZRANDMEMBER k -2000000000` would take the process down.
const MAX_RANDOM_REPLY: u64 = 1_000_000;

/// Reply shapes of Redis's `genericZpopCommand`.
#[derive(Clone, Copy)]
struct PopShape {
    /// Name the key first (the blocking and multi-key forms).
    emit_key: bool,
    /// `[member, score]` pairs instead of one flat array.
    nested: bool,
    /// Nothing to pop answers a null array (ZMPOP), not an empty one (ZPOPMIN).
    nil_when_empty: bool,
}

/// Pops up to `count` (None: the single-pop form) members from the first existing key of
/// `keys`; WRONGTYPE stops at the first key of another type.
fn pop_generic(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
) -> Result<Reply, Reply> {
    let mut found = None;
    for key in keys {
        if lookup(ctx, key)?.is_some() {
            found = Some(key);
            break;
        }
    }
    let Some(key) = found else {
        return Ok(if shape.nil_when_empty {
            Reply::NilArray
        } else {
            Reply::Array(Vec::new())
        });
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let Some(z) = lookup(ctx, key)? else {
        return Ok(Reply::NilArray);
    };
    let count = count.unwrap_or(1).min(z.len() as u64);
    let popped: Vec<(Bytes, f64)> = (0..count).map_while(|_| z.pop(max)).collect();
    if z.is_empty() {
        ctx.db().remove(key);
    }
    ctx.touch(key);
    let pairs = scored_pairs(shape.nested, popped);
    Ok(match (shape.emit_key, pairs) {
        (false, pairs) => pairs,
        (true, pairs) if shape.nested => Reply::Array(vec![Reply::Bulk(key.clone()), pairs]),
        (true, Reply::Array(mut flat)) => {
            flat.insert(0, Reply::Bulk(key.clone()));
            Reply::Array(flat)
        }
        (true, other) => other,
    })
}

fn zpop(ctx: &mut Ctx, argv: &[Bytes], max: bool) -> Result<Reply, Reply> {
    if argv.len() > 3 {
        return Err(args::syntax());
    }
    let count = match argv.get(2) {
        Some(arg) => match args::int(arg) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => return Err(args::err("ERR value is out of range, must be positive")),
        },
        None => None,
    };
    let shape = PopShape {
        emit_key: false,
        nested: ctx.client.protocol == Protocol::Resp3 && count.is_some(),
        nil_when_empty: false,
    };
    pop_generic(ctx, &argv[1..2], max, count, shape)
}

pub(super) fn zpopmin(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zpop(ctx, argv, false)
}

pub(super) fn zpopmax(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zpop(ctx, argv, true)
}

/// `blockingGenericZpopCommand`: pops from the first non-empty key, or blocks on all of them
/// and answers a null array on timeout (at once inside MULTI or a script).
fn blocking_pop(
    ctx: &mut Ctx,
    keys: &[Bytes],
    timeout: &[u8],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
) -> Result<Reply, Reply> {
    let timeout = timeout_arg(timeout, ctx.now)?;
    for key in keys {
        if lookup(ctx, key)?.is_some_and(|z| !z.is_empty()) {
            return pop_generic(ctx, std::slice::from_ref(key), max, count, shape);
        }
    }
    ctx.block_on(BlockSpec {
        keys: keys.iter().map(owned).collect(),
        timeout,
        rerun_args: None,
    });
    Ok(Reply::NilArray)
}

fn bzpop(ctx: &mut Ctx, argv: &[Bytes], max: bool) -> Result<Reply, Reply> {
    let shape = PopShape {
        emit_key: true,
        nested: false,
        nil_when_empty: false,
    };
    let last = argv.len() - 1;
    blocking_pop(ctx, &argv[1..last], &argv[last], max, None, shape)
}

pub(super) fn bzpopmin(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    bzpop(ctx, argv, false)
}

pub(super) fn bzpopmax(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    bzpop(ctx, argv, true)
}

/// ZMPOP and BZMPOP (`block`): `[timeout] numkeys key... MIN|MAX [COUNT n]`.
fn zmpop_generic(
    ctx: &mut Ctx,
    argv: &[Bytes],
    numkeys_at: usize,
    block: bool,
) -> Result<Reply, Reply> {
    let numkeys = match args::int(&argv[numkeys_at]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return Err(args::err("ERR numkeys should be greater than 0")),
    };
    let where_at = match numkeys_at.checked_add(numkeys + 1) {
        Some(at) if at < argv.len() => at,
        _ => return Err(args::syntax()),
    };
    let max = match &argv[where_at] {
        w if is(w, "min") => false,
        w if is(w, "max") => true,
        _ => return Err(args::syntax()),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && is(&argv[j], "count") && j + 1 < argv.len() {
            count = match args::int(&argv[j + 1]) {
                Ok(n) if n >= 1 => Some(n as u64),
                _ => return Err(args::err("ERR count should be greater than 0")),
            };
            j += 2;
        } else {
            return Err(args::syntax());
        }
    }
    let count = Some(count.unwrap_or(1));
    let keys = &argv[numkeys_at + 1..where_at];
    let shape = PopShape {
        emit_key: true,
        nested: true,
        nil_when_empty: true,
    };
    if block {
        blocking_pop(ctx, keys, &argv[1], max, count, shape)
    } else {
        pop_generic(ctx, keys, max, count, shape)
    }
}

pub(super) fn zmpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zmpop_generic(ctx, argv, 1, false)
}

pub(super) fn bzmpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zmpop_generic(ctx, argv, 2, true)
}

pub(super) fn zrandmember(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(count) = argv.get(2) else {
        let Some(z) = lookup(ctx, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let pick = rand::thread_rng().gen_range(0..z.len().max(1));
        return Ok(z
            .iter()
            .nth(pick)
            .map_or(Reply::Nil, |(m, _)| Reply::Bulk(m.clone())));
    };
    let count = args::int(count)?;
    if count == i64::MIN {
        return Err(args::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withscores")) {
        return Err(args::syntax());
    }
    let withscores = argv.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(args::err("ERR value is out of range"));
    }
    let Some(z) = lookup(ctx, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let all: Vec<(&Bytes, f64)> = z.iter().collect();
    if all.is_empty() {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut rng = rand::thread_rng();
    let items: Vec<(Bytes, f64)> = if count < 0 || count == 1 {
        let n = count.unsigned_abs();
        if n > MAX_RANDOM_REPLY {
            return Err(args::err("ERR value is out of range"));
        }
        (0..n)
            .map(|_| {
                let (m, s) = all[rng.gen_range(0..all.len())];
                (m.clone(), s)
            })
            .collect()
    } else if count as u64 >= all.len() as u64 {
        // Redis's zset iterator walks from the highest member down.
        all.iter().rev().map(|(m, s)| ((*m).clone(), *s)).collect()
    } else {
        index::sample(&mut rng, all.len(), count as usize)
            .into_iter()
            .map(|i| (all[i].0.clone(), all[i].1))
            .collect()
    };
    Ok(scored_reply(ctx, items, withscores))
}

/// ZSCAN: a small set (listpack in Redis) is answered whole with cursor 0, as Redis does; a big
/// one page by page through [`scan::page`].
pub(super) fn zscan(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan::parse_cursor(&argv[2])?;
    let empty = || Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())]);
    let Some(z) = lookup(ctx, &argv[1])? else {
        return Ok(empty());
    };
    let (mut count, mut pattern) = (10usize, None);
    let mut j = 3;
    while j < argv.len() {
        let has_value = j + 1 < argv.len();
        if is(&argv[j], "count") && has_value {
            count = match args::int(&argv[j + 1])? {
                n if n < 1 => return Err(args::syntax()),
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
        } else if is(&argv[j], "match") && has_value {
            pattern = Some(&argv[j + 1]).filter(|p| p.as_ref() != b"*");
        } else {
            return Err(args::syntax());
        }
        j += 2;
    }
    let small = z.is_small();
    let (next, items): (u64, Vec<(&Bytes, f64)>) = if small {
        (0, z.iter().collect())
    } else {
        scan::page(z.iter().map(|(m, s)| (&m[..], (m, s))), cursor, count)
    };
    let mut flat = Vec::with_capacity(items.len() * 2);
    for (member, score) in items {
        if pattern.is_none_or(|p| glob::matches(p, member)) {
            flat.push(Reply::Bulk(member.clone()));
            flat.push(Reply::bulk(if small {
                listpack_score(score)
            } else {
                format_double(score)
            }));
        }
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string()),
        Reply::Array(flat),
    ]))
}

/// A score as Redis's listpack holds it (`d2string`), which ZSCAN of a small set returns as is:
/// integral values within +-2^62 as integers (`100000000000000000`, and `0` for -0), others as
/// reply doubles.
fn listpack_score(score: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score == score.trunc() {
        (score as i64).to_string()
    } else {
        format_double(score)
    }
}
