//! Administrative commands: CONFIG, MEMORY, OBJECT, SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, WAIT.
//!
//! The embedded store keeps nothing on disk and has no replicas: SAVE and friends are accepted
//! (they reset `rdb_changes_since_last_save` and LASTSAVE), WAIT answers 0 replicas. CONFIG
//! knows a fixed set of parameters; only `maxmemory` can be changed (setting another one to
//! its current value is accepted). OBJECT answers from the value's shape with Redis 7.0's
//! encoding thresholds (best effort: Redis's history of a value can differ); IDLETIME is not
//! tracked and reads 0.

use bytes::Bytes;

use super::args::{self, err, is};
use super::info::key_memory;
use super::server::{subcommand_arity, unknown_subcommand};
use super::{glob, Ctx, State, Value};
use crate::protocol::Reply;

/// CONFIG GET's parameters: name and current value.
fn parameters(state: &State) -> Vec<(&'static str, String)> {
    let fixed = [
        ("maxmemory-policy", "noeviction"),
        ("maxmemory-samples", "5"),
        ("maxmemory-clients", "0"),
        ("maxmemory-eviction-tenacity", "10"),
        ("save", ""),
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        ("databases", "16"),
        ("maxclients", "10000"),
        ("timeout", "0"),
        ("hz", "10"),
        ("tcp-keepalive", "300"),
        ("notify-keyspace-events", ""),
        ("busy-reply-threshold", "5000"),
        ("lua-time-limit", "5000"),
        ("hash-max-listpack-entries", "128"),
        ("hash-max-listpack-value", "64"),
        ("set-max-intset-entries", "512"),
        ("zset-max-listpack-entries", "128"),
        ("zset-max-listpack-value", "64"),
        ("proto-max-bulk-len", "536870912"),
    ];
    let mut params = vec![("maxmemory", state.config.maxmemory.to_string())];
    params.extend(fixed.iter().map(|(k, v)| (*k, v.to_string())));
    params
}

/// Parses a memory value as Redis's `memtoull`: digits with an optional unit (b, k, kb, m, mb,
/// g, gb; `k` is 1000, `kb` 1024).
fn memory_value(arg: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(arg).ok()?.to_ascii_lowercase();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let unit = match &text[digits..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    text[..digits].parse::<u64>().ok()?.checked_mul(unit)
}

pub fn config(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    if is(sub, "get") {
        if argv.len() < 3 {
            return Err(subcommand_arity("config", sub));
        }
        // A name without glob characters is looked up and echoed as given, as Redis 7 does.
        let mut pairs = Vec::new();
        for (name, value) in parameters(ctx.state) {
            let matched = argv[2..].iter().find(|p| {
                let lower = p.to_ascii_lowercase();
                glob::matches(&lower, name.as_bytes())
            });
            if let Some(pattern) = matched {
                let literal = !pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
                let shown = if literal {
                    Reply::Bulk(args::owned(pattern))
                } else {
                    Reply::bulk(name)
                };
                pairs.push((shown, Reply::Bulk(Bytes::from(value))));
            }
        }
        Ok(Reply::Map(pairs))
    } else if is(sub, "set") {
        if argv.len() < 4 {
            return Err(subcommand_arity("config", sub));
        }
        if argv.len() % 2 != 0 {
            return Err(args::syntax());
        }
        let params = parameters(ctx.state);
        let mut maxmemory = None;
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for pair in argv[2..].chunks(2) {
            let (name, value) = (pair[0].to_ascii_lowercase(), &pair[1]);
            let shown = String::from_utf8_lossy(&pair[0]).into_owned();
            let failed = |why: &str| {
                Reply::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}"
                ))
            };
            if seen.contains(&name) {
                return Err(failed("duplicate parameter"));
            }
            seen.push(name.clone());
            let Some((_, current)) = params.iter().find(|(n, _)| n.as_bytes() == name) else {
                return Err(Reply::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{shown}'"
                )));
            };
            if name == b"maxmemory" {
                maxmemory = Some(
                    memory_value(value).ok_or_else(|| failed("argument must be a memory value"))?,
                );
            } else if !value.eq_ignore_ascii_case(current.as_bytes()) {
                return Err(Reply::error(format!(
                    "ERR Unsupported CONFIG parameter: {shown}"
                )));
            }
        }
        if let Some(max) = maxmemory {
            ctx.state.config.maxmemory = max;
        }
        Ok(Reply::ok())
    } else if is(sub, "resetstat") {
        if argv.len() != 2 {
            return Err(subcommand_arity("config", sub));
        }
        ctx.state.pubsub.clients.reset_stats();
        ctx.state.pubsub.dropped = 0;
        for db in &mut ctx.state.dbs {
            db.reads.hits = 0;
            db.reads.misses = 0;
        }
        Ok(Reply::ok())
    } else if is(sub, "rewrite") {
        if argv.len() != 2 {
            return Err(subcommand_arity("config", sub));
        }
        Err(err(
            "ERR CONFIG REWRITE is not supported by the embedded store",
        ))
    } else {
        Err(unknown_subcommand("CONFIG", sub))
    }
}

