//! Randomized isolation: for every command in the key-spec table that takes keys (and that the
//! backend implements), alice and bob hold data under the same logical names; bob runs the
//! command with random arguments against those names; alice's data must be unchanged (a
//! fingerprint of every one of her raw keys: TYPE plus a type-specific read) and bob's reply
//! must hold nothing of hers (every value of alice's carries the token `alice-`).

mod support;
mod tenant_templates;

use std::collections::BTreeSet;

use redis_sidecar::command::keys::all_commands;
use redis_sidecar::config::Cli;
use support::{temp_dir, RawClient, RedisServer, Rng, Sidecar};
use tenant_templates::TEMPLATES;

const CONFIG: &str = "[auth]\npassword = \"root-secret\"\n\
    [[tenants]]\nuser = \"alice\"\npassword = \"alice-secret\"\nprefix = \"ws:alice:\"\n\
    [[tenants]]\nuser = \"bob\"\npassword = \"bob-secret\"\nprefix = \"ws:bob:\"\n";

/// Key-taking commands the sidecar refuses for tenants (checked to be refused, not run).
const REFUSED: &[&str] = &["migrate", "move", "fcall", "fcall_ro", "pfdebug"];

const GET_SCRIPT: &str = "return redis.call('GET', KEYS[1])";

/// The same data under the same logical names for `who`; every value carries `who-`.
fn seed(c: &mut RawClient, who: &str) {
    assert_eq!(&c.call(&["FLUSHALL"])[..], b"+OK\r\n");
    let t = |s: &str| format!("{who}-{s}");
    let cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s".into(), t("s")],
        vec!["SET".into(), "s2".into(), t("s2")],
        vec!["SET".into(), "n".into(), "42".into()],
        vec!["RPUSH".into(), "l".into(), t("e1"), t("e2"), t("e3")],
        vec!["RPUSH".into(), "l2".into(), t("e4")],
        vec![
            "HSET".into(),
            "h".into(),
            "f1".into(),
            t("v1"),
            "f2".into(),
            t("v2"),
        ],
        vec!["SADD".into(), "st".into(), t("m1"), t("m2"), t("m3")],
        vec!["SADD".into(), "st2".into(), t("m2"), t("m4")],
        vec![
            "ZADD".into(),
            "z".into(),
            "1".into(),
            t("m1"),
            "2".into(),
            t("m2"),
        ],
        vec!["ZADD".into(), "z2".into(), "3".into(), t("m3")],
        vec!["XADD".into(), "x".into(), "1-1".into(), "f".into(), t("x1")],
        vec![
            "XGROUP".into(),
            "CREATE".into(),
            "x".into(),
            "g".into(),
            "0".into(),
        ],
        vec![
            "XREADGROUP".into(),
            "GROUP".into(),
            "g".into(),
            "c".into(),
            "STREAMS".into(),
            "x".into(),
            ">".into(),
        ],
        vec![
            "GEOADD".into(),
            "g".into(),
            "13.361389".into(),
            "38.115556".into(),
            t("g1"),
            "15.087269".into(),
            "37.502669".into(),
            t("g2"),
        ],
        vec!["PFADD".into(), "p".into(), t("p1")],
    ];
    for cmd in cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let reply = c.call(&args);
        // The embedded store may lack a type (GEO, HyperLogLog): those keys are left out.
        let unknown = reply.starts_with(b"-ERR unknown command");
        assert!(!reply.starts_with(b"-") || unknown, "{args:?}: {reply:?}");
    }
}

/// Every raw key of alice's with its type and a type-specific read of its content.
fn fingerprint(admin: &mut RawClient) -> Vec<(String, Vec<u8>)> {
    let keys = admin.call(&["KEYS", "ws:alice:*"]);
    let mut names: BTreeSet<String> = BTreeSet::new();
    if let Some(redis_sidecar::protocol::Reply::Array(items)) =
        redis_sidecar::protocol::parse_reply(&keys)
    {
        for k in items {
            if let redis_sidecar::protocol::Reply::Bulk(b) = k {
                names.insert(String::from_utf8(b.to_vec()).unwrap());
            }
        }
    }
    let mut out = Vec::new();
    for k in names {
        let kind = admin.call(&["TYPE", &k]);
        let mut print = kind.to_vec();
        let read: &[&str] = match &kind[..] {
            b"+string\r\n" => &["GET"],
            b"+list\r\n" => &["LRANGE", "", "0", "-1"],
            b"+hash\r\n" => &["HGETALL"],
            b"+set\r\n" => &["SORT", "", "ALPHA"],
            b"+zset\r\n" => &["ZRANGE", "", "0", "-1", "WITHSCORES"],
            b"+stream\r\n" => &["XRANGE", "", "-", "+"],
            _ => &[],
        };
        if !read.is_empty() {
            let mut args: Vec<&str> = read.to_vec();
            if args.len() == 1 {
                args.push(&k);
            } else {
                args[1] = &k;
            }
            print.extend_from_slice(&admin.call(&args));
            print.extend_from_slice(
                &admin
                    .call(&["PTTL", &k])
                    .starts_with(b":-1")
                    .to_string()
                    .into_bytes(),
            );
        }
        if &kind[..] == b"+stream\r\n" {
            print.extend_from_slice(&admin.call(&["XINFO", "GROUPS", &k]));
            print.extend_from_slice(&admin.call(&["XPENDING", &k, "g"]));
        }
        out.push((k, print));
    }
    out
}

