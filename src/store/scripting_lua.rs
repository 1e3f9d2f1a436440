//! The Lua 5.1 interpreter behind EVAL: a sandbox shaped like Redis 7.0's (read-only globals,
//! no `os`/`io`/`loadfile`/`dofile`/`print`), the `redis.*` API, and one script run with
//! `redis.call` dispatching through the store's command table on the already locked state.
//!
//! Invariants: the engine never runs two scripts at once (it lives behind the store's lock and
//! is taken out of [`State`] while a script runs, so scripts cannot reach it); `redis.call` /
//! `redis.pcall` exist only for the duration of one run (scoped callbacks); a Redis error raised
//! inside Lua is a [`ScriptErr`] carrying Redis's error text.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{ChunkMode, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use parking_lot::Mutex;

use super::scripting_conv::{err_table, lua_to_reply, one_line, Rand48};
use super::Ctx;
use crate::protocol::format_double;
use crate::protocol::{Protocol, Reply};

/// Chunk name of the sandbox's own Lua code; frames from it are skipped when locating errors.
const INTERNAL: &str = "=redis_internal";
/// Upper bound on the interpreter's memory, so a script cannot exhaust the process.
const LUA_MEMORY_LIMIT: usize = 512 << 20;
/// How many VM instructions run between checks of the script's deadline (a check is one clock
/// read: about a millionth of the time between checks).
const DEADLINE_CHECK_EVERY: u32 = 10_000;

/// A Redis error raised inside Lua; the bytes are the whole error text (`ERR ...`).
#[derive(Debug)]
pub(super) struct ScriptErr(pub Vec<u8>);

impl std::fmt::Display for ScriptErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::error::Error for ScriptErr {}

/// The Redis error text inside `e`, or its root cause's message.
fn error_bytes(e: &mlua::Error) -> Vec<u8> {
    match e {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            error_bytes(cause)
        }
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<ScriptErr>() {
            Some(ScriptErr(text)) => text.clone(),
            None => format!("ERR {inner}").into_bytes(),
        },
        other => format!("ERR {other}").into_bytes(),
    }
}

/// The interpreter's hook: every [`DEADLINE_CHECK_EVERY`] instructions it checks the running
/// script's deadline. Past it, the hook fails the script and from then on fails every
/// instruction, so no `pcall` inside the script can catch the failure and go on (Redis does the
/// same when it kills a script); [`Engine::run`] restores the hook after the run. It is the
/// global hook, so coroutines the script creates carry it too.
fn deadline_hook(
    due: Arc<AtomicU64>,
    origin: std::time::Instant,
) -> impl Fn(&Lua, &mlua::Debug) -> mlua::Result<mlua::VmState> + Send + 'static {
    move |lua, _| {
        let at = due.load(Ordering::Relaxed);
        if at != 0 && origin.elapsed().as_nanos() as u64 > at {
            lua.set_global_hook(
                mlua::HookTriggers::new().every_nth_instruction(1),
                deadline_hook(due.clone(), origin),
            )?;
            return Err(mlua::Error::external(ScriptErr(TIMED_OUT.to_vec())));
        }
        Ok(mlua::VmState::Continue)
    }
}

/// What a script stopped at its time limit answers.
const TIMED_OUT: &[u8] = b"ERR script stopped: it ran past store.script_time_limit_ms (what it wrote before stays written)";

/// A compiled script and the flags from its shebang line.
pub(super) struct Script {
    pub func: Function,
    /// Declared `#!lua` (not the pre-7.0 compatibility mode).
    pub shebang: bool,
    /// `flags=no-writes`.
    pub no_writes: bool,
}

/// One Lua state with the Redis API installed, and the scripts compiled in it by SHA1.
pub(super) struct Engine {
    lua: Lua,
    /// The real globals; scripts see them through a read-only proxy.
    real: Table,
    proxy: Table,
    /// The real `redis` table (scripts see a read-only proxy of it).
    redis: Table,
    xpcall: Function,
    handler: Function,
    resp3: Arc<AtomicBool>,
    /// The running script's deadline, in nanoseconds after `clock_origin` (0: none).
    deadline: Arc<AtomicU64>,
    clock_origin: std::time::Instant,
    pub scripts: HashMap<String, Script>,
}

