//! List commands on one list (LPUSH ... RPOPLPUSH), the table of every list command, and the
//! primitives the multi-key and blocking commands in [`super::lists_blocking`] share: pop, push
//! and move. Each primitive keeps the store's invariants: no empty list is stored, every change
//! is touched, every push wakes the clients blocked on its key.

use std::collections::VecDeque;

use bytes::Bytes;

use super::args::{self, err, int, owned, syntax, wrongtype};
use super::lists_blocking::{blmove, blmpop, blpop, brpop, brpoplpush, lmpop};
use super::lists_pos::lpos;
use super::table::{Spec, BLOCKING, DENY_OOM, WRITE};
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("lpush", -3, WRITE | DENY_OOM, lpush),
    Spec::new("rpush", -3, WRITE | DENY_OOM, rpush),
    Spec::new("lpushx", -3, WRITE | DENY_OOM, lpushx),
    Spec::new("rpushx", -3, WRITE | DENY_OOM, rpushx),
    Spec::new("lpop", -2, WRITE, lpop),
    Spec::new("rpop", -2, WRITE, rpop),
    Spec::new("llen", 2, 0, llen),
    Spec::new("lrange", 4, 0, lrange),
    Spec::new("lindex", 3, 0, lindex),
    Spec::new("lset", 4, WRITE | DENY_OOM, lset),
    Spec::new("linsert", 5, WRITE | DENY_OOM, linsert),
    Spec::new("lrem", 4, WRITE, lrem),
    Spec::new("ltrim", 4, WRITE, ltrim),
    Spec::new("lpos", -3, 0, lpos),
    Spec::new("lmove", 5, WRITE | DENY_OOM, lmove),
    Spec::new("rpoplpush", 3, WRITE | DENY_OOM, rpoplpush),
    Spec::new("lmpop", -4, WRITE, lmpop),
    Spec::new("blpop", -3, WRITE | BLOCKING, blpop),
    Spec::new("brpop", -3, WRITE | BLOCKING, brpop),
    Spec::new("blmove", 6, WRITE | DENY_OOM | BLOCKING, blmove),
    Spec::new("brpoplpush", 4, WRITE | DENY_OOM | BLOCKING, brpoplpush),
    Spec::new("blmpop", -5, WRITE | BLOCKING, blmpop),
];

/// An end of a list: LEFT is the head (index 0), RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Left,
    Right,
}

/// Parses `LEFT` / `RIGHT` (any case); anything else is a syntax error, as in Redis.
pub(super) fn parse_end(arg: &[u8]) -> Result<End, Reply> {
    if args::is(arg, "left") {
        Ok(End::Left)
    } else if args::is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(syntax())
    }
}

/// The list at `key`: `Ok(None)` if there is no such key, WRONGTYPE if it holds another type.
pub(super) fn list_mut<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<&'a mut VecDeque<Bytes>>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(wrongtype()),
    }
}

/// Pops up to `count` elements from `end` of the list at `key` (never allocating more than the
/// list holds), removes the key if that empties it, and touches it. `Ok(None)`: no such key.
pub(super) fn pop(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let Some(list) = list_mut(ctx, key)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let popped: Vec<Bytes> = (0..n)
        .filter_map(|_| match end {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        })
        .collect();
    let emptied = list.is_empty();
    if emptied {
        ctx.db().remove(key);
    }
    if n > 0 || emptied {
        ctx.touch(key);
    }
    Ok(Some(popped))
}

