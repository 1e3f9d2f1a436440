//! Keyspace commands.

use bytes::Bytes;

use super::table::{Spec, WRITE};
use super::Ctx;
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("del", -2, WRITE, del),
    Spec::new("exists", -2, 0, exists),
    Spec::new("dbsize", 1, 0, dbsize),
    Spec::new("flushdb", -1, WRITE, flushdb),
    Spec::new("flushall", -1, WRITE, flushall),
];

fn del(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let mut removed = 0;
    for key in &argv[1..] {
        let now = ctx.now;
        if ctx.db().contains(key, now) {
            ctx.db().remove(key);
            ctx.touch(key);
            removed += 1;
        }
    }
    Ok(Reply::Int(removed))
}

fn exists(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    Ok(Reply::Int(
        argv[1..]
            .iter()
            .filter(|k| ctx.db().contains(k, now))
            .count() as i64,
    ))
}

fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(ctx.db().len() as i64))
}

fn flushdb(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.db().clear();
    let db = ctx.client.db;
    ctx.state.watches.touch_db(Some(db));
    ctx.state.dirty += 1;
    Ok(Reply::ok())
}

fn flushall(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.state.dbs.iter_mut().for_each(|db| db.clear());
    ctx.state.watches.touch_db(None);
    ctx.state.dirty += 1;
    Ok(Reply::ok())
}
