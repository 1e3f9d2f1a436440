//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, TOUCH, RENAME, RENAMENX, COPY, MOVE, SWAPDB,
//! KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL. Expiry commands are in `keys_expire`.

use bytes::Bytes;
use rand::Rng;

use super::args::{self, err, is, owned, NO_SUCH_KEY};
use super::table::{Spec, DENY_OOM, WRITE};
use super::{glob, scan, Ctx, State, Value, DATABASES};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("del", -2, WRITE, del),
    Spec::new("unlink", -2, WRITE, del),
    Spec::new("exists", -2, 0, exists),
    Spec::new("touch", -2, 0, exists),
    Spec::new("type", 2, 0, type_),
    Spec::new("rename", 3, WRITE, rename),
    Spec::new("renamenx", 3, WRITE, renamenx),
    Spec::new("copy", -3, WRITE | DENY_OOM, copy),
    Spec::new("move", 3, WRITE, move_),
    Spec::new("swapdb", 3, WRITE, swapdb),
    Spec::new("keys", 2, 0, keys),
    Spec::new("scan", -2, 0, scan_),
    Spec::new("randomkey", 1, 0, randomkey),
    Spec::new("dbsize", 1, 0, dbsize),
    Spec::new("flushdb", -1, WRITE, flushdb),
    Spec::new("flushall", -1, WRITE, flushall),
];

const SAME_OBJECT: &str = "ERR source and destination objects are the same";
const DB_RANGE: &str = "ERR DB index is out of range";

/// Records a change to `key` in database `db` (which may not be the client's).
fn touch_in(ctx: &mut Ctx, db: usize, key: &[u8]) {
    ctx.state.dirty += 1;
    ctx.state.watches.touch(db, key);
}

/// Wakes clients blocked on `key` in `db` if `value` is a type they can pop from (Redis's
/// `signalKeyAsReady` is called by `dbAdd` only for those types).
fn ready_if_blockable(ctx: &mut Ctx, db: usize, key: &[u8], value: &Value) {
    if matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_)) {
        ctx.state.blocking.key_ready(db, key);
    }
}

/// A database index argument, as Redis's `getIntFromObjectOrReply` then `selectDb`.
fn db_index(arg: &[u8]) -> Result<usize, Reply> {
    let n = args::int(arg)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(err(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if !(0..DATABASES as i64).contains(&n) {
        return Err(err(DB_RANGE));
    }
    Ok(n as usize)
}

fn del(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let mut removed = 0;
    for key in &argv[1..] {
        if ctx.db().contains(key, now) {
            ctx.db().remove(key);
            ctx.touch(key);
            removed += 1;
        }
    }
    Ok(Reply::Int(removed))
}

/// EXISTS and TOUCH: how many of the keys exist, counting repeats.
fn exists(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    Ok(Reply::Int(
        argv[1..].iter().filter(|k| db.contains(k, now)).count() as i64,
    ))
}

fn type_(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    Ok(Reply::status(
        ctx.db()
            .get(&argv[1], now)
            .map_or("none", |v| v.type_name()),
    ))
}

fn rename(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    rename_generic(ctx, argv, true)
}

fn rename_generic(ctx: &mut Ctx, argv: &[Bytes], nx: bool) -> Result<Reply, Reply> {
    let (src, dst) = (&argv[1], &argv[2]);
    let now = ctx.now;
    let Some(expires_at) = ctx.db().entry(src, now).map(|e| e.expires_at) else {
        return Err(err(NO_SUCH_KEY));
    };
    let done = if nx { Reply::Int(1) } else { Reply::ok() };
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::ok() });
    }
    if nx && ctx.db().contains(dst, now) {
        return Ok(Reply::Int(0));
    }
    let Some(value) = ctx.db().remove(src) else {
        return Err(err(NO_SUCH_KEY));
    };
    let db = ctx.client.db;
    ready_if_blockable(ctx, db, dst, &value);
    ctx.db().set(owned(dst), value, expires_at);
    ctx.touch(src);
    ctx.touch(dst);
    Ok(done)
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
fn copy(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "replace") {
            replace = true;
        } else if is(&argv[i], "db") && i + 1 < argv.len() {
            dst_db = db_index(&argv[i + 1])?;
            i += 1;
        } else {
            return Err(args::syntax());
        }
        i += 1;
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src_db == dst_db && src == dst {
        return Err(err(SAME_OBJECT));
    }
    let now = ctx.now;
    let Some(entry) = ctx.db().entry(src, now) else {
        return Ok(Reply::Int(0));
    };
    let (value, expires_at) = (entry.value.clone(), entry.expires_at);
    let target = &mut ctx.state.dbs[dst_db];
    if target.contains(dst, now) {
        if !replace {
            return Ok(Reply::Int(0));
        }
        target.remove(dst);
    }
    ready_if_blockable(ctx, dst_db, dst, &value);
    ctx.state.dbs[dst_db].set(owned(dst), value, expires_at);
    touch_in(ctx, dst_db, dst);
    Ok(Reply::Int(1))
}