impl Engine {
    /// A fresh interpreter with the sandbox and the `redis` API installed.
    pub fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        let (deadline, clock_origin) = (Arc::new(AtomicU64::new(0)), std::time::Instant::now());
        lua.set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(DEADLINE_CHECK_EVERY),
            deadline_hook(deadline.clone(), clock_origin),
        )?;
        let real = lua.globals();
        for name in [
            "print", "dofile", "loadfile", "getfenv", "setfenv", "newproxy", "require", "module",
            "package", "os", "io", "debug",
        ] {
            real.raw_set(name, Value::Nil)?;
        }
        let resp3 = Arc::new(AtomicBool::new(false));
        let redis = super::scripting_api::redis_table(&lua, &resp3)?;
        real.raw_set("redis", redis.clone())?;
        super::scripting_api::install_math(&lua, &real, Arc::new(Mutex::new(Rand48::new())))?;
        let tostring: Function = real.get("tostring")?;
        let handler = lua.create_function(move |lua, err: Value| {
            let t = match err {
                Value::Table(t) => t,
                Value::Error(e) => err_table(lua, &error_bytes(&e))?,
                other => {
                    let s: mlua::String = tostring.call(other)?;
                    let mut text = b"ERR ".to_vec();
                    text.extend_from_slice(&s.as_bytes());
                    err_table(lua, &text)?
                }
            };
            if let Some((source, line)) = locate(lua) {
                t.raw_set("source", lua.create_string(source)?)?;
                t.raw_set("line", line)?;
            }
            Ok(t)
        })?;
        real.raw_set("__redis__err__handler", handler.clone())?;
        let xpcall: Function = real.get("xpcall")?;
        let proxy = lua.create_table()?;
        let errmsg = lua.create_function(|lua, e: Value| match e {
            Value::Error(e) => Ok(Value::String(lua.create_string(error_bytes(&e))?)),
            other => Ok(other),
        })?;
        lua.load(PRELUDE)
            .set_name(INTERNAL)
            .set_mode(ChunkMode::Text)
            .call::<()>((real.clone(), proxy.clone(), errmsg))?;
        lua.set_globals(proxy.clone())?;
        Ok(Engine {
            lua,
            real,
            proxy,
            redis,
            xpcall,
            handler,
            resp3,
            deadline,
            clock_origin,
            scripts: HashMap::new(),
        })
    }

    /// Compiles `code` as the script `sha` (named `@user_script`, as Redis names it); the error
    /// reply is Redis's "Error compiling script" text.
    pub fn compile(
        &mut self,
        sha: &str,
        code: &[u8],
        shebang: bool,
        no_writes: bool,
    ) -> Result<(), Reply> {
        let func = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .set_environment(self.proxy.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                let text = format!("ERR Error compiling script (new function): {msg}");
                Reply::Error(one_line(text.trim_end_matches(['\r', '\n']).as_bytes()))
            })?;
        self.scripts.insert(
            sha.to_string(),
            Script {
                func,
                shebang,
                no_writes,
            },
        );
        Ok(())
    }

    /// Runs the compiled script `sha` with KEYS and ARGV; its result (or its error, decorated as
    /// Redis decorates script errors) as the reply for `ctx`'s client.
    pub fn run(
        &mut self,
        ctx: &mut Ctx,
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        read_only: bool,
    ) -> Reply {
        let Some(script) = self.scripts.get(sha) else {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        };
        let func = script.func.clone();
        let proto = ctx.client.protocol;
        let deadline = ctx.state.config.script_time_limit.map_or(0, |limit| {
            (self.clock_origin.elapsed() + limit).as_nanos() as u64
        });
        self.deadline.store(deadline, Ordering::Relaxed);
        self.resp3.store(false, Ordering::Relaxed);
        let mut client = ctx.client.clone();
        client.no_block = true;
        client.protocol = Protocol::Resp2;
        let caller = RefCell::new(super::scripting_call::Caller {
            state: &mut *ctx.state,
            client,
            read_only,
            resp3: self.resp3.clone(),
        });
        let outcome = self.lua.scope(|scope| {
            self.real.raw_set("KEYS", self.array(keys)?)?;
            self.real.raw_set("ARGV", self.array(argv)?)?;
            let call = scope.create_function(|lua, args: MultiValue| {
                super::scripting_call::redis_call(lua, &caller, args, true)
            })?;
            let pcall = scope.create_function(|lua, args: MultiValue| {
                super::scripting_call::redis_call(lua, &caller, args, false)
            })?;
            self.redis.raw_set("call", call)?;
            self.redis.raw_set("pcall", pcall)?;
            self.xpcall
                .call::<(bool, Value)>((func, self.handler.clone()))
        });
        let resp3 = self.resp3.load(Ordering::Relaxed);
        let reply = match outcome {
            Ok((true, value)) => lua_to_reply(&value, proto, resp3, 0),
            Ok((false, err)) => {
                if !matches!(err, Value::Table(_)) {
                    // Out of memory: reclaim the script's garbage before the next run.
                    let _ = self.lua.gc_collect();
                }
                error_reply(&err, sha)
            }
            Err(e) => {
                let text = format!("ERR Error running script {sha}: {e}");
                Reply::Error(one_line(text.as_bytes()))
            }
        };
        if self.deadline.swap(0, Ordering::Relaxed) != 0
            && self.clock_origin.elapsed().as_nanos() as u64 > deadline
        {
            // The script was stopped: the hook fails every instruction until it is reset.
            let _ = self.lua.set_global_hook(
                mlua::HookTriggers::new().every_nth_instruction(DEADLINE_CHECK_EVERY),
                deadline_hook(self.deadline.clone(), self.clock_origin),
            );
        }
        // Drop references to this run's values so the collector can reclaim them.
        let _ = self.real.raw_set("KEYS", Value::Nil);
        let _ = self.real.raw_set("ARGV", Value::Nil);
        reply
    }

    fn array(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(t)
    }
}

