//! Sorted-set ranges: parsing score, lex and rank ranges as Redis does (`zslParseRange`,
//! `zslParseLexRange`), selecting them from a [`ZSet`], and the commands built on that: ZRANGE
//! and its older forms and ZRANGESTORE (ZCOUNT, ZLEXCOUNT and ZREMRANGEBY* live in `zset_cmds`).

use bytes::Bytes;

use super::args::{self, is};
use super::zset::ZSet;
use super::zset_cmds::{lookup, scored_reply, store_result};
use super::zset_num::strtod;
use super::Ctx;
use crate::protocol::Reply;

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// A score interval. Invariant: neither bound is NaN.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis does: `(` makes a bound exclusive; the rest is read by
    /// strtod up to the end of the C string (leading spaces, hex, `inf` and an empty string
    /// (0) are accepted, NaN is not).
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
        let bound = |arg: &[u8]| -> Option<(f64, bool)> {
            let text = arg.split(|b| *b == 0).next().unwrap_or_default();
            let (text, ex) = match text.split_first() {
                Some((b'(', rest)) => (rest, true),
                _ => (text, false),
            };
            let value = if text.is_empty() {
                0.0
            } else {
                strtod(text, true)?
            };
            (!value.is_nan()).then_some((value, ex))
        };
        match (bound(min), bound(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
                min,
                max,
                minex,
                maxex,
            }),
            _ => Err(args::err(NOT_FLOAT_RANGE)),
        }
    }

    /// Whether no score can be inside.
    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// The members inside, lowest first (or highest first with `rev`).
    pub fn select<'a>(
        &self,
        z: &'a ZSet,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        if self.is_empty() {
            return Box::new(std::iter::empty());
        }
        let r = *self;
        if rev {
            Box::new(
                z.scores_down_from(r.max, r.maxex)
                    .take_while(move |(_, s)| r.gte_min(*s)),
            )
        } else {
            Box::new(
                z.scores_from(r.min, r.minex)
                    .take_while(move |(_, s)| r.lte_max(*s)),
            )
        }
    }
}

/// One end of a lex range: `-`, `+`, `[member` (inclusive) or `(member` (exclusive).
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.split_first()? {
            (b'+', rest) if rest.first().is_none_or(|b| *b == 0) => Some(LexBound::Max),
            (b'-', rest) if rest.first().is_none_or(|b| *b == 0) => Some(LexBound::Min),
            (b'(', rest) => Some(LexBound::Excl(Bytes::copy_from_slice(rest))),
            (b'[', rest) => Some(LexBound::Incl(Bytes::copy_from_slice(rest))),
            _ => None,
        }
    }
}

/// A member interval for the BYLEX forms (meant for sets whose members share one score).
#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(args::err(NOT_LEX_RANGE)),
        }
    }

    /// Redis's `zslIsInLexRange` emptiness test (`-` and `+` count as exclusive).
    fn is_empty(&self) -> bool {
        use LexBound::*;
        let (cmp, ex) = match (&self.min, &self.max) {
            (Min, Min) | (Max, Max) => (std::cmp::Ordering::Equal, true),
            (Min, _) | (_, Max) => return false,
            (Max, _) | (_, Min) => return true,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => (
                a.cmp(b),
                matches!(self.min, Excl(_)) || matches!(self.max, Excl(_)),
            ),
        };
        cmp.is_gt() || (cmp.is_eq() && ex)
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => m >= &b[..],
            LexBound::Excl(b) => m > &b[..],
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) => m <= &b[..],
            LexBound::Excl(b) => m < &b[..],
        }
    }

    /// The members inside, in set order (or reversed with `rev`): as Redis's listpack walk, from
    /// the first member (in that direction) past the near bound, while inside the far bound.
    pub fn select<'a>(
        &self,
        z: &'a ZSet,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        let (Some(first), Some(last)) = (z.iter().next(), z.iter().next_back()) else {
            return Box::new(std::iter::empty());
        };
        if self.is_empty() || !self.gte_min(last.0) || !self.lte_max(first.0) {
            return Box::new(std::iter::empty());
        }
        let r = self.clone();
        let r2 = self.clone();
        // With one shared score the set is ordered by member: seek instead of walking.
        let seek = z.single_score();
        if rev {
            let start: Box<dyn Iterator<Item = (&'a Bytes, f64)>> = match (seek, &self.max) {
                (Some(s), LexBound::Incl(b) | LexBound::Excl(b)) => {
                    Box::new(z.members_down_from(s, b))
                }
                _ => Box::new(z.iter().rev()),
            };
            Box::new(
                start
                    .skip_while(move |(m, _)| !r.lte_max(m))
                    .take_while(move |(m, _)| r2.gte_min(m)),
            )
        } else {
            let start: Box<dyn Iterator<Item = (&'a Bytes, f64)>> = match (seek, &self.min) {
                (Some(s), LexBound::Incl(b) | LexBound::Excl(b)) => Box::new(z.members_from(s, b)),
                _ => Box::new(z.iter()),
            };
            Box::new(
                start
                    .skip_while(move |(m, _)| !r.gte_min(m))
                    .take_while(move |(m, _)| r2.lte_max(m)),
            )
        }
    }
}