/// `MOVE key db`: 1 if moved; 0 if the key is missing or already exists in the target.
fn move_(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let src_db = ctx.client.db;
    let dst_db = db_index(&argv[2])?;
    if src_db == dst_db {
        return Err(err(SAME_OBJECT));
    }
    let key = &argv[1];
    let now = ctx.now;
    let Some(expires_at) = ctx.db().entry(key, now).map(|e| e.expires_at) else {
        return Ok(Reply::Int(0));
    };
    if ctx.state.dbs[dst_db].contains(key, now) {
        return Ok(Reply::Int(0));
    }
    let Some(value) = ctx.db().remove(key) else {
        return Ok(Reply::Int(0));
    };
    ready_if_blockable(ctx, dst_db, key, &value);
    ctx.state.dbs[dst_db].set(owned(key), value, expires_at);
    touch_in(ctx, src_db, key);
    touch_in(ctx, dst_db, key);
    Ok(Reply::Int(1))
}

/// `SWAPDB a b`: WATCHers of a key that exists in either database are invalidated, as Redis's
/// `touchAllWatchedKeysInDb`, and clients blocked on keys now holding data are woken.
fn swapdb(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let index = |arg: &[u8], what: &str| -> Result<i64, Reply> {
        match args::int(arg) {
            Ok(n) if (i32::MIN as i64..=i32::MAX as i64).contains(&n) => Ok(n),
            _ => Err(Reply::error(format!("ERR invalid {what} DB index"))),
        }
    };
    let a = index(&argv[1], "first")?;
    let b = index(&argv[2], "second")?;
    let range = 0..DATABASES as i64;
    if !range.contains(&a) || !range.contains(&b) {
        return Err(err(DB_RANGE));
    }
    let (a, b) = (a as usize, b as usize);
    if a == b {
        return Ok(Reply::ok());
    }
    let now = ctx.now;
    let mut keys: Vec<(Bytes, bool)> = Vec::new();
    for db in [a, b] {
        keys.extend(ctx.state.dbs[db].iter_live(now).map(|(k, e)| {
            let blockable = matches!(e.value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
            (k.clone(), blockable)
        }));
    }
    ctx.state.dbs.swap(a, b);
    for (key, blockable) in &keys {
        ctx.state.watches.touch(a, key);
        ctx.state.watches.touch(b, key);
        if *blockable {
            ctx.state.blocking.key_ready(a, key);
            ctx.state.blocking.key_ready(b, key);
        }
    }
    ctx.state.dirty += 1;
    Ok(Reply::ok())
}

fn keys(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let pattern = &argv[1];
    let all = pattern.as_ref() == b"*";
    let found = ctx
        .db()
        .iter_live(now)
        .filter(|(k, _)| all || glob::matches(pattern, k))
        .map(|(k, _)| Reply::Bulk(k.clone()))
        .collect();
    Ok(Reply::Array(found))
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`; paging by [`scan::page`].
fn scan_(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan::parse_cursor(&argv[1])?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if is(&argv[i], "count") && has_value {
            let n = args::int(&argv[i + 1])?;
            if n < 1 {
                return Err(args::syntax());
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(&argv[i], "match") && has_value {
            pattern = Some(&argv[i + 1])
                .filter(|p| p.as_ref() != b"*")
                .map(|p| &p[..]);
        } else if is(&argv[i], "type") && has_value {
            type_name = Some(&argv[i + 1]);
        } else {
            return Err(args::syntax());
        }
        i += 2;
    }
    let now = ctx.now;
    let db = ctx.db();
    let (next, page) = scan::page(
        db.iter_live(now).map(|(k, e)| (&k[..], (k, e))),
        cursor,
        count,
    );
    let keys = page
        .into_iter()
        .filter(|(k, _)| pattern.is_none_or(|p| glob::matches(p, k)))
        .filter(|(_, e)| {
            type_name.is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
        })
        .map(|(k, _)| Reply::Bulk(k.clone()))
        .collect();
    let mut buf = itoa::Buffer::new();
    Ok(Reply::Array(vec![
        Reply::bulk_copy(buf.format(next).as_bytes()),
        Reply::Array(keys),
    ]))
}

fn randomkey(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let live = db.iter_live(now).count();
    if live == 0 {
        return Ok(Reply::Nil);
    }
    let pick = rand::thread_rng().gen_range(0..live);
    Ok(db
        .iter_live(now)
        .nth(pick)
        .map_or(Reply::Nil, |(k, _)| Reply::Bulk(k.clone())))
}

fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(ctx.db().len() as i64))
}

/// The optional `ASYNC|SYNC` of FLUSHDB and FLUSHALL (both flush at once here).
fn flush_mode(argv: &[Bytes]) -> Result<(), Reply> {
    match argv {
        [_] => Ok(()),
        [_, mode] if is(mode, "sync") || is(mode, "async") => Ok(()),
        _ => Err(args::syntax()),
    }
}

fn flushdb(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    flush_mode(argv)?;
    let db = ctx.client.db;
    flush(ctx.state, db);
    ctx.state.dirty += 1;
    Ok(Reply::ok())
}

fn flushall(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    flush_mode(argv)?;
    for db in 0..ctx.state.dbs.len() {
        flush(ctx.state, db);
    }
    ctx.state.dirty += 1;
    Ok(Reply::ok())
}

/// Empties database `db`, invalidating WATCHers of the keys it held (a watched key that did not
/// exist stays valid, as Redis's `touchAllWatchedKeysInDb`).
fn flush(state: &mut State, db: usize) {
    let State { dbs, watches, .. } = state;
    for key in dbs[db].keys() {
        watches.touch(db, key);
    }
    dbs[db].clear();
}