pub fn memory(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    if is(sub, "usage") {
        if argv.len() < 3 {
            return Err(subcommand_arity("memory", sub));
        }
        match argv.len() {
            3 => {}
            5 if is(&argv[3], "samples") => {
                args::int(&argv[4])?;
            }
            _ => return Err(args::syntax()),
        }
        let now = ctx.now;
        let key = &argv[2];
        Ok(match ctx.db().get(key, now) {
            Some(value) => Reply::Int(key_memory(key, value) as i64),
            None => Reply::Nil,
        })
    } else if is(sub, "purge") {
        if argv.len() != 2 {
            return Err(subcommand_arity("memory", sub));
        }
        Ok(Reply::ok())
    } else {
        Err(unknown_subcommand("MEMORY", sub))
    }
}

/// Whether `b` reads as an integer Redis would store in `int` / `intset` encoding.
fn is_int(b: &[u8]) -> bool {
    b.len() <= 20 && crate::protocol::request::parse_int(b).is_some()
}

fn encoding(value: &Value) -> &'static str {
    match value {
        Value::Str(s) if is_int(s) => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(h)
            if h.len() <= 128 && h.iter().all(|(k, v)| k.len() <= 64 && v.len() <= 64) =>
        {
            "listpack"
        }
        Value::Hash(_) => "hashtable",
        Value::Set(s) if s.len() <= 512 && s.iter().all(|m| is_int(m)) => "intset",
        Value::Set(_) => "hashtable",
        // The sorted set's layout belongs to its module; judge by size alone.
        Value::ZSet(z) if z.approx_size() <= 128 * 48 => "listpack",
        Value::ZSet(_) => "skiplist",
        Value::Stream(_) => "stream",
    }
}

pub fn object(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &argv[1];
    let known = ["encoding", "refcount", "idletime", "freq"];
    if !known.iter().any(|k| is(sub, k)) {
        return Err(unknown_subcommand("OBJECT", sub));
    }
    if argv.len() != 3 {
        return Err(subcommand_arity("object", sub));
    }
    let now = ctx.now;
    let Some(value) = ctx.db().get(&argv[2], now) else {
        return Ok(Reply::Nil);
    };
    if is(sub, "encoding") {
        Ok(Reply::bulk(encoding(value)))
    } else if is(sub, "refcount") {
        // Redis shares the objects for 0..9999 (OBJ_SHARED_REFCOUNT).
        let shared = matches!(value, Value::Str(s) if is_int(s)
            && crate::protocol::request::parse_int(s).is_some_and(|n| (0..10000).contains(&n)));
        Ok(Reply::Int(if shared { i32::MAX as i64 } else { 1 }))
    } else if is(sub, "idletime") {
        Ok(Reply::Int(0))
    } else {
        Err(err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."))
    }
}

fn mark_saved(ctx: &mut Ctx) {
    let reg = &mut ctx.state.pubsub.clients;
    reg.last_save = ctx.now / 1000;
    reg.dirty_at_save = ctx.state.dirty;
}

pub fn save(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    mark_saved(ctx);
    Ok(Reply::ok())
}

pub fn bgsave(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() > 2 || argv.get(1).is_some_and(|a| !is(a, "schedule")) {
        return Err(args::syntax());
    }
    mark_saved(ctx);
    Ok(Reply::status("Background saving started"))
}

pub fn bgrewriteaof(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::status(
        "Background append only file rewriting started",
    ))
}

pub fn lastsave(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(ctx.state.pubsub.clients.last_save as i64))
}

/// `WAIT numreplicas timeout`: no replicas, so 0 at once.
pub fn wait(_: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let timeout =
        args::int(&argv[2]).map_err(|_| err("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(err("ERR timeout is negative"));
    }
    args::int(&argv[1])?;
    Ok(Reply::Int(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_parse_like_memtoull() {
        assert_eq!(memory_value(b"100"), Some(100));
        assert_eq!(memory_value(b"1k"), Some(1000));
        assert_eq!(memory_value(b"1KB"), Some(1024));
        assert_eq!(memory_value(b"100mb"), Some(100 << 20));
        assert_eq!(memory_value(b"-1"), None);
        assert_eq!(memory_value(b"1.5mb"), None);
        assert_eq!(memory_value(b"99999999999999999999gb"), None);
        assert_eq!(memory_value(b""), None);
    }
}
