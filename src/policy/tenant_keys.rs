//! A tenant's request rewrite: every key, channel and pattern gets the tenant's prefix, and what
//! would reach across tenants is contained (FLUSHALL, DBSIZE, RANDOMKEY become scripts over the
//! tenant's keys) or refused with an error that says why.
//!
//! Invariant: after [`rewrite`] returns `Ok`, every argument Redis reads as a key, channel or
//! pattern starts with the prefix (patterns with the prefix glob-escaped), as far as the key specs
//! in `keyspecs.txt` plus the explicit cases here can tell; commands whose keys cannot be told
//! (not in the table) are refused.

use bytes::Bytes;

use super::tenant_lua::{COUNT_SCRIPT, FLUSH_SCRIPT, RANDOM_SCRIPT};
use super::Verdict;
use crate::command::keys::{key_positions_of, lookup};
use crate::command::Command;
use crate::protocol::Reply;

/// Commands refused for tenants besides those Redis flags `admin`: they reach other databases,
/// other tenants' scripts and functions, or the whole keyspace.
const REFUSED: &[&str] = &[
    "migrate",
    "move",
    "swapdb",
    "script|flush",
    "script|kill",
    "script|debug",
    "function",
    "fcall",
    "fcall_ro",
    "pubsub|numpat",
    "client|tracking",
    "client|caching",
    "client|getredir",
    "client|trackinginfo",
    "cluster",
    "acl",
];

/// Replies to these carry key or channel names the client must see without the prefix.
const STRIPPED_REPLIES: &[&str] = &[
    "keys",
    "scan",
    "blpop",
    "brpop",
    "bzpopmin",
    "bzpopmax",
    "lmpop",
    "zmpop",
    "blmpop",
    "bzmpop",
    "xread",
    "xreadgroup",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "pubsub|channels",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
];

/// `prefix` + `arg`.
pub fn prefixed(prefix: &[u8], arg: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(prefix.len() + arg.len());
    v.extend_from_slice(prefix);
    v.extend_from_slice(arg);
    Bytes::from(v)
}

/// `prefix` with the glob characters escaped, so a pattern made from it matches it literally.
pub fn escaped(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 4);
    for &b in prefix {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

fn refused(name: &str, why: &str) -> Reply {
    Reply::error(format!("ERR '{name}' is not allowed for tenants: {why}"))
}

/// Rewrites `cmd` for the tenant whose keys start with `prefix`.
pub fn rewrite(prefix: &[u8], cmd: &mut Command) -> Result<Verdict, Reply> {
    let Some(info) = lookup(cmd) else {
        return Err(Reply::error(format!(
            "ERR unknown command '{}': the sidecar cannot tell its keys, so it is not allowed for tenants",
            String::from_utf8_lossy(&cmd.name()[..cmd.name().len().min(64)])
        )));
    };
    let name = info.name.as_str();
    if info.has_flag("admin") {
        return Err(refused(name, "it administers the whole server"));
    }
    let base = name.split('|').next().unwrap_or(name);
    if REFUSED.contains(&name) || REFUSED.contains(&base) {
        return Err(refused(name, "it reaches beyond the tenant's own keys"));
    }
    // Built only by the commands that take a pattern (this runs for every tenant request).
    let glob = |p: &[u8]| Bytes::from([&escaped(prefix)[..], p].concat());
    let verdict = Verdict {
        rewrite_reply: STRIPPED_REPLIES.contains(&name),
    };
    let args = cmd.args_mut();
    match name {
        "flushall" | "flushdb" => {
            match &args[1..] {
                [] => {}
                [mode]
                    if mode.eq_ignore_ascii_case(b"async")
                        || mode.eq_ignore_ascii_case(b"sync") => {}
                _ => return Err(Reply::error("ERR syntax error")),
            }
            *args = script(FLUSH_SCRIPT, glob(b"*"), prefix);
            return Ok(Verdict::default());
        }
        "dbsize" => {
            *args = script(COUNT_SCRIPT, glob(b"*"), prefix);
            return Ok(Verdict::default());
        }
        "randomkey" => {
            *args = script(RANDOM_SCRIPT, glob(b"*"), prefix);
            return Ok(Verdict {
                rewrite_reply: true,
            });
        }
        "keys" => {
            if let Some(p) = args.get_mut(1) {
                *p = glob(p);
            }
        }
        "scan" => {
            let mut i = 2;
            let mut matched = false;
            while i + 1 < args.len() {
                if args[i].eq_ignore_ascii_case(b"match") {
                    args[i + 1] = glob(&args[i + 1]);
                    matched = true;
                }
                i += 2;
            }
            if !matched {
                args.push(Bytes::from_static(b"MATCH"));
                args.push(glob(b"*"));
            }
        }
        "subscribe" | "unsubscribe" | "publish" => {
            let end = if name == "publish" { 2 } else { args.len() };
            for a in args.iter_mut().take(end).skip(1) {
                *a = prefixed(prefix, a);
            }
        }
        "psubscribe" | "punsubscribe" => {
            for a in args.iter_mut().skip(1) {
                *a = glob(a);
            }
        }
        "pubsub|channels" | "pubsub|shardchannels" => match args.len() {
            2 => args.push(glob(b"*")),
            _ => args[2] = glob(&args[2]),
        },
        "pubsub|numsub" | "pubsub|shardnumsub" => {
            for a in args.iter_mut().skip(2) {
                *a = prefixed(prefix, a);
            }
        }
        "sort" | "sort_ro" => sort_patterns(prefix, args),
        _ => {}
    }
    for i in key_positions_of(info, &cmd.args) {
        let args = cmd.args_mut();
        args[i] = prefixed(prefix, &args[i]);
    }
    Ok(verdict)
}

/// EVAL `body` 0 `pattern` `prefix`: the scripts in `tenant_lua` take the escaped glob and the
/// raw prefix as ARGV.
fn script(body: &'static str, pattern: Bytes, prefix: &[u8]) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"EVAL"),
        Bytes::from_static(body.as_bytes()),
        Bytes::from_static(b"0"),
        pattern,
        Bytes::copy_from_slice(prefix),
    ]
}