/// Pushes `values` one by one at `end` of the list at `key`, creating it unless `only_existing`;
/// touches the key and wakes clients blocked on it. Returns the new length, `Ok(None)` when
/// `only_existing` and there is no list.
pub(super) fn push<'v>(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    values: impl IntoIterator<Item = &'v Bytes>,
    only_existing: bool,
) -> Result<Option<usize>, Reply> {
    let extend = |list: &mut VecDeque<Bytes>| {
        for value in values {
            match end {
                End::Left => list.push_front(owned(value)),
                End::Right => list.push_back(owned(value)),
            }
        }
        list.len()
    };
    let now = ctx.now;
    let db = ctx.db();
    let len = match db.get(key, now) {
        Some(Value::List(list)) => extend(list),
        Some(_) => return Err(wrongtype()),
        None if only_existing => return Ok(None),
        None => {
            let mut list = VecDeque::new();
            let len = extend(&mut list);
            if len == 0 {
                return Ok(Some(0));
            }
            db.set(Bytes::copy_from_slice(key), Value::List(list), None);
            len
        }
    };
    ctx.touch(key);
    ctx.key_ready(key);
    Ok(Some(len))
}

/// LMOVE's core: pops from `from` of `src` and pushes at `to` of `dst` (the same key rotates).
/// `Ok(None)` if `src` does not exist; WRONGTYPE if either key holds another type (checked before
/// anything changes).
pub(super) fn move_element(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Bytes>, Reply> {
    if list_mut(ctx, src)?.is_none() {
        return Ok(None);
    }
    list_mut(ctx, dst)?;
    let Some(value) = pop(ctx, src, from, 1)?.and_then(|mut v| v.pop()) else {
        return Ok(None);
    };
    push(ctx, dst, to, [&value], false)?;
    Ok(Some(value))
}

/// Resolves a Redis range (negative indexes count from the tail) against a list of `len`
/// elements: the inclusive index range to keep, or `None` when it selects nothing.
pub(super) fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// A Redis index (negative counts from the tail) as a position in a list of `len`, if inside.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&index).then_some(index as usize)
}

/// An array of bulk strings.
pub(super) fn bulk_array<'v>(values: impl IntoIterator<Item = &'v Bytes>) -> Reply {
    Reply::Array(values.into_iter().cloned().map(Reply::Bulk).collect())
}

fn push_command(
    ctx: &mut Ctx,
    argv: &[Bytes],
    end: End,
    only_existing: bool,
) -> Result<Reply, Reply> {
    let len = push(ctx, &argv[1], end, &argv[2..], only_existing)?;
    Ok(Reply::Int(len.unwrap_or(0) as i64))
}

fn lpush(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    push_command(ctx, argv, End::Left, false)
}

fn rpush(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    push_command(ctx, argv, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    push_command(ctx, argv, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    push_command(ctx, argv, End::Right, true)
}

/// LPOP / RPOP key [count]: a bulk without count, an array with it (nil array if no key).
fn pop_command(ctx: &mut Ctx, argv: &[Bytes], end: End) -> Result<Reply, Reply> {
    if argv.len() > 3 {
        return Err(args::wrong_arity(&argv[0]));
    }
    let count = match argv.get(2) {
        // Redis reports a non-integer count with the range error too.
        Some(arg) => Some(
            int(arg)
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| err("ERR value is out of range, must be positive"))?,
        ),
        None => None,
    };
    let popped = pop(ctx, &argv[1], end, count.unwrap_or(1) as usize)?;
    Ok(match (count, popped) {
        (None, None) => Reply::Nil,
        (None, Some(mut v)) => v.pop().map(Reply::Bulk).unwrap_or(Reply::Nil),
        (Some(_), None) => Reply::NilArray,
        (Some(_), Some(v)) => bulk_array(&v),
    })
}

fn lpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    pop_command(ctx, argv, End::Left)
}

fn rpop(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    pop_command(ctx, argv, End::Right)
}

fn llen(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(
        list_mut(ctx, &argv[1])?.map_or(0, |l| l.len()) as i64
    ))
}

fn lrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (start, end) = (int(&argv[2])?, int(&argv[3])?);
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    Ok(match resolve_range(start, end, list.len()) {
        Some((from, to)) => bulk_array(list.range(from..=to)),
        None => Reply::Array(vec![]),
    })
}

