//! Sorted sets: the data structure, and the table of the sorted-set commands, implemented in
//! `zset_cmds` (single-key reads and writes, counts, range removal), `zset_range` (ZRANGE forms),
//! `zset_setops` (ZUNION and friends), `zset_pop` (pops, blocking pops, ZRANDMEMBER, ZSCAN), with
//! `zset_num` parsing numbers as Redis does.
//!
//! Members are ordered by (score, member bytes) in a `BTreeSet`, with a hash map from member to
//! score beside it: insert, remove and score lookups are O(log n) / O(1). A rank (ZRANK, ZRANGE by
//! index) is found by walking the ordered set, O(rank): fine for the sizes the platform keeps (rate
//! limiter windows), to be replaced by an order-statistics tree if big sets are ranked often.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;

use super::table::{Spec, BLOCKING, DENY_OOM, WRITE};
use super::{zset_cmds as cmds, zset_pop as pop, zset_range as range, zset_setops as setops};

/// Redis's `zset-max-listpack-entries` default: a set this small is listpack-encoded in Redis.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// Redis's `zset-max-listpack-value` default: the longest member a listpack-encoded set holds.
pub const LISTPACK_MAX_VALUE: usize = 64;

/// A score as an ordering key. Invariant: never NaN (commands refuse NaN before storing), so the
/// order is total; `-0` and `0` compare equal, as C's `<` and `==` do in Redis's skiplist.
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// A sorted set. Invariants: `scores` and `order` hold exactly the same members, each with the
/// same score; no score is NaN; while `skiplist` is false (the set never outgrew Redis's listpack
/// limits) no score is `-0`, because Redis's listpack stores `-0` as `0`.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: HashMap<Bytes, f64, ahash::RandomState>,
    order: BTreeSet<(Score, Bytes)>,
    skiplist: bool,
}

impl ZSet {
    /// An empty set, small (listpack-encoded in Redis's terms).
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// A set holding `items` as a ZUNIONSTORE-style destination: built big, then made small if
    /// it fits Redis's listpack limits (as `zsetConvertToListpackIfNeeded`). Later duplicates of a
    /// member replace earlier ones.
    pub fn from_scored(items: impl IntoIterator<Item = (Bytes, f64)>) -> ZSet {
        let mut set = ZSet {
            skiplist: true,
            ..ZSet::default()
        };
        for (member, score) in items {
            set.insert(member, score);
        }
        let fits = set.len() <= LISTPACK_MAX_ENTRIES
            && set.scores.keys().all(|m| m.len() <= LISTPACK_MAX_VALUE);
        if fits {
            set.skiplist = false;
            let negative_zeros: Vec<Bytes> = set
                .order
                .iter()
                .filter(|(s, _)| s.0 == 0.0 && s.0.is_sign_negative())
                .map(|(_, m)| m.clone())
                .collect();
            for member in negative_zeros {
                set.remove(&member);
                set.insert(member, 0.0);
            }
        }
        set
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Whether Redis would hold this set listpack-encoded (ZSCAN answers it in one page).
    pub fn is_small(&self) -> bool {
        !self.skiplist
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score (adding it if new); true if it was added. `score` must not be NaN.
    /// A score equal to the current one (`0 == -0`) changes nothing, as in Redis.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
        debug_assert!(!score.is_nan());
        let old = self.scores.get(&member).copied();
        if old.is_some_and(|old| old == score) {
            return false;
        }
        if old.is_none()
            && !self.skiplist
            && (self.len() + 1 > LISTPACK_MAX_ENTRIES || member.len() > LISTPACK_MAX_VALUE)
        {
            self.skiplist = true;
        }
        // The listpack keeps scores as text and reads "-0" back as 0.
        let score = if !self.skiplist && score == 0.0 {
            0.0
        } else {
            score
        };
        if let Some(old) = old {
            self.order.remove(&(Score(old), member.clone()));
        }
        self.order.insert((Score(score), member.clone()));
        self.scores.insert(member, score);
        old.is_none()
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (member, score) = self.scores.remove_entry(member)?;
        self.order.remove(&(Score(score), member));
        Some(score)
    }

    /// Removes and returns the lowest (or with `max`, the highest) member.
    pub fn pop(&mut self, max: bool) -> Option<(Bytes, f64)> {
        let (score, member) = if max {
            self.order.pop_last()?
        } else {
            self.order.pop_first()?
        };
        self.scores.remove(&member);
        Some((member, score.0))
    }

    /// Every member with its score, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + '_ {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// The 0-based rank of `member`, from the lowest (or with `rev`, the highest). O(rank).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let score = self.score(member)?;
        let key = (Score(score), Bytes::copy_from_slice(member));
        let below = self.order.range(..&key).count();
        Some(if rev { self.len() - 1 - below } else { below })
    }