/// SORT's keys the specs cannot give: the BY and GET patterns (GET # is the element itself) and
/// the STORE destination. The sorted key itself comes from the spec.
fn sort_patterns(prefix: &[u8], args: &mut [Bytes]) {
    let mut i = 2;
    while i < args.len() {
        let word = &args[i];
        if word.eq_ignore_ascii_case(b"limit") {
            i += 3;
        } else if word.eq_ignore_ascii_case(b"by") || word.eq_ignore_ascii_case(b"store") {
            if let Some(p) = args.get_mut(i + 1) {
                *p = prefixed(prefix, p);
            }
            i += 2;
        } else if word.eq_ignore_ascii_case(b"get") {
            if let Some(p) = args.get_mut(i + 1).filter(|p| &p[..] != b"#") {
                *p = prefixed(prefix, p);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// Whether `cmd` (as rewritten) is the RANDOMKEY script, whose reply is a key.
pub fn is_random_script(cmd: &Command) -> bool {
    cmd.is("eval")
        && cmd
            .args
            .get(1)
            .is_some_and(|b| &b[..] == RANDOM_SCRIPT.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Vec<String>, String> {
        let mut cmd = Command::from_strs(args);
        match rewrite(b"t:", &mut cmd) {
            Ok(_) => Ok(cmd
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()),
            Err(Reply::Error(e)) => Err(String::from_utf8_lossy(&e).into_owned()),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn prefixes_every_key() {
        assert_eq!(run(&["GET", "k"]).unwrap(), ["GET", "t:k"]);
        assert_eq!(
            run(&["MSET", "a", "1", "b", "2"]).unwrap(),
            ["MSET", "t:a", "1", "t:b", "2"]
        );
        assert_eq!(
            run(&["EVAL", "return 1", "1", "k", "v"]).unwrap(),
            ["EVAL", "return 1", "1", "t:k", "v"]
        );
        assert_eq!(
            run(&[
                "SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*->f", "LIMIT", "0", "1", "STORE",
                "d"
            ])
            .unwrap(),
            [
                "SORT", "t:l", "BY", "t:w_*", "GET", "#", "GET", "t:o_*->f", "LIMIT", "0", "1",
                "STORE", "t:d"
            ]
        );
        assert_eq!(run(&["SCAN", "0"]).unwrap(), ["SCAN", "0", "MATCH", "t:*"]);
        assert_eq!(
            run(&["SCAN", "0", "MATCH", "a*", "COUNT", "5"]).unwrap(),
            ["SCAN", "0", "MATCH", "t:a*", "COUNT", "5"]
        );
        assert_eq!(
            run(&["PUBLISH", "c", "m"]).unwrap(),
            ["PUBLISH", "t:c", "m"]
        );
        assert_eq!(
            run(&["PUBSUB", "CHANNELS"]).unwrap(),
            ["PUBSUB", "CHANNELS", "t:*"]
        );
    }

    #[test]
    fn escapes_glob_characters_of_the_prefix() {
        let mut cmd = Command::from_strs(&["KEYS", "*"]);
        rewrite(b"a*[b]:", &mut cmd).unwrap();
        assert_eq!(&cmd.args[1][..], b"a\\*\\[b\\]:*");
    }

    #[test]
    fn refuses_what_reaches_across_tenants() {
        for args in [
            &["CONFIG", "GET", "*"][..],
            &["DEBUG", "SLEEP", "0"],
            &["SHUTDOWN"],
            &["MONITOR"],
            &["CLIENT", "KILL", "ID", "1"],
            &["SCRIPT", "FLUSH"],
            &["FUNCTION", "LIST"],
            &["MIGRATE", "h", "1", "k", "0", "1"],
            &["MOVE", "k", "1"],
            &["SWAPDB", "0", "1"],
            &["NOSUCH", "k"],
        ] {
            let err = run(args).unwrap_err();
            assert!(err.contains("not allowed for tenants"), "{args:?}: {err}");
        }
        assert_eq!(run(&["FLUSHALL", "NOW"]).unwrap_err(), "ERR syntax error");
    }
}