/// Where a script error happened, as Redis's `__redis__err__handler` finds it: the function that
/// raised it, or its caller when that was a C function; frames of the sandbox's own code skipped.
fn locate(lua: &Lua) -> Option<(Vec<u8>, i64)> {
    // Level 0 is this handler, 1 the function that raised.
    let frame = |level: usize| {
        lua.inspect_stack(level, |d| {
            let source = d.source();
            let line = d.current_line().map(|l| l as i64).unwrap_or(-1);
            (source.what, source.source.map(|s| s.into_owned()), line)
        })
    };
    let mut level = 1;
    if frame(level)?.0 == "C" {
        level += 1;
    }
    for _ in 0..64 {
        let (_, source, line) = frame(level)?;
        if source.as_deref() != Some(INTERNAL) {
            return Some((source.unwrap_or_default().into_bytes(), line));
        }
        level += 1;
    }
    None
}

/// The reply for a script that raised `err` (the handler's `{err, source, line}` table).
fn error_reply(err: &Value, sha: &str) -> Reply {
    let Value::Table(t) = err else {
        // Errors that bypass the handler (out of memory): Redis's "Error running script" text.
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        let text = format!("ERR Error running script {sha}, {msg}");
        return Reply::Error(one_line(text.trim_end_matches(['\r', '\n']).as_bytes()));
    };
    let text = |key: &str| -> Option<Vec<u8>> {
        match t.get::<Value>(key).ok()? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Number(n) => Some(lua_number_text(n).into_bytes()),
            Value::Integer(n) => Some(n.to_string().into_bytes()),
            _ => None,
        }
    };
    let mut out = text("err").unwrap_or_else(|| b"ERR unknown script error".to_vec());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        out.extend_from_slice(format!(" script: {sha}, on ").as_bytes());
        out.extend_from_slice(&source);
        out.push(b':');
        out.extend_from_slice(&line);
        out.push(b'.');
    }
    Reply::Error(one_line(&out))
}

/// Lua 5.1's `tostring` of a number (`%.14g`) for the integral values line numbers are.
fn lua_number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format_double(n)
    }
}

/// The sandbox, run once per engine with (real globals, empty proxy, errmsg). Makes the globals
/// and the library tables read-only through proxies, with Redis's error texts, and adapts
/// `pairs`/`next`/`rawget`/`rawset`/`setmetatable`/`pcall`/`loadstring`/`load` to them.
const PRELUDE: &str = include_str!("scripting_prelude.lua");