    /// Members with score >= `min` (or > with `exclusive`), lowest first.
    pub fn scores_from(
        &self,
        min: f64,
        exclusive: bool,
    ) -> impl Iterator<Item = (&Bytes, f64)> + '_ {
        let start = (Score(min), Bytes::new());
        self.order
            .range((Bound::Included(start), Bound::Unbounded))
            .map(|(s, m)| (m, s.0))
            .skip_while(move |(_, s)| exclusive && *s == min)
    }

    /// Members with score <= `max` (or < with `exclusive`), highest first.
    pub fn scores_down_from(
        &self,
        max: f64,
        exclusive: bool,
    ) -> impl Iterator<Item = (&Bytes, f64)> + '_ {
        let end = match next_up(max) {
            Some(above) => Bound::Excluded((Score(above), Bytes::new())),
            None => Bound::Unbounded,
        };
        self.order
            .range((Bound::Unbounded, end))
            .rev()
            .map(|(s, m)| (m, s.0))
            .skip_while(move |(_, s)| exclusive && *s == max)
    }

    /// The score shared by every member, if they all have the same one.
    pub fn single_score(&self) -> Option<f64> {
        let first = self.order.first()?.0;
        (self.order.last()?.0 == first).then_some(first.0)
    }

    /// Members of score `score` from member `from` on (inclusive), in order; see `single_score`.
    pub fn members_from(
        &self,
        score: f64,
        from: &[u8],
    ) -> impl Iterator<Item = (&Bytes, f64)> + '_ {
        let start = (Score(score), Bytes::copy_from_slice(from));
        self.order
            .range((Bound::Included(start), Bound::Unbounded))
            .map(|(s, m)| (m, s.0))
    }

    /// Members of score `score` up to member `to` (inclusive), highest first.
    pub fn members_down_from(
        &self,
        score: f64,
        to: &[u8],
    ) -> impl Iterator<Item = (&Bytes, f64)> + '_ {
        let end = (Score(score), Bytes::copy_from_slice(to));
        self.order
            .range((Bound::Unbounded, Bound::Included(end)))
            .rev()
            .map(|(s, m)| (m, s.0))
    }

    /// An estimate of the memory held, for `maxmemory` accounting.
    pub fn approx_size(&self) -> usize {
        self.scores.keys().map(|m| m.len() + 48).sum()
    }
}

/// The smallest double above `x`; None for +inf (nothing is above it).
fn next_up(x: f64) -> Option<f64> {
    if x == f64::INFINITY {
        return None;
    }
    if x == 0.0 {
        return Some(f64::from_bits(1));
    }
    let bits = x.to_bits();
    Some(f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 }))
}

