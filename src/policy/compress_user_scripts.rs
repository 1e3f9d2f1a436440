//! Client scripts and functions on keys that may hold compressed values.
//!
//! Lua cannot decompress, so a script that read a compressed value would compute on the
//! compressed bytes (`string.len`, `cjson.decode` of a GET): a wrong result. Instead, every script
//! body and function library that passes through the sidecar is rewritten to start with a guard
//! that refuses, inside the same atomic call and before the client's code runs, when one of the
//! declared KEYS holds a compressed string.
//!
//! Invariants:
//! - EVAL / EVAL_RO with keys run `guarded(body)`; SCRIPT LOAD loads `guarded(body)` and answers
//!   sha1(body), the sha clients compute themselves. The sidecar remembers sha1(body) ->
//!   sha1(guarded(body)) ([`ScriptShas`]) for both, so the client's EVALSHA / EVALSHA_RO /
//!   SCRIPT EXISTS reach the guarded script.
//! - An EVALSHA with keys whose sha the sidecar has not seen is answered `NOSCRIPT` (as Redis
//!   answers after SCRIPT FLUSH): clients then send the body (EVAL or SCRIPT LOAD), which gets
//!   guarded. An unknown sha with no keys passes unchanged (there is nothing to guard), and
//!   SCRIPT EXISTS answers 0 for an unknown sha. No script without the guard ever runs with keys.
//! - `guarded(body)` keeps a `#!` shebang line first and adds no line, so line numbers in Redis's
//!   errors are the client's; the body itself is unchanged and runs only if the guard passes.
//! - FUNCTION LOAD libraries get a prologue that shadows `redis` with a table whose
//!   `register_function` wraps every callback in the same guard, and whose other fields forward
//!   to the real API at call time.
//! - Not guarded (see the README): keys a script computes itself instead of declaring them in
//!   KEYS, and libraries loaded without the sidecar or by FUNCTION RESTORE.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::command::Command;
use crate::protocol::Reply;

/// The refusal, in Lua: `k` is the key (as stored, with any tenant prefix; the policy strips
/// the prefix on the way back).
macro_rules! refusal {
    ($k:literal) => {
        concat!(
            "redis.error_reply(\"ERR key '\" .. ",
            $k,
            " .. \"' holds a value compressed by redis-sidecar; scripts cannot read it (Lua would \
             see the compressed bytes): read it with GET outside the script, or keep the key out \
             of [compression] keys\")"
        )
    };
}

/// Whether key `$k` holds a compressed string, in Lua.
macro_rules! compressed {
    ($k:literal) => {
        concat!(
            "redis.call('TYPE', ",
            $k,
            ")['ok'] == 'string' and redis.call('GETRANGE', ",
            $k,
            ", 0, 3) == '\\255RSC'"
        )
    };
}

/// Put before a script body (one line, no newline): refuses if any of KEYS is compressed.
pub const SCRIPT_PROLOGUE: &str = concat!(
    "for i = 1, #KEYS do if ",
    compressed!("KEYS[i]"),
    " then return ",
    refusal!("KEYS[i]"),
    " end end; "
);

/// Put at the start of a library's second line (one line, no newline): `redis` becomes a table
/// whose `register_function` guards each callback's keys and whose other fields call the real
/// API (looked up when called: the API a library sees while loading is not the one it sees
/// when its functions run).
pub const LIBRARY_PROLOGUE: &str = concat!(
    "local redis = (function() local api = redis; ",
    "local function refuse(keys) for i = 1, #keys do if ",
    compressed!("keys[i]"),
    " then return ",
    refusal!("keys[i]"),
    " end end end; ",
    "local function wrap(cb) return function(keys, args) local r = refuse(keys); ",
    "if r then return r end; return cb(keys, args) end end; ",
    "return {register_function = function(a, b) if b == nil then ",
    "if a.callback ~= nil then a.callback = wrap(a.callback) end; ",
    "return api.register_function(a) end; return api.register_function(a, wrap(b)) end, ",
    "call = function(...) return redis.call(...) end, ",
    "pcall = function(...) return redis.pcall(...) end, ",
    "error_reply = function(...) return redis.error_reply(...) end, ",
    "status_reply = function(...) return redis.status_reply(...) end, ",
    "sha1hex = function(...) return redis.sha1hex(...) end, ",
    "log = function(...) return redis.log(...) end, ",
    "setresp = function(...) return redis.setresp(...) end, ",
    "set_repl = function(...) return redis.set_repl(...) end, ",
    "replicate_commands = function(...) return redis.replicate_commands(...) end, ",
    "breakpoint = function(...) return redis.breakpoint(...) end, ",
    "debug = function(...) return redis.debug(...) end, ",
    "acl_check_cmd = function(...) return redis.acl_check_cmd(...) end, ",
    "LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3, ",
    "REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3, ",
    "REDIS_VERSION = api.REDIS_VERSION, REDIS_VERSION_NUM = api.REDIS_VERSION_NUM} end)(); "
);