/// Redis's index sanitising for rank ranges: the inclusive 0-based span, None when empty.
pub fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// What a range selects by.
#[derive(Clone, Copy, PartialEq, Debug)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand`: every ZRANGE form and ZRANGESTORE. `src` is the index of the
/// source key; `by` and `rev` are fixed by the old command names (None: chosen by options).
fn zrange_generic(
    ctx: &mut Ctx,
    argv: &[Bytes],
    src: usize,
    store: bool,
    mut by: By,
    rev: Option<bool>,
) -> Result<Reply, Reply> {
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut reverse = rev;
    let mut j = src + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let arg = &argv[j];
        if !store && is(arg, "withscores") {
            withscores = true;
        } else if is(arg, "limit") && left >= 2 {
            offset = args::int(&argv[j + 1])?;
            limit = args::int(&argv[j + 2])?;
            j += 2;
        } else if reverse.is_none() && is(arg, "rev") {
            reverse = Some(true);
        } else if by == By::Auto && is(arg, "bylex") {
            by = By::Lex;
        } else if by == By::Auto && is(arg, "byscore") {
            by = By::Score;
        } else {
            return Err(args::syntax());
        }
        j += 1;
    }
    let rev = reverse.unwrap_or(false);
    let by = if by == By::Auto { By::Rank } else { by };
    if limit != -1 && by == By::Rank {
        return Err(args::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(args::err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&argv[src + 1], &argv[src + 2]);
    if rev && by != By::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    enum Spec {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let spec = match by {
        By::Score => Spec::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => Spec::Lex(LexRange::parse(lo, hi)?),
        _ => Spec::Rank(args::int(lo)?, args::int(hi)?),
    };
    let items: Vec<(Bytes, f64)> = match lookup(ctx, &argv[src])? {
        None => Vec::new(),
        Some(z) => {
            let selected: Box<dyn Iterator<Item = (&Bytes, f64)>> = match &spec {
                Spec::Rank(start, end) => match rank_span(*start, *end, z.len()) {
                    None => Box::new(std::iter::empty()),
                    Some((a, b)) if rev => Box::new(z.iter().rev().skip(a).take(b - a + 1)),
                    Some((a, b)) => Box::new(z.iter().skip(a).take(b - a + 1)),
                },
                Spec::Score(r) => paged(r.select(z, rev), offset, limit, z.len()),
                Spec::Lex(r) => paged(r.select(z, rev), offset, limit, z.len()),
            };
            selected.map(|(m, s)| (m.clone(), s)).collect()
        }
    };
    if store {
        let mut set = ZSet::new();
        for (member, score) in items {
            set.insert(member, score);
        }
        return Ok(store_result(ctx, &argv[1], set));
    }
    Ok(scored_reply(ctx, items, withscores))
}

/// LIMIT applied as Redis does: a negative offset (or one past the end) selects nothing, a
/// negative count means all.
fn paged<'a>(
    it: Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a>,
    offset: i64,
    limit: i64,
    len: usize,
) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
    if offset < 0 || (offset > 0 && offset as u64 >= len as u64) {
        return Box::new(std::iter::empty());
    }
    let it = it.skip(offset as usize);
    match usize::try_from(limit) {
        Ok(n) => Box::new(it.take(n)),
        Err(_) => Box::new(it),
    }
}

pub(super) fn zrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Auto, None)
}

pub(super) fn zrangestore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 2, true, By::Auto, None)
}

pub(super) fn zrevrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Rank, Some(true))
}

pub(super) fn zrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Score, Some(false))
}

pub(super) fn zrevrangebyscore(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Score, Some(true))
}

pub(super) fn zrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Lex, Some(false))
}

pub(super) fn zrevrangebylex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, argv, 1, false, By::Lex, Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_like_redis() {
        let r = ScoreRange::parse(b"(1.5", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.min == 1.5 && r.max == f64::INFINITY);
        assert_eq!(ScoreRange::parse(b"", b" 2").unwrap().min, 0.0);
        assert!(ScoreRange::parse(b"nan", b"1").is_err());
        assert!(ScoreRange::parse(b"1x", b"1").is_err());
        assert!(ScoreRange::parse(b" ", b"1").is_err());
        assert_eq!(ScoreRange::parse(b"0x10", b"1").unwrap().min, 16.0);
        assert_eq!(LexBound::parse(b"-"), Some(LexBound::Min));
        assert_eq!(LexBound::parse(b"-a"), None);
        assert_eq!(LexBound::parse(b"(a"), Some(LexBound::Excl("a".into())));
        assert_eq!(LexBound::parse(b"a"), None);
        assert!(LexRange::parse(b"-", b"-").unwrap().is_empty());
        assert!(LexRange::parse(b"[b", b"(b").unwrap().is_empty());
        assert!(!LexRange::parse(b"[b", b"[b").unwrap().is_empty());
    }

    #[test]
    fn sanitises_rank_spans() {
        assert_eq!(rank_span(0, -1, 3), Some((0, 2)));
        assert_eq!(rank_span(-100, 100, 3), Some((0, 2)));
        assert_eq!(rank_span(2, 1, 3), None);
        assert_eq!(rank_span(3, 5, 3), None);
        assert_eq!(rank_span(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(rank_span(0, -1, 0), None);
    }
}
