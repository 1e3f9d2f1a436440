//! String commands that edit a value in place (keeping its TTL): APPEND, SETRANGE, INCR, INCRBY,
//! DECR, DECRBY, INCRBYFLOAT; and the readers STRLEN, GETRANGE (alias SUBSTR).

use bytes::{Bytes, BytesMut};

use super::args::{self, err, owned};
use super::strings::{get_str, store_str};
use super::strings_float::{self, Parsed};
use super::table::{Spec, DENY_OOM, WRITE};
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("append", 3, WRITE | DENY_OOM, append),
    Spec::new("setrange", 4, WRITE | DENY_OOM, setrange),
    Spec::new("strlen", 2, 0, strlen),
    Spec::new("getrange", 4, 0, getrange),
    Spec::new("substr", 4, 0, getrange),
    Spec::new("incr", 2, WRITE | DENY_OOM, incr),
    Spec::new("decr", 2, WRITE | DENY_OOM, decr),
    Spec::new("incrby", 3, WRITE | DENY_OOM, incrby),
    Spec::new("decrby", 3, WRITE | DENY_OOM, decrby),
    Spec::new("incrbyfloat", 3, WRITE | DENY_OOM, incrbyfloat),
];

/// Redis's default `proto-max-bulk-len`: no string may grow beyond it.
const MAX_STRING: u64 = 512 * 1024 * 1024;

/// Redis's `checkStringLength`: refuses (before allocating) a string longer than 512 MB.
fn check_length(size: u64, extra: u64) -> Result<usize, Reply> {
    match size.checked_add(extra) {
        Some(total) if total <= MAX_STRING => Ok(total as usize),
        _ => Err(err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

/// `old` as a growable buffer of at least `len` bytes: in place when nothing else holds it
/// (repeated APPENDs amortize like Redis's sds), else a copy.
fn growable(old: Bytes, len: usize) -> BytesMut {
    match old.try_into_mut() {
        Ok(mut buf) => {
            buf.reserve(len.saturating_sub(buf.len()));
            buf
        }
        Err(shared) => {
            let mut buf = BytesMut::with_capacity(len);
            buf.extend_from_slice(&shared);
            buf
        }
    }
}

fn append(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (now, key, tail) = (ctx.now, &argv[1], &argv[2]);
    let Some(old) = get_str(ctx.db(), key, now)? else {
        store_str(ctx.db(), key, owned(tail), None, false, now);
        ctx.touch(key);
        return Ok(Reply::Int(tail.len() as i64));
    };
    let total = check_length(old.len() as u64, tail.len() as u64)?;
    drop(old);
    let Some(Value::Str(slot)) = ctx.db().get(key, now) else {
        return Err(args::wrongtype());
    };
    let mut buf = growable(std::mem::take(slot), total);
    buf.extend_from_slice(tail);
    *slot = buf.freeze();
    ctx.touch(key);
    Ok(Reply::Int(total as i64))
}

fn setrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let offset = args::int(&argv[2])?;
    if offset < 0 {
        return Err(err("ERR offset is out of range"));
    }
    let (now, key, patch) = (ctx.now, &argv[1], &argv[3]);
    let old = get_str(ctx.db(), key, now)?;
    let old_len = old.as_ref().map_or(0, |s| s.len());
    if patch.is_empty() {
        return Ok(Reply::Int(old_len as i64));
    }
    let end = check_length(offset as u64, patch.len() as u64)?;
    drop(old);
    let offset = offset as usize;
    let write = |buf: &mut BytesMut| {
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[offset..end].copy_from_slice(patch);
        buf.len()
    };
    let len = match ctx.db().get(key, now) {
        Some(Value::Str(slot)) => {
            let mut buf = growable(std::mem::take(slot), end);
            let len = write(&mut buf);
            *slot = buf.freeze();
            len
        }
        _ => {
            let mut buf = BytesMut::new();
            let len = write(&mut buf);
            store_str(ctx.db(), key, buf.freeze(), None, false, now);
            len
        }
    };
    ctx.touch(key);
    Ok(Reply::Int(len as i64))
}

fn strlen(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let len = get_str(ctx.db(), &argv[1], now)?.map_or(0, |s| s.len());
    Ok(Reply::Int(len as i64))
}

/// `GETRANGE key start end`, inclusive, negative indexes from the end, as Redis 7.0.
fn getrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let mut start = args::int(&argv[2])?;
    let mut end = args::int(&argv[3])?;
    let now = ctx.now;
    let Some(s) = get_str(ctx.db(), &argv[1], now)? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    let start = start.max(0);
    let end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    Ok(Reply::Bulk(s.slice(start as usize..=end as usize)))
}

fn incr(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    incr_by(ctx, &argv[1], 1)
}

fn decr(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    incr_by(ctx, &argv[1], -1)
}

fn incrby(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let by = args::int(&argv[2])?;
    incr_by(ctx, &argv[1], by)
}

fn decrby(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let by = args::int(&argv[2])?;
    let Some(by) = by.checked_neg() else {
        return Err(err("ERR decrement would overflow"));
    };
    incr_by(ctx, &argv[1], by)
}

/// Adds `by` to the integer at `key` (0 if missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &Bytes, by: i64) -> Result<Reply, Reply> {
    let now = ctx.now;
    let old = match get_str(ctx.db(), key, now)? {
        Some(s) => args::int(&s)?,
        None => 0,
    };
    let new = old.checked_add(by).ok_or_else(|| err(args::OVERFLOW))?;
    let mut text = itoa::Buffer::new();
    let value = Bytes::copy_from_slice(text.format(new).as_bytes());
    store_str(ctx.db(), key, value, None, true, now);
    ctx.touch(key);
    Ok(Reply::Int(new))
}

