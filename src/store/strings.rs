//! String commands.

use bytes::Bytes;

use super::args::{owned, wrongtype};
use super::table::{Spec, DENY_OOM, WRITE};
use super::{Ctx, Value};
use crate::protocol::Reply;

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("get", 2, 0, get),
    Spec::new("set", -3, WRITE | DENY_OOM, set),
];

fn get(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    match ctx.db().get(&argv[1], now) {
        None => Ok(Reply::Nil),
        Some(Value::Str(s)) => Ok(Reply::Bulk(s.clone())),
        Some(_) => Err(wrongtype()),
    }
}

fn set(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() != 3 {
        return Err(super::args::syntax());
    }
    ctx.db()
        .set(owned(&argv[1]), Value::Str(owned(&argv[2])), None);
    ctx.touch(&argv[1]);
    Ok(Reply::ok())
}