/// Redis's own reply to an EVALSHA of a script it does not hold.
const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// How many sha pairs are remembered; past this the oldest is forgotten (its EVALSHA is then
/// answered NOSCRIPT and the client sends the body again).
const MAX_SHAS: usize = 10_000;

type Sha = [u8; 40];

/// The client's sha of each script the sidecar guarded, mapped to the guarded script's sha and
/// back. Shared by all connections and kept across reloads; bounded by [`MAX_SHAS`].
#[derive(Default)]
pub struct ScriptShas {
    inner: Mutex<Shas>,
}

#[derive(Default)]
struct Shas {
    guarded: HashMap<Sha, Sha>,
    original: HashMap<Sha, Sha>,
    /// Client shas, oldest first.
    order: VecDeque<Sha>,
}

impl ScriptShas {
    fn remember(&self, original: Sha, guarded: Sha) {
        let mut shas = self.inner.lock();
        if shas.guarded.insert(original, guarded).is_some() {
            return;
        }
        shas.original.insert(guarded, original);
        shas.order.push_back(original);
        if shas.order.len() > MAX_SHAS {
            if let Some(old) = shas.order.pop_front() {
                if let Some(g) = shas.guarded.remove(&old) {
                    shas.original.remove(&g);
                }
            }
        }
    }

    /// The guarded sha for the client's `sha` (any case), if the sidecar guarded that script.
    fn guarded(&self, sha: &[u8]) -> Option<Sha> {
        let key: Sha = sha.try_into().ok()?;
        self.inner
            .lock()
            .guarded
            .get(&key.map(|b| b.to_ascii_lowercase()))
            .copied()
    }

    /// The client's sha for a guarded script's `sha`.
    fn original(&self, sha: &[u8]) -> Option<Sha> {
        let key: Sha = sha.try_into().ok()?;
        self.inner.lock().original.get(&key).copied()
    }
}

/// SHA1 of the concatenation of `parts`, as 40 lowercase hex digits.
fn sha(parts: &[&[u8]]) -> Sha {
    let mut hasher = sha1_smol::Sha1::new();
    parts.iter().for_each(|p| hasher.update(p));
    let hex = hasher.digest().to_string();
    hex.as_bytes().try_into().expect("40 hex digits")
}

/// Where the prologue goes: after a `#!` first line (kept first, as Redis requires), else at 0.
fn insertion_point(body: &[u8]) -> usize {
    if body.starts_with(b"#!") {
        body.iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| i + 1)
    } else {
        0
    }
}

