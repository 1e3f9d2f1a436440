//! LPOS: the positions of an element in a list, with RANK, COUNT and MAXLEN.
//!
//! The scan reproduces Redis 7.0's loop exactly, including the C arithmetic it does on an
//! extreme RANK (`-9223372036854775808` stays negative when negated and so matches from the
//! first hit), so that every argument combination answers as redis-server does.

use std::collections::VecDeque;

use bytes::Bytes;

use super::args::{self, err, int, syntax};
use super::lists::list_mut;
use super::Ctx;
use crate::protocol::Reply;

const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

/// LPOS options; `count` is `None` when COUNT was not given (0 means all matches), `maxlen` 0
/// means the whole list.
#[derive(Debug, Clone, Copy)]
struct Options {
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
}

fn parse_options(argv: &[Bytes]) -> Result<Options, Reply> {
    let mut opts = Options {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    // Redis reports a non-integer COUNT or MAXLEN with its "can't be negative" text.
    let non_negative = |arg: &[u8], msg: &str| int(arg).ok().filter(|n| *n >= 0).ok_or(err(msg));
    let mut rest = argv.iter().skip(3);
    while let Some(opt) = rest.next() {
        let Some(value) = rest.next() else {
            return Err(syntax());
        };
        if args::is(opt, "rank") {
            opts.rank = int(value)?;
            if opts.rank == 0 {
                return Err(err(RANK_ZERO));
            }
        } else if args::is(opt, "count") {
            opts.count = Some(non_negative(value, "ERR COUNT can't be negative")?);
        } else if args::is(opt, "maxlen") {
            opts.maxlen = non_negative(value, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(syntax());
        }
    }
    Ok(opts)
}

/// The matching positions, as Redis's scan finds them: at most one without COUNT. Bounded by
/// the list's length whatever the options claim.
fn scan(list: &VecDeque<Bytes>, elem: &[u8], opts: Options) -> Vec<i64> {
    // As in C, i64::MIN negates to itself; `matches >= rank` then always holds.
    let (rank, from_tail) = if opts.rank < 0 {
        (opts.rank.wrapping_neg(), true)
    } else {
        (opts.rank, false)
    };
    let len = list.len() as i64;
    let mut found = Vec::new();
    let mut matches: i64 = 0;
    let ordered: Box<dyn Iterator<Item = &Bytes>> = if from_tail {
        Box::new(list.iter().rev())
    } else {
        Box::new(list.iter())
    };
    for (index, item) in (0i64..).zip(ordered) {
        if opts.maxlen != 0 && index >= opts.maxlen {
            break;
        }
        if item != elem {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        found.push(if from_tail { len - index - 1 } else { index });
        match opts.count {
            None => break,
            Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count => {
                break
            }
            Some(_) => {}
        }
    }
    found
}

/// LPOS key element [RANK rank] [COUNT n] [MAXLEN len]: options are checked before the key.
pub(super) fn lpos(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let opts = parse_options(argv)?;
    let found = match list_mut(ctx, &argv[1])? {
        Some(list) => scan(list, &argv[2], opts),
        None => Vec::new(),
    };
    Ok(match opts.count {
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        None => found.first().map_or(Reply::Nil, |i| Reply::Int(*i)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(rank: i64, count: Option<i64>, maxlen: i64) -> Vec<i64> {
        let list: VecDeque<Bytes> = ["a", "b", "a", "c", "a"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        scan(
            &list,
            b"a",
            Options {
                rank,
                count,
                maxlen,
            },
        )
    }

    #[test]
    fn scans_with_rank_count_and_maxlen() {
        assert_eq!(positions(1, None, 0), vec![0]);
        assert_eq!(positions(2, None, 0), vec![2]);
        assert_eq!(positions(-1, None, 0), vec![4]);
        assert_eq!(positions(4, None, 0), Vec::<i64>::new());
        assert_eq!(positions(1, Some(0), 0), vec![0, 2, 4]);
        assert_eq!(positions(-2, Some(0), 0), vec![2, 0]);
        assert_eq!(positions(2, Some(1), 0), vec![2]);
        assert_eq!(positions(1, Some(0), 3), vec![0, 2]);
        assert_eq!(positions(-1, Some(0), 1), vec![4]);
    }

    #[test]
    fn extreme_ranks_follow_redis_arithmetic() {
        assert_eq!(positions(i64::MIN, None, 0), vec![4]);
        assert_eq!(positions(i64::MIN, Some(1), 0), vec![4, 2, 0]);
        assert_eq!(positions(i64::MAX, Some(0), 0), Vec::<i64>::new());
    }
}