fn lindex(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    // Redis looks the key up before parsing the index.
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Ok(Reply::Nil);
    };
    let index = int(&argv[2])?;
    Ok(resolve_index(index, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Nil, |v| Reply::Bulk(v.clone())))
}

fn lset(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Err(err(args::NO_SUCH_KEY));
    };
    let index = int(&argv[2])?;
    let slot = resolve_index(index, list.len())
        .and_then(|i| list.get_mut(i))
        .ok_or_else(|| err("ERR index out of range"))?;
    *slot = owned(&argv[3]);
    ctx.touch(&argv[1]);
    Ok(Reply::ok())
}

fn linsert(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let after = if args::is(&argv[2], "after") {
        true
    } else if args::is(&argv[2], "before") {
        false
    } else {
        return Err(syntax());
    };
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(pivot) = list.iter().position(|e| *e == argv[3]) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(pivot + usize::from(after), owned(&argv[4]));
    let len = list.len();
    ctx.touch(&argv[1]);
    Ok(Reply::Int(len as i64))
}

/// Removes up to `count` elements equal to `elem` (all if 0; from the tail if negative).
fn remove_matches(list: &mut VecDeque<Bytes>, elem: &[u8], count: i64) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let mut keep = vec![true; list.len()];
    let mut removed = 0;
    let mut mark = |i: usize| {
        if removed < limit && list[i] == elem {
            keep[i] = false;
            removed += 1;
        }
    };
    if count >= 0 {
        (0..list.len()).for_each(&mut mark);
    } else {
        (0..list.len()).rev().for_each(&mut mark);
    }
    let mut i = 0;
    list.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    removed
}

fn lrem(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let count = int(&argv[2])?;
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Ok(Reply::Int(0));
    };
    let removed = remove_matches(list, &argv[3], count);
    let emptied = list.is_empty();
    if emptied {
        ctx.db().remove(&argv[1]);
    }
    if removed > 0 {
        ctx.touch(&argv[1]);
    }
    Ok(Reply::Int(removed as i64))
}

fn ltrim(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (start, end) = (int(&argv[2])?, int(&argv[3])?);
    let Some(list) = list_mut(ctx, &argv[1])? else {
        return Ok(Reply::ok());
    };
    match resolve_range(start, end, list.len()) {
        Some((from, to)) => {
            list.truncate(to + 1);
            list.drain(..from);
        }
        None => list.clear(),
    }
    if list.is_empty() {
        ctx.db().remove(&argv[1]);
    }
    // Redis signals the key as modified even when the range keeps everything.
    ctx.touch(&argv[1]);
    Ok(Reply::ok())
}

fn lmove(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (from, to) = (parse_end(&argv[3])?, parse_end(&argv[4])?);
    Ok(move_element(ctx, &argv[1], &argv[2], from, to)?.map_or(Reply::Nil, Reply::Bulk))
}

fn rpoplpush(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(
        move_element(ctx, &argv[1], &argv[2], End::Right, End::Left)?
            .map_or(Reply::Nil, Reply::Bulk),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> VecDeque<Bytes> {
        items.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn resolves_ranges_like_redis() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 2)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(resolve_range(0, i64::MIN, 3), None);
        assert_eq!(resolve_range(0, -1, 0), None);
    }

    #[test]
    fn resolves_indexes() {
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
    }

    #[test]
    fn removes_matches_from_either_end() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(remove_matches(&mut l, b"a", -2), 2);
        assert_eq!(l, list(&["a", "b", "c"]));
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(remove_matches(&mut l, b"a", 2), 2);
        assert_eq!(l, list(&["b", "c", "a"]));
        assert_eq!(remove_matches(&mut l, b"a", 0), 1);
        assert_eq!(remove_matches(&mut l, b"x", i64::MIN), 0);
        assert_eq!(l, list(&["b", "c"]));
    }
}
