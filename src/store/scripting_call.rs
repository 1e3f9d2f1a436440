//! `redis.call` / `redis.pcall`: argument conversion, Redis's script-call checks (unknown
//! command, arity, commands scripts may not run, writes in read-only scripts) and dispatch
//! through the store's command table on the already locked state.
//!
//! Invariant: a command runs on a copy of the calling client with `no_block` set and the
//! protocol the script chose with `redis.setresp`, so SELECT or HELLO inside a script never
//! change the caller.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};

use super::scripting_conv::{err_table, error_text, reply_to_lua};
use super::scripting_lua::ScriptErr;
use super::table::{self, BLOCKING, NO_SCRIPT, WRITE};
use super::{args, exec, Client, State};
use crate::protocol::format_double;
use crate::protocol::{Protocol, Reply};

/// What `redis.call` needs while a script runs.
pub(super) struct Caller<'a> {
    pub state: &'a mut State,
    pub client: Client,
    pub read_only: bool,
    pub resp3: Arc<AtomicBool>,
}

fn raise(text: &[u8]) -> mlua::Error {
    mlua::Error::external(ScriptErr(text.to_vec()))
}

/// `redis.call` (`raise`) and `redis.pcall`: converts the arguments, runs the command through the
/// store's table on the locked state, and converts its reply.
pub(super) fn redis_call(
    lua: &Lua,
    caller: &RefCell<Caller>,
    args: MultiValue,
    raise_errors: bool,
) -> mlua::Result<Value> {
    let fail = |text: &[u8]| -> mlua::Result<Value> {
        if raise_errors {
            Err(raise(text))
        } else {
            Ok(Value::Table(err_table(lua, text)?))
        }
    };
    if args.is_empty() {
        return fail(b"ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in args.iter() {
        match arg {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => argv.push(Bytes::from(format_double(*n))),
            Value::Integer(n) => argv.push(Bytes::from(format_double(*n as f64))),
            _ => return fail(b"ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Ok(mut caller) = caller.try_borrow_mut() else {
        return fail(b"ERR redis.call is not reentrant");
    };
    let resp3 = caller.resp3.load(Ordering::Relaxed);
    match caller.dispatch(&argv, resp3) {
        Err(text) => fail(text.as_bytes()),
        Ok(Reply::Error(e)) => {
            let mut raw = Vec::with_capacity(e.len() + 1);
            raw.push(b'-');
            raw.extend_from_slice(&e);
            fail(&error_text(&raw))
        }
        Ok(reply) => reply_to_lua(lua, &reply, resp3, 0),
    }
}

impl Caller<'_> {
    /// Checks `argv` as Redis's `scriptCall` does (existence, arity, script-allowed, writes),
    /// then runs it.
    fn dispatch(&mut self, argv: &[Bytes], resp3: bool) -> Result<Reply, String> {
        let name = &argv[0];
        let Some(spec) = table::lookup(name) else {
            // The transaction commands live in the executor, not the table.
            const TX: [(&str, i32); 5] = [
                ("multi", 1),
                ("exec", 1),
                ("discard", 1),
                ("watch", -2),
                ("unwatch", 1),
            ];
            if let Some((_, arity)) = TX.iter().find(|(n, _)| args::is(name, n)) {
                let ok = if *arity > 0 {
                    argv.len() as i32 == *arity
                } else {
                    argv.len() as i32 >= -arity
                };
                if !ok {
                    return Err("ERR Wrong number of args calling Redis command from script".into());
                }
                return Err("ERR This Redis command is not allowed from script".into());
            }
            return Err("ERR Unknown Redis command called from script".into());
        };
        if !spec.arity_ok(argv.len()) {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        let blocking = spec.has(BLOCKING) && !matches!(spec.name, "xread" | "xreadgroup");
        if spec.has(NO_SCRIPT) || blocking {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        if self.read_only && spec.has(WRITE) {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        self.client.protocol = if resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let (reply, _block) = exec::run(self.state, &mut self.client, spec, argv);
        if !self.state.monitors.is_empty() {
            self.state
                .monitors
                .feed(&self.client, spec.name, argv, true);
        }
        Ok(reply)
    }
}
