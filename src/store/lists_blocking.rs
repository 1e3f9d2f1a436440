//! Multi-key and blocking list pops: LMPOP, BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.
//!
//! A blocking command that finds nothing to serve asks the executor to park it
//! ([`Ctx::block_on`]) and returns the reply its timeout gives. The executor re-runs it, oldest
//! waiter first, whenever a push makes one of its keys ready, so each handler here is written to
//! be re-run: it serves from the first non-empty key in argument order or blocks again. Inside
//! MULTI or a script the executor ignores the block and the timeout reply is returned at once,
//! as Redis does for a client that may not block.

use std::time::Duration;

use bytes::Bytes;

use super::args::{self, err, int, owned, syntax};
use super::lists::{bulk_array, move_element, parse_end, pop, End};
use super::{BlockSpec, Ctx};
use crate::protocol::Reply;

/// Parses a timeout in seconds as Redis 7.0 does: a float, rounded up to whole milliseconds;
/// `None` waits forever (0, and anything that rounds to 0 such as `-0.0001`). A value whose
/// milliseconds overflow a 64-bit integer is reported as negative, as redis-server on x86 does.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let seconds =
        args::parse_float(arg).ok_or_else(|| err("ERR timeout is not a float or out of range"))?;
    let ms = (seconds * 1000.0).ceil();
    // i64::MAX as f64 rounds up to 2^63, which is itself out of range.
    if !(ms >= 0.0 && ms < i64::MAX as f64) {
        return Err(err("ERR timeout is negative"));
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// Parks the command on `keys` (each once) until one is pushed to or `timeout` passes.
fn block(ctx: &mut Ctx, keys: &[Bytes], timeout: Option<Duration>) {
    let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(key) {
            unique.push(owned(key));
        }
    }
    ctx.block_on(BlockSpec {
        keys: unique,
        timeout,
        rerun_args: None,
    });
}

/// LMPOP/BLMPOP arguments after the timeout: `numkeys key... LEFT|RIGHT [COUNT n]`.
struct MpopArgs<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `argv[at]`, with Redis's errors.
fn parse_mpop(argv: &[Bytes], at: usize) -> Result<MpopArgs<'_>, Reply> {
    let numkeys = int(&argv[at])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| err("ERR numkeys should be greater than 0"))?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(at + 1))
        .filter(|i| *i < argv.len())
        .ok_or_else(syntax)?;
    let end = parse_end(&argv[where_at])?;
    let mut count = None;
    let mut rest = argv[where_at + 1..].iter();
    while let Some(opt) = rest.next() {
        match rest.next() {
            Some(n) if count.is_none() && args::is(opt, "count") => {
                let n = int(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| err("ERR count should be greater than 0"))?;
                count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            _ => return Err(syntax()),
        }
    }
    Ok(MpopArgs {
        keys: &argv[at + 1..where_at],
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first existing list among `keys`: `[key, [elements]]`, or `None` if every
/// key is missing. A key of another type met on the way is WRONGTYPE.
fn mpop(ctx: &mut Ctx, args: &MpopArgs) -> Result<Option<Reply>, Reply> {
    for key in args.keys {
        if let Some(popped) = pop(ctx, key, args.end, args.count)? {
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                bulk_array(&popped),
            ])));
        }
    }
    Ok(None)
}

/// LMPOP numkeys key... LEFT|RIGHT [COUNT n]
pub(super) fn lmpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let args = parse_mpop(argv, 1)?;
    Ok(mpop(ctx, &args)?.unwrap_or(Reply::NilArray))
}

/// BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT n]
pub(super) fn blmpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let timeout = parse_timeout(&argv[1])?;
    let args = parse_mpop(argv, 2)?;
    if let Some(reply) = mpop(ctx, &args)? {
        return Ok(reply);
    }
    block(ctx, args.keys, timeout);
    Ok(Reply::NilArray)
}

/// BLPOP/BRPOP key... timeout: `[key, element]` from the first existing list.
fn block_pop(ctx: &mut Ctx, argv: &[Bytes], end: End) -> Result<Reply, Reply> {
    let last = argv.len() - 1;
    let timeout = parse_timeout(&argv[last])?;
    let keys = &argv[1..last];
    for key in keys {
        if let Some(value) = pop(ctx, key, end, 1)?.and_then(|mut v| v.pop()) {
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(value),
            ]));
        }
    }
    block(ctx, keys, timeout);
    Ok(Reply::NilArray)
}

pub(super) fn blpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    block_pop(ctx, argv, End::Left)
}

pub(super) fn brpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    block_pop(ctx, argv, End::Right)
}

/// BLMOVE/BRPOPLPUSH's common part, once the arguments are parsed: waits on the source only.
fn block_move(
    ctx: &mut Ctx,
    argv: &[Bytes],
    from: End,
    to: End,
    timeout: Option<Duration>,
) -> Result<Reply, Reply> {
    if let Some(value) = move_element(ctx, &argv[1], &argv[2], from, to)? {
        return Ok(Reply::Bulk(value));
    }
    block(ctx, &argv[1..2], timeout);
    // Redis 7.0 answers a timed-out BLMOVE with a nil array (like every timed-out list pop),
    // but a BLMOVE that may not block (MULTI, scripts) with a nil bulk string.
    Ok(if ctx.client.no_block {
        Reply::Nil
    } else {
        Reply::NilArray
    })
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub(super) fn blmove(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (from, to) = (parse_end(&argv[3])?, parse_end(&argv[4])?);
    let timeout = parse_timeout(&argv[5])?;
    block_move(ctx, argv, from, to, timeout)
}

/// BRPOPLPUSH source destination timeout
pub(super) fn brpoplpush(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let timeout = parse_timeout(&argv[3])?;
    block_move(ctx, argv, End::Right, End::Left, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(s: &str) -> Result<Option<u128>, Reply> {
        parse_timeout(s.as_bytes()).map(|t| t.map(|d| d.as_millis()))
    }

    #[test]
    fn parses_timeouts_like_redis() {
        assert_eq!(timeout("0"), Ok(None));
        assert_eq!(timeout("1.5"), Ok(Some(1500)));
        assert_eq!(timeout("0.0001"), Ok(Some(1)), "rounded up");
        assert_eq!(timeout("-0.0001"), Ok(None), "rounds to 0: forever");
        assert_eq!(timeout(".5e-3"), Ok(Some(1)));
        let negative = Err(err("ERR timeout is negative"));
        assert_eq!(timeout("-1"), negative);
        assert_eq!(timeout("inf"), negative);
        assert_eq!(timeout("1e16"), negative, "overflows milliseconds");
        let not_float = Err(err("ERR timeout is not a float or out of range"));
        assert_eq!(timeout("nan"), not_float);
        assert_eq!(timeout("x"), not_float);
        assert_eq!(timeout(" 1"), not_float);
    }

    #[test]
    fn parses_mpop_arguments() {
        let argv: Vec<Bytes> = ["lmpop", "2", "a", "b", "left", "count", "3"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let parsed = parse_mpop(&argv, 1)
            .ok()
            .map(|a| (a.keys.len(), a.end, a.count));
        assert_eq!(parsed, Some((2, End::Left, 3)));
        let huge: Vec<Bytes> = ["lmpop", "9223372036854775807", "a", "left"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(parse_mpop(&huge, 1).err(), Some(syntax()));
    }
}
