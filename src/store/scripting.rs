//! Scripting commands (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT) over a real Lua 5.1
//! interpreter, with Redis 7.0's semantics: scripts cached by SHA1 of their body, `#!lua` shebang
//! flags, atomic runs (`redis.call` dispatches on the same locked state).
//!
//! A script holds the store's lock while it runs, so nothing else can run meanwhile (Redis
//! answers BUSY and offers SCRIPT KILL); one that runs past `store.script_time_limit_ms` is
//! stopped with an error instead (see `scripting_lua::deadline_hook`).

use bytes::Bytes;

use super::args;
use super::scripting_api::sha1_hex;
use super::scripting_lua::Engine;
use super::table::{Spec, NO_SCRIPT};
use super::Ctx;
use crate::protocol::Reply;

/// Loaded scripts and the Lua interpreter. Invariant: `engine` is `None` until the first script
/// is needed and after SCRIPT FLUSH; while a script runs it is taken out (so nothing a script
/// calls can reach it).
#[derive(Default)]
pub struct Scripts {
    engine: Option<Engine>,
}

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("eval", -3, NO_SCRIPT, eval),
    Spec::new("evalsha", -3, NO_SCRIPT, evalsha),
    Spec::new("eval_ro", -3, NO_SCRIPT, eval_ro),
    Spec::new("evalsha_ro", -3, NO_SCRIPT, evalsha_ro),
    Spec::new("script", -2, NO_SCRIPT, script),
];

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

fn eval(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, argv, false, false)
}

fn evalsha(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, argv, true, true)
}

/// Flags parsed from a `#!lua` first line.
#[derive(Debug, Default, PartialEq)]
struct Shebang {
    /// Length of the first line (without its newline): it is not compiled.
    len: usize,
    no_writes: bool,
}

/// Redis's `evalExtractShebangFlags`: `None` when the body has no shebang.
fn parse_shebang(body: &[u8]) -> Result<Option<Shebang>, Reply> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let Some(len) = body.iter().position(|&c| c == b'\n') else {
        return Err(args::err("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..len]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(Reply::error(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut shebang = Shebang {
        len,
        no_writes: false,
    };
    for part in parts {
        let Some(flags) = part.strip_prefix("flags=") else {
            return Err(Reply::error(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        if flags.is_empty() {
            continue;
        }
        for flag in flags.split(',') {
            match flag {
                "no-writes" => shebang.no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(Reply::error(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok(Some(shebang))
}

impl Scripts {
    /// The engine, created on first use.
    fn engine(&mut self) -> Result<&mut Engine, Reply> {
        if self.engine.is_none() {
            let engine = Engine::new()
                .map_err(|e| Reply::error(format!("ERR failed to start the Lua engine: {e}")))?;
            self.engine = Some(engine);
        }
        self.engine
            .as_mut()
            .ok_or_else(|| args::err("ERR Lua engine unavailable"))
    }

    /// Compiles `body` unless a script with that SHA1 is cached; returns its SHA1.
    fn load(&mut self, body: &[u8]) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        let engine = self.engine()?;
        if !engine.scripts.contains_key(&sha) {
            let shebang = parse_shebang(body)?;
            let (code, no_writes) = match &shebang {
                Some(s) => (&body[s.len..], s.no_writes),
                None => (body, false),
            };
            engine.compile(&sha, code, shebang.is_some(), no_writes)?;
        }
        Ok(sha)
    }

    fn exists(&self, sha: &str) -> bool {
        self.engine
            .as_ref()
            .is_some_and(|e| e.scripts.contains_key(sha))
    }
}

fn eval_generic(ctx: &mut Ctx, argv: &[Bytes], by_sha: bool, ro: bool) -> Result<Reply, Reply> {
    if by_sha && argv[1].len() != 40 {
        return Err(args::err(NOSCRIPT));
    }
    let numkeys = args::int(&argv[2])?;
    let rest = argv.len() - 3;
    if numkeys > rest as i64 {
        return Err(args::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(args::err("ERR Number of keys can't be negative"));
    }
    let numkeys = numkeys as usize;
    let scripts = &mut ctx.state.scripts;
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        if !scripts.exists(&sha) {
            return Err(args::err(NOSCRIPT));
        }
        sha
    } else {
        scripts.load(&argv[1])?
    };
    let mut engine = scripts.engine.take().ok_or_else(|| args::err(NOSCRIPT))?;
    let (shebang, no_writes) = engine
        .scripts
        .get(&sha)
        .map(|s| (s.shebang, s.no_writes))
        .unwrap_or_default();
    let reply = if ro && shebang && !no_writes {
        args::err("ERR Can not execute a script with write flag using *_ro command.")
    } else {
        let (keys, args) = argv[3..].split_at(numkeys);
        engine.run(ctx, &sha, keys, args, ro || no_writes)
    };
    ctx.state.scripts.engine = Some(engine);
    Ok(reply)
}

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

fn script(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    let arity = |ok: bool, name: &str| {
        if ok {
            Ok(())
        } else {
            Err(Reply::error(format!(
                "ERR wrong number of arguments for 'script|{name}' command"
            )))
        }
    };
    if args::is(sub, "load") {
        arity(argv.len() == 3, "load")?;
        let sha = ctx.state.scripts.load(&argv[2])?;
        Ok(Reply::bulk(sha))
    } else if args::is(sub, "exists") {
        arity(argv.len() >= 3, "exists")?;
        let scripts = &ctx.state.scripts;
        Ok(Reply::Array(
            argv[2..]
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Reply::Int(scripts.exists(&sha) as i64)
                })
                .collect(),
        ))
    } else if args::is(sub, "flush") {
        if argv.len() > 3
            || (argv.len() == 3 && !args::is(&argv[2], "sync") && !args::is(&argv[2], "async"))
        {
            return Err(args::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
        }
        ctx.state.scripts.engine = None;
        Ok(Reply::ok())
    } else if args::is(sub, "kill") {
        arity(argv.len() == 2, "kill")?;
        Err(args::err("NOTBUSY No scripts in execution right now."))
    } else if args::is(sub, "debug") {
        arity(argv.len() == 3, "debug")?;
        if args::is(&argv[2], "no") {
            Ok(Reply::ok())
        } else if args::is(&argv[2], "yes") || args::is(&argv[2], "sync") {
            Err(args::err(
                "ERR SCRIPT DEBUG is not supported by the embedded store",
            ))
        } else {
            Err(args::err("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
        }
    } else if args::is(sub, "help") && argv.len() == 2 {
        Ok(Reply::Array(
            HELP.iter()
                .map(|line| Reply::Status(Bytes::from_static(line.as_bytes())))
                .collect(),
        ))
    } else {
        Err(Reply::error(format!(
            "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(sub)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shebangs_like_redis() {
        assert_eq!(parse_shebang(b"return 1").unwrap(), None);
        assert_eq!(
            parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap(),
            Some(Shebang {
                len: 31,
                no_writes: true
            })
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=\nx").unwrap(),
            Some(Shebang {
                len: 12,
                no_writes: false
            })
        );
        let err = |body: &[u8]| match parse_shebang(body) {
            Err(Reply::Error(e)) => String::from_utf8_lossy(&e).into_owned(),
            _ => panic!("expected an error"),
        };
        assert_eq!(err(b"#!lua"), "ERR Invalid script shebang");
        assert_eq!(
            err(b"#!python\n"),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(err(b"#!lua x\n"), "ERR Unknown lua shebang option: x");
        assert_eq!(
            err(b"#!lua flags=a,\n"),
            "ERR Unexpected flag in script shebang: a"
        );
    }
}
