//! The committed key-spec table (src/command/keyspecs.txt) must say exactly what the installed
//! redis-server says in `COMMAND`: the data the tenant prefixing relies on cannot rot.

mod support;

use redis_sidecar::command::keys::{parse_table, KEYSPECS};
use redis_sidecar::protocol::{parse_reply, Reply};
use support::RedisServer;

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Status(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Int(n) => n.to_string(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn items(r: &Reply) -> &[Reply] {
    match r {
        Reply::Array(v) | Reply::Set(v) => v,
        other => panic!("expected an array, got {other:?}"),
    }
}

/// Finds `key` in a flat [k, v, k, v] array.
fn field<'a>(flat: &'a Reply, key: &str) -> &'a Reply {
    let v = items(flat);
    let i = v
        .chunks(2)
        .position(|kv| text(&kv[0]) == key)
        .unwrap_or_else(|| panic!("no field {key} in {flat:?}"));
    &v[2 * i + 1]
}

/// The same line format scripts/gen-keyspecs.py writes.
fn spec_text(spec: &Reply) -> String {
    let bs = field(spec, "begin_search");
    let fk = field(spec, "find_keys");
    let begin = match text(field(bs, "type")).as_str() {
        "index" => format!("index:{}", text(field(field(bs, "spec"), "index"))),
        "keyword" => {
            let s = field(bs, "spec");
            format!(
                "keyword:{}:{}",
                text(field(s, "keyword")).to_lowercase(),
                text(field(s, "startfrom"))
            )
        }
        _ => "unknown".into(),
    };
    let find = match text(field(fk, "type")).as_str() {
        "range" => {
            let s = field(fk, "spec");
            let f = |k| text(field(s, k));
            format!("range:{},{},{}", f("lastkey"), f("keystep"), f("limit"))
        }
        "keynum" => {
            let s = field(fk, "spec");
            let f = |k| text(field(s, k));
            format!(
                "keynum:{},{},{}",
                f("keynumidx"),
                f("firstkey"),
                f("keystep")
            )
        }
        _ => "unknown".into(),
    };
    format!("{begin}/{find}")
}

fn lines(info: &Reply, out: &mut Vec<String>) {
    let v = items(info);
    let mut flags: Vec<String> = items(&v[2]).iter().map(text).collect();
    flags.sort();
    let flags = if flags.is_empty() {
        "-".to_string()
    } else {
        flags.join(",")
    };
    let mut line = format!("{} {} {}", text(&v[0]).to_lowercase(), text(&v[1]), flags);
    for spec in items(&v[8]) {
        line.push(' ');
        line.push_str(&spec_text(spec));
    }
    out.push(line);
    for sub in items(&v[9]) {
        lines(sub, out);
    }
}

#[test]
fn committed_key_specs_match_the_installed_redis_server() {
    let server = RedisServer::start();
    let reply = parse_reply(&server.client().call(&["COMMAND"])).expect("a valid reply");
    let mut live = Vec::new();
    for info in items(&reply) {
        lines(info, &mut live);
    }
    live.sort();
    let committed: Vec<&str> = KEYSPECS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect();
    let only_live: Vec<&String> = live
        .iter()
        .filter(|l| !committed.contains(&l.as_str()))
        .collect();
    let only_committed: Vec<&&str> = committed
        .iter()
        .filter(|l| !live.iter().any(|x| x == **l))
        .collect();
    assert!(
        only_live.is_empty() && only_committed.is_empty(),
        "src/command/keyspecs.txt differs from the installed redis-server; regenerate it with \
         scripts/gen-keyspecs.py.\nonly in the server:\n  {}\nonly committed:\n  {}",
        only_live
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_committed
            .iter()
            .map(|s| **s)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(parse_table(KEYSPECS).is_ok());
}