fn isolation(sidecar: &Sidecar, mut admin: RawClient, implemented: impl Fn(&str) -> bool) {
    let seed_value = std::env::var("TENANT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("TENANT_SEED={seed_value}");
    let mut rng = Rng(seed_value);
    let login = |user: &str| {
        let mut c = sidecar.client();
        assert_eq!(
            &c.call(&["AUTH", user, &format!("{user}-secret")])[..],
            b"+OK\r\n"
        );
        c
    };
    let mut alice = login("alice");
    seed(&mut alice, "alice");
    let before = fingerprint(&mut admin);
    assert!(before.len() >= 10, "alice's data is in place: {before:?}");
    let mut bob = login("bob");
    let sha = String::from_utf8(bob.call(&["SCRIPT", "LOAD", GET_SCRIPT])[5..45].to_vec()).unwrap();
    let mut commands: Vec<&str> = all_commands()
        .filter(|c| c.takes_keys())
        .map(|c| c.name.as_str())
        .collect();
    commands.sort();
    // Random order, so one command's effect on bob's data varies what the next one sees.
    for i in (1..commands.len()).rev() {
        commands.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let (mut ran, mut skipped, mut not_covered) = (0, Vec::new(), Vec::new());
    for name in commands {
        if REFUSED.contains(&name) {
            let mut args = vec![name.split('|').next().unwrap(), "s"];
            args.extend(["x", "y", "z", "w"]);
            let reply = bob.call(&args);
            assert!(
                reply.starts_with(b"-ERR '"),
                "{name} must be refused: {reply:?}"
            );
            continue;
        }
        if !implemented(name) {
            skipped.push(name);
            continue;
        }
        let Some((_, template)) = TEMPLATES.iter().find(|(n, _)| *n == name) else {
            not_covered.push(name);
            continue;
        };
        seed(&mut bob, "bob");
        let dump = match redis_sidecar::protocol::parse_reply(&bob.call(&["DUMP", "s"])) {
            Some(redis_sidecar::protocol::Reply::Bulk(b)) => b.to_vec(),
            _ => b"no-dump".to_vec(), // the backend lacks DUMP
        };
        let mut args: Vec<Vec<u8>> = Vec::new();
        for word in template.split(' ') {
            args.push(match word {
                "{v}" => format!("bob-{}", rng.next() % 1000).into_bytes(),
                "{i}" => (rng.next() % 100 + 1).to_string().into_bytes(),
                "{sha}" => sha.clone().into_bytes(),
                "{dump}" => dump.clone(),
                "GET_SCRIPT" => GET_SCRIPT.as_bytes().to_vec(),
                w => w.as_bytes().to_vec(),
            });
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let subscribing = name == "ssubscribe" || name == "sunsubscribe";
        let reply = if subscribing {
            login("bob").call_bytes(&refs)
        } else {
            bob.call_bytes(&refs)
        };
        if name == "watch" {
            bob.call(&["UNWATCH"]);
        }
        assert!(
            !reply.windows(6).any(|w| w == b"alice-"),
            "{template}: bob saw alice's data: {reply:?}"
        );
        let after = fingerprint(&mut admin);
        assert_eq!(
            before, after,
            "{template} (seed {seed_value}): alice's data changed; bob got {reply:?}"
        );
        ran += 1;
    }
    println!(
        "ran {ran}; not implemented by this backend: {skipped:?}; not covered: {not_covered:?}"
    );
    assert!(
        not_covered.is_empty(),
        "commands without a template: {not_covered:?}"
    );
    assert!(ran > 150, "only {ran} commands ran");
}

#[test]
fn bob_cannot_read_or_change_alices_data_upstream() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), CONFIG);
    isolation(&sidecar, redis.client(), |_| true);
}

#[test]
fn bob_cannot_read_or_change_alices_data_embedded() {
    let file = temp_dir().join("tenants.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let sidecar = Sidecar::start(Cli {
        config: Some(file),
        ..Cli::default()
    });
    let mut admin = sidecar.client();
    admin.call(&["AUTH", "root-secret"]);
    isolation(&sidecar, admin, |name| {
        redis_sidecar::store::table::lookup(name.split('|').next().unwrap().as_bytes()).is_some()
    });
}