/// `INCRBYFLOAT key increment`, in `long double` arithmetic like Redis (see `strings_float`).
fn incrbyfloat(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let (now, key) = (ctx.now, &argv[1]);
    let old = get_str(ctx.db(), key, now)?;
    let not_float = || err(args::NOT_FLOAT);
    let value = match &old {
        Some(s) => strings_float::parse(s).ok_or_else(not_float)?,
        None => strings_float::parse(b"0").ok_or_else(not_float)?,
    };
    let by = strings_float::parse(&argv[2]).ok_or_else(not_float)?;
    let sum = match (value, by) {
        (Parsed::Finite(a), Parsed::Finite(b)) => a.add(b),
        _ => Parsed::Infinite,
    };
    let Parsed::Finite(sum) = sum else {
        return Err(err("ERR increment would produce NaN or Infinity"));
    };
    let text = Bytes::from(sum.to_human());
    store_str(ctx.db(), key, text.clone(), None, true, now);
    ctx.touch(key);
    Ok(Reply::Bulk(text))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::protocol::Reply;
    use crate::store::{exec, table, Store, StoreConfig, Value};

    fn call(store: &Store, args: &[&str]) -> Reply {
        let argv: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut client = store.client();
        let spec = table::lookup(&argv[0]).expect("known command");
        store.with_state(|state| exec::run(state, &mut client, spec, &argv).0)
    }

    #[test]
    fn string_commands_refuse_other_types() {
        let store = Store::new(StoreConfig::default());
        store.with_state(|state| {
            let list = Value::List(std::iter::once(Bytes::from("x")).collect());
            state.dbs[0].set(Bytes::from("l"), list, None);
        });
        let wrongtype = crate::store::args::wrongtype();
        for cmd in [
            &["GET", "l"][..],
            &["SET", "l", "v", "GET"],
            &["GETSET", "l", "v"],
            &["GETDEL", "l"],
            &["GETEX", "l", "EX", "10"],
            &["APPEND", "l", "x"],
            &["STRLEN", "l"],
            &["GETRANGE", "l", "0", "1"],
            &["SETRANGE", "l", "0", "x"],
            &["INCR", "l"],
            &["DECRBY", "l", "2"],
            &["INCRBYFLOAT", "l", "1"],
        ] {
            assert_eq!(call(&store, cmd), wrongtype, "{cmd:?}");
        }
        assert_eq!(call(&store, &["TYPE", "l"]), Reply::status("list"));
        assert_eq!(call(&store, &["MGET", "l"]), Reply::Array(vec![Reply::Nil]));
        assert_eq!(call(&store, &["SET", "l", "v"]), Reply::ok());
        assert_eq!(call(&store, &["GET", "l"]), Reply::bulk("v"));
    }
}
