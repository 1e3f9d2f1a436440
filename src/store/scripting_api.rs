//! The `redis` table scripts see (minus `call`/`pcall`, which exist only while a script runs)
//! and Redis's replacement `math.random`, with Redis 7.0's argument checks and error texts.
//!
//! Invariant: every error raised here is a `ScriptErr` with Redis's exact text, so the script
//! error reply is decorated exactly as redis-server decorates it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlua::{Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::scripting_conv::{err_table, error_text, Rand48};
use super::scripting_lua::ScriptErr;
use super::{args, table};
use crate::protocol::format_double;

/// The version scripts see in `redis.REDIS_VERSION` (the Redis this store answers like).
const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: i64 = 0x07_00_0f;

fn raise(text: &str) -> mlua::Error {
    mlua::Error::external(ScriptErr(text.as_bytes().to_vec()))
}

/// SHA1 of `data` as 40 lowercase hex digits.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Builds the `redis` table: sha1hex, error_reply, status_reply, log, setresp, set_repl,
/// replicate_commands, breakpoint, debug, acl_check_cmd and the constants.
pub(super) fn redis_table(lua: &Lua, resp3: &Arc<AtomicBool>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR wrong number of arguments"));
            }
            let text = lua.coerce_string(args[0].clone())?;
            let bytes = text.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            Ok(sha1_hex(&bytes))
        })?,
    )?;
    t.raw_set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            None => err_table(lua, b"ERR wrong number or type of arguments"),
            Some(s) => {
                let mut raw = Vec::with_capacity(s.len() + 1);
                if s.first() != Some(&b'-') {
                    raw.push(b'-');
                }
                raw.extend_from_slice(&s);
                err_table(lua, &error_text(&raw))
            }
        })?,
    )?;
    t.raw_set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            None => err_table(lua, b"ERR wrong number or type of arguments"),
            Some(s) => {
                let t = lua.create_table()?;
                t.raw_set("ok", lua.create_string(s)?)?;
                Ok(t)
            }
        })?,
    )?;
    t.raw_set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return Err(raise("ERR redis.log() requires two arguments or more."));
            }
            let Some(level) = lua.coerce_number(args[0].clone())? else {
                return Err(raise("ERR First argument must be a number (log level)."));
            };
            if !(0.0..4.0).contains(&level) {
                return Err(raise("ERR Invalid debug level."));
            }
            Ok(())
        })?,
    )?;
    let flag = resp3.clone();
    t.raw_set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR redis.setresp() requires one argument."));
            }
            match lua.coerce_number(args[0].clone())?.map(|n| n as i32) {
                Some(2) => flag.store(false, Ordering::Relaxed),
                Some(3) => flag.store(true, Ordering::Relaxed),
                _ => return Err(raise("ERR RESP version must be 2 or 3.")),
            }
            Ok(())
        })?,
    )?;
    t.raw_set(
        "set_repl",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR redis.set_repl() requires two arguments."));
            }
            let flags = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i32;
            if flags & !3 != 0 {
                return Err(raise(
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    t.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    t.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    t.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    t.raw_set(
        "acl_check_cmd",
        lua.create_function(|_, args: MultiValue| {
            let name = match args.front() {
                None => {
                    return Err(raise(
                        "ERR Please specify at least one argument for this redis lib call",
                    ))
                }
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Number(n)) => format_double(*n).into_bytes(),
                Some(Value::Integer(n)) => format_double(*n as f64).into_bytes(),
                Some(_) => {
                    return Err(raise(
                        "ERR Lua redis lib command arguments must be strings or integers",
                    ))
                }
            };
            let tx = ["multi", "exec", "discard", "watch", "unwatch"];
            if table::lookup(&name).is_none() && !tx.iter().any(|n| args::is(&name, n)) {
                return Err(raise("ERR Invalid command passed to redis.acl_check_cmd()"));
            }
            Ok(true)
        })?,
    )?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
        ("REDIS_VERSION_NUM", REDIS_VERSION_NUM),
    ] {
        t.raw_set(name, value)?;
    }
    t.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    Ok(t)
}

/// The one string argument of `error_reply` / `status_reply`, or None when the call is malformed.
fn single_string(args: &MultiValue) -> Option<Vec<u8>> {
    match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// Replaces `math.random` / `math.randomseed` with Redis's lrand48-based versions.
pub(super) fn install_math(
    lua: &Lua,
    globals: &Table,
    rng: Arc<Mutex<Rand48>>,
) -> mlua::Result<()> {
    let math: Table = globals.get("math")?;
    let gen = rng.clone();
    math.raw_set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            let r = (gen.lock().next() % i32::MAX) as f64 / i32::MAX as f64;
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = check_int(lua, &args, 0, "random")?;
                    if u < 1 {
                        return Err(arg_error(lua, 1, "random", "interval is empty"));
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                2 => {
                    let l = check_int(lua, &args, 0, "random")?;
                    let u = check_int(lua, &args, 1, "random")?;
                    if l > u {
                        return Err(arg_error(lua, 2, "random", "interval is empty"));
                    }
                    Ok((r * (u as f64 - l as f64 + 1.0)).floor() + l as f64)
                }
                _ => Err(lua_error(lua, "wrong number of arguments")),
            }
        })?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let seed = check_int(lua, &args, 0, "randomseed")?;
            rng.lock().seed(seed);
            Ok(())
        })?,
    )?;
    Ok(())
}

/// `luaL_checkint`: the argument as a C int, or Lua's "number expected" error.
fn check_int(lua: &Lua, args: &MultiValue, i: usize, func: &str) -> mlua::Result<i32> {
    let value = args.get(i).cloned().unwrap_or(Value::Nil);
    let type_name = if i >= args.len() {
        "no value"
    } else {
        value.type_name()
    };
    match lua.coerce_number(value)? {
        Some(n) => Ok(n as i64 as i32),
        None => Err(arg_error(
            lua,
            i + 1,
            func,
            &format!("number expected, got {type_name}"),
        )),
    }
}

fn arg_error(lua: &Lua, n: usize, func: &str, msg: &str) -> mlua::Error {
    lua_error(lua, &format!("bad argument #{n} to '{func}' ({msg})"))
}

/// `luaL_error` from a C function: the message prefixed with the caller's position.
fn lua_error(lua: &Lua, msg: &str) -> mlua::Error {
    let place = lua
        .inspect_stack(1, |d| {
            let src = d.source().short_src.map(|s| s.into_owned());
            (src, d.current_line())
        })
        .and_then(|(src, line)| Some(format!("{}:{}: ", src?, line?)))
        .unwrap_or_default();
    raise(&format!("ERR {place}{msg}"))
}