/// The sorted-set commands.
pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("zadd", -4, WRITE | DENY_OOM, cmds::zadd),
    Spec::new("zincrby", 4, WRITE | DENY_OOM, cmds::zincrby),
    Spec::new("zrem", -3, WRITE, cmds::zrem),
    Spec::new("zscore", 3, 0, cmds::zscore),
    Spec::new("zmscore", -3, 0, cmds::zmscore),
    Spec::new("zcard", 2, 0, cmds::zcard),
    Spec::new("zrank", 3, 0, cmds::zrank),
    Spec::new("zrevrank", 3, 0, cmds::zrevrank),
    Spec::new("zcount", 4, 0, cmds::zcount),
    Spec::new("zlexcount", 4, 0, cmds::zlexcount),
    Spec::new("zrange", -4, 0, range::zrange),
    Spec::new("zrangestore", -5, WRITE | DENY_OOM, range::zrangestore),
    Spec::new("zrevrange", -4, 0, range::zrevrange),
    Spec::new("zrangebyscore", -4, 0, range::zrangebyscore),
    Spec::new("zrevrangebyscore", -4, 0, range::zrevrangebyscore),
    Spec::new("zrangebylex", -4, 0, range::zrangebylex),
    Spec::new("zrevrangebylex", -4, 0, range::zrevrangebylex),
    Spec::new("zremrangebyscore", 4, WRITE, cmds::zremrangebyscore),
    Spec::new("zremrangebyrank", 4, WRITE, cmds::zremrangebyrank),
    Spec::new("zremrangebylex", 4, WRITE, cmds::zremrangebylex),
    Spec::new("zunionstore", -4, WRITE | DENY_OOM, setops::zunionstore),
    Spec::new("zinterstore", -4, WRITE | DENY_OOM, setops::zinterstore),
    Spec::new("zdiffstore", -4, WRITE | DENY_OOM, setops::zdiffstore),
    Spec::new("zunion", -3, 0, setops::zunion),
    Spec::new("zinter", -3, 0, setops::zinter),
    Spec::new("zdiff", -3, 0, setops::zdiff),
    Spec::new("zintercard", -3, 0, setops::zintercard),
    Spec::new("zpopmin", -2, WRITE, pop::zpopmin),
    Spec::new("zpopmax", -2, WRITE, pop::zpopmax),
    Spec::new("bzpopmin", -3, WRITE | BLOCKING, pop::bzpopmin),
    Spec::new("bzpopmax", -3, WRITE | BLOCKING, pop::bzpopmax),
    Spec::new("zmpop", -4, WRITE, pop::zmpop),
    Spec::new("bzmpop", -5, WRITE | BLOCKING, pop::bzmpop),
    Spec::new("zrandmember", -2, 0, pop::zrandmember),
    Spec::new("zscan", -3, 0, pop::zscan),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn members(z: &ZSet) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
            .collect()
    }

    #[test]
    fn orders_by_score_then_member_and_updates() {
        let mut z = ZSet::new();
        assert!(z.insert("b".into(), 1.0));
        assert!(z.insert("a".into(), 1.0));
        assert!(z.insert("c".into(), 0.5));
        assert!(!z.insert("c".into(), 2.0), "an update is not an add");
        assert_eq!(
            members(&z),
            vec![("a".into(), 1.0), ("b".into(), 1.0), ("c".into(), 2.0)]
        );
        assert_eq!(z.rank(b"c", false), Some(2));
        assert_eq!(z.rank(b"c", true), Some(0));
        assert_eq!(z.rank(b"x", false), None);
        assert_eq!(z.remove(b"a"), Some(1.0));
        assert_eq!(z.remove(b"a"), None);
        assert_eq!(z.pop(true), Some(("c".into(), 2.0)));
        assert_eq!(z.pop(false), Some(("b".into(), 1.0)));
        assert!(z.is_empty() && z.order.is_empty());
    }

    #[test]
    fn negative_zero_is_kept_only_once_big() {
        let mut z = ZSet::new();
        z.insert("a".into(), -0.0);
        assert!(z.score(b"a").unwrap().is_sign_positive());
        for i in 0..LISTPACK_MAX_ENTRIES {
            z.insert(format!("m{i}").into(), i as f64);
        }
        assert!(!z.is_small());
        z.insert("b".into(), -0.0);
        assert!(z.score(b"b").unwrap().is_sign_negative());
        assert!(!z.insert("b".into(), 0.0), "0 == -0: no change");
        assert!(z.score(b"b").unwrap().is_sign_negative());
        let long = ZSet::from_scored([(Bytes::from(vec![b'x'; 65]), -0.0)]);
        assert!(!long.is_small() && long.score(&[b'x'; 65]).unwrap().is_sign_negative());
        let small = ZSet::from_scored([(Bytes::from("x"), -0.0)]);
        assert!(small.is_small() && small.score(b"x").unwrap().is_sign_positive());
    }

    #[test]
    fn score_ranges_respect_exclusive_bounds_and_infinities() {
        let mut z = ZSet::new();
        for (m, s) in [("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", f64::INFINITY)] {
            z.insert(m.into(), s);
        }
        let names = |it: &mut dyn Iterator<Item = (&Bytes, f64)>| -> String {
            it.map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                .collect()
        };
        assert_eq!(names(&mut z.scores_from(2.0, false)), "bcd");
        assert_eq!(names(&mut z.scores_from(2.0, true)), "d");
        assert_eq!(names(&mut z.scores_from(f64::INFINITY, true)), "");
        assert_eq!(names(&mut z.scores_down_from(2.0, false)), "cba");
        assert_eq!(names(&mut z.scores_down_from(2.0, true)), "a");
        assert_eq!(names(&mut z.scores_down_from(f64::INFINITY, false)), "dcba");
        assert_eq!(names(&mut z.scores_down_from(f64::NEG_INFINITY, false)), "");
        assert_eq!(names(&mut z.members_from(2.0, b"c")), "cd");
        assert_eq!(names(&mut z.members_down_from(2.0, b"b")), "ba");
        assert_eq!(z.single_score(), None);
        assert_eq!(next_up(-0.0), Some(f64::from_bits(1)));
        assert_eq!(next_up(-1.0).map(|x| x > -1.0), Some(true));
    }
}
