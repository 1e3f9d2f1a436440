//! ZUNION, ZINTER, ZDIFF, their *STORE forms and ZINTERCARD: Redis's
//! `zunionInterDiffGenericCommand`, with plain sets accepted as inputs (every member scoring 1).
//!
//! Floating-point sums depend on their order, so the inputs are combined in Redis's order: by
//! ascending size (stable) for union and intersection, as given for difference.

use std::collections::HashMap;

use bytes::Bytes;

use super::args::{self, is};
use super::value::Set;
use super::zset::{Score, ZSet};
use super::zset_cmds::{scored_reply, store_result};
use super::zset_num::weight_arg;
use super::{Ctx, Value};
use crate::protocol::Reply;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`: a NaN sum (inf + -inf) counts as 0; NaN never wins MIN or MAX.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min if value < *target => *target = value,
        Aggregate::Max if value > *target => *target = value,
        _ => {}
    }
}

/// One input: a snapshot of a sorted set or set (missing keys are empty).
enum Source {
    Missing,
    Sorted(ZSet),
    Plain(Set),
}

impl Source {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Sorted(z) => z.len(),
            Source::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Sorted(z) => z.score(member),
            Source::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, f64)> + '_> {
        match self {
            Source::Missing => Box::new(std::iter::empty()),
            Source::Sorted(z) => Box::new(z.iter()),
            Source::Plain(s) => Box::new(s.iter().map(|m| (m, 1.0))),
        }
    }
}

/// The shared implementation; `numkeys` is the index of the key count, `dst` the destination of
/// the *STORE forms, `card_only` makes it ZINTERCARD.
fn generic(
    ctx: &mut Ctx,
    argv: &[Bytes],
    dst: Option<&Bytes>,
    numkeys: usize,
    op: Op,
    card_only: bool,
) -> Result<Reply, Reply> {
    let setnum = args::int(&argv[numkeys])?;
    if setnum < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&argv[0]).to_ascii_lowercase()
        )));
    }
    let first = numkeys + 1;
    if setnum as u64 > (argv.len() - first) as u64 {
        return Err(args::syntax());
    }
    let setnum = setnum as usize;
    let now = ctx.now;
    let mut sources = Vec::with_capacity(setnum);
    for key in &argv[first..first + setnum] {
        sources.push(match ctx.db().get(key, now) {
            None => Source::Missing,
            Some(Value::ZSet(z)) => Source::Sorted(z.clone()),
            Some(Value::Set(s)) => Source::Plain(s.clone()),
            Some(_) => return Err(args::wrongtype()),
        });
    }
    let mut weights = vec![1.0; setnum];
    let (mut how, mut withscores, mut limit) = (Aggregate::Sum, false, 0usize);
    let mut j = first + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let arg = &argv[j];
        if op != Op::Diff && !card_only && remaining > setnum && is(arg, "weights") {
            for (w, arg) in weights.iter_mut().zip(&argv[j + 1..]) {
                *w = weight_arg(arg)?;
            }
            j += 1 + setnum;
        } else if op != Op::Diff && !card_only && remaining >= 2 && is(arg, "aggregate") {
            how = match &argv[j + 1] {
                a if is(a, "sum") => Aggregate::Sum,
                a if is(a, "min") => Aggregate::Min,
                a if is(a, "max") => Aggregate::Max,
                _ => return Err(args::syntax()),
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(arg, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(arg, "limit") {
            limit = match args::int(&argv[j + 1]) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(args::err("ERR LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(args::syntax());
        }
    }
    let mut inputs: Vec<(Source, f64)> = sources.into_iter().zip(weights).collect();
    if op != Op::Diff {
        inputs.sort_by_key(|(s, _)| s.len());
    }
    let result: Vec<(Bytes, f64)> = match op {
        Op::Inter if card_only => {
            let count = intersection(&inputs, how, Some(limit)).len();
            return Ok(Reply::Int(count as i64));
        }
        Op::Inter => intersection(&inputs, how, None),
        Op::Union => union(&inputs, how),
        Op::Diff => difference(&inputs),
    };
    if let Some(dst) = dst {
        return Ok(store_result(ctx, dst, ZSet::from_scored(result)));
    }
    let mut result = result;
    result.sort_by(|a, b| (Score(a.1), &a.0).cmp(&(Score(b.1), &b.0)));
    Ok(scored_reply(ctx, result, withscores))
}

/// Members of every input, aggregated in input order; stops at `limit` members when given and
/// non-zero (ZINTERCARD).
fn intersection(
    inputs: &[(Source, f64)],
    how: Aggregate,
    limit: Option<usize>,
) -> Vec<(Bytes, f64)> {
    let mut out = Vec::new();
    let Some(((first, w0), rest)) = inputs.split_first() else {
        return out;
    };
    'members: for (member, score) in first.iter() {
        let mut total = w0 * score;
        if total.is_nan() {
            total = 0.0;
        }
        for (src, w) in rest {
            match src.score(member) {
                Some(s) => aggregate(&mut total, s * w, how),
                None => continue 'members,
            }
        }
        out.push((member.clone(), total));
        if limit.is_some_and(|l| l > 0 && out.len() >= l) {
            break;
        }
    }
    out
}

/// Members of any input, aggregated in input order.
fn union(inputs: &[(Source, f64)], how: Aggregate) -> Vec<(Bytes, f64)> {
    let mut acc: HashMap<&Bytes, f64, ahash::RandomState> = HashMap::default();
    for (src, w) in inputs {
        for (member, score) in src.iter() {
            let mut value = w * score;
            if value.is_nan() {
                value = 0.0;
            }
            acc.entry(member)
                .and_modify(|total| aggregate(total, value, how))
                .or_insert(value);
        }
    }
    acc.into_iter().map(|(m, s)| (m.clone(), s)).collect()
}

/// Members of the first input in none of the others, with their own scores.
fn difference(inputs: &[(Source, f64)]) -> Vec<(Bytes, f64)> {
    let Some(((first, _), rest)) = inputs.split_first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|(m, _)| rest.iter().all(|(src, _)| src.score(m).is_none()))
        .map(|(m, s)| (m.clone(), s))
        .collect()
}

pub(super) fn zunionstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Union, false)
}

pub(super) fn zinterstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Inter, false)
}

pub(super) fn zdiffstore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Diff, false)
}

pub(super) fn zunion(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, None, 1, Op::Union, false)
}

pub(super) fn zinter(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, None, 1, Op::Inter, false)
}

pub(super) fn zdiff(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, None, 1, Op::Diff, false)
}

pub(super) fn zintercard(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    generic(ctx, argv, None, 1, Op::Inter, true)
}