/// `body` with `prologue` inserted (see [`insertion_point`]).
fn with_prologue(prologue: &str, body: &[u8]) -> Bytes {
    let at = insertion_point(body);
    let mut out = Vec::with_capacity(body.len() + prologue.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(prologue.as_bytes());
    out.extend_from_slice(&body[at..]);
    Bytes::from(out)
}

/// The client's sha of the script behind a guarded body (SCRIPT LOAD's answer).
fn original_sha(guarded: &[u8]) -> Option<Sha> {
    let at = insertion_point(guarded);
    let rest = guarded[at..].strip_prefix(SCRIPT_PROLOGUE.as_bytes())?;
    Some(sha(&[&guarded[..at], rest]))
}

/// A guarded body and its sha, remembered under the client's sha.
fn guard_body(shas: &ScriptShas, body: &[u8]) -> Bytes {
    let guarded = with_prologue(SCRIPT_PROLOGUE, body);
    shas.remember(sha(&[body]), sha(&[&guarded]));
    guarded
}

/// The declared key count of EVAL-like `cmd`, if valid (else Redis answers its own error).
fn numkeys(cmd: &Command) -> Option<usize> {
    let n: usize = std::str::from_utf8(cmd.args.get(2)?).ok()?.parse().ok()?;
    (n <= cmd.args.len() - 3).then_some(n)
}

/// Rewrites script commands so they run guarded (see the module doc). `Err` answers the
/// command here (an EVALSHA with keys of a script the sidecar never guarded).
pub fn request(shas: &ScriptShas, cmd: &mut Command) -> Result<(), Reply> {
    if cmd.is("eval") || cmd.is("eval_ro") {
        if numkeys(cmd).is_some_and(|n| n > 0) {
            let guarded = guard_body(shas, &cmd.args[1]);
            cmd.args_mut()[1] = guarded;
        }
    } else if cmd.is("evalsha") || cmd.is("evalsha_ro") {
        match (shas.guarded(&cmd.args[1]), numkeys(cmd)) {
            (Some(guarded), _) => cmd.args_mut()[1] = Bytes::copy_from_slice(&guarded),
            (None, Some(n)) if n > 0 => return Err(Reply::error(NOSCRIPT)),
            (None, _) => {}
        }
    } else if cmd.is("script") && cmd.arg_is(1, "load") && cmd.args.len() == 3 {
        let guarded = guard_body(shas, &cmd.args[2]);
        cmd.args_mut()[2] = guarded;
    } else if cmd.is("script") && cmd.arg_is(1, "exists") {
        for i in 2..cmd.args.len() {
            // Unknown: answer 0, since its EVALSHA with keys would be answered NOSCRIPT.
            let to = shas
                .guarded(&cmd.args[i])
                .map_or(Bytes::from_static(b"unknown to redis-sidecar"), |g| {
                    Bytes::copy_from_slice(&g)
                });
            cmd.args_mut()[i] = to;
        }
    } else if cmd.is("function") && cmd.arg_is(1, "load") && cmd.args.len() >= 3 {
        let last = cmd.args.len() - 1;
        if cmd.args[last].starts_with(b"#!") {
            let guarded = with_prologue(LIBRARY_PROLOGUE, &cmd.args[last]);
            cmd.args_mut()[last] = guarded;
        }
    }
    Ok(())
}

/// SCRIPT LOAD answers the client's sha, not the guarded script's; a script error names the
/// client's sha (Redis's `script: <sha>`), not the guarded one.
pub fn reply(shas: &ScriptShas, cmd: &Command, reply: &mut Reply) {
    match reply {
        Reply::Bulk(sha) if cmd.is("script") && cmd.arg_is(1, "load") => {
            if let Some(original) = cmd.args.get(2).and_then(|b| original_sha(b)) {
                *sha = Bytes::copy_from_slice(&original);
            }
        }
        Reply::Error(e) => {
            const MARK: &[u8] = b"script: ";
            let Some(at) = e.windows(MARK.len()).position(|w| w == MARK) else {
                return;
            };
            let at = at + MARK.len();
            if let Some(original) = e.get(at..at + 40).and_then(|g| shas.original(g)) {
                let mut out = e.to_vec();
                out[at..at + 40].copy_from_slice(&original);
                *e = Bytes::from(out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(shas: &ScriptShas, args: &[&str]) -> Result<Vec<Bytes>, Reply> {
        let mut cmd = Command::from_strs(args);
        request(shas, &mut cmd).map(|()| cmd.args.clone())
    }

    #[test]
    fn eval_with_keys_runs_guarded_and_its_sha_maps_to_the_guarded_one() {
        let shas = ScriptShas::default();
        let body = "return redis.call('GET', KEYS[1])";
        let args = run(&shas, &["EVAL", body, "1", "k"]).unwrap();
        assert_eq!(&args[1][..], format!("{SCRIPT_PROLOGUE}{body}").as_bytes());
        let client_sha = sha(&[body.as_bytes()]);
        let guarded_sha = sha(&[&args[1]]);
        let client_sha = std::str::from_utf8(&client_sha).unwrap().to_uppercase();
        let args = run(&shas, &["EVALSHA", &client_sha, "1", "k"]).unwrap();
        assert_eq!(&args[1][..], &guarded_sha[..]);
        // No keys: nothing to guard, the body passes as sent.
        assert_eq!(
            &run(&shas, &["EVAL", "return 1", "0"]).unwrap()[1][..],
            b"return 1"
        );
    }

    #[test]
    fn unknown_shas_with_keys_get_noscript_and_script_load_answers_the_clients_sha() {
        let shas = ScriptShas::default();
        let unknown = "0".repeat(40);
        assert!(matches!(
            run(&shas, &["EVALSHA", &unknown, "1", "k"]),
            Err(Reply::Error(e)) if e.starts_with(b"NOSCRIPT")
        ));
        assert!(run(&shas, &["EVALSHA", &unknown, "0"]).is_ok());
        let body = "#!lua flags=no-writes\nreturn 1";
        let mut cmd = Command::from_strs(&["SCRIPT", "LOAD", body]);
        request(&shas, &mut cmd).unwrap();
        assert!(cmd.args[2].starts_with(b"#!lua flags=no-writes\nfor i = 1"));
        let mut reply = Reply::bulk(String::from_utf8(sha(&[&cmd.args[2]]).to_vec()).unwrap());
        super::reply(&shas, &cmd, &mut reply);
        assert_eq!(
            reply,
            Reply::Bulk(Bytes::copy_from_slice(&sha(&[body.as_bytes()])))
        );
        let exists = run(&shas, &["SCRIPT", "EXISTS", &unknown]).unwrap();
        assert_eq!(&exists[2][..], b"unknown to redis-sidecar");
    }

    #[test]
    fn libraries_get_the_prologue_after_their_shebang() {
        let shas = ScriptShas::default();
        let code = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        let args = run(&shas, &["FUNCTION", "LOAD", "REPLACE", code]).unwrap();
        assert_eq!(
            &args[3][..],
            format!(
                "#!lua name=lib\n{LIBRARY_PROLOGUE}redis.register_function('f', function() return 1 end)"
            )
            .as_bytes()
        );
    }

    #[test]
    fn the_oldest_sha_is_forgotten_past_the_bound() {
        let shas = ScriptShas::default();
        for i in 0..=MAX_SHAS {
            guard_body(&shas, format!("return {i}").as_bytes());
        }
        assert!(shas.guarded(&sha(&[b"return 0"])).is_none());
        assert!(shas.guarded(&sha(&[b"return 1"])).is_some());
    }
}
