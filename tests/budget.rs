//! The command-cost budget against a real redis-server through the sidecar.

mod support;

use redis_sidecar::config::{Cli, Config};
use support::{temp_dir, RawClient, RedisServer, Sidecar};

const REFUSED_DAILY: &str =
    "-ERR max daily request limit exceeded: used 20 of 20 cost units in the last 24h, resets in ";

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

#[test]
fn ten_sets_and_one_smembers_pass_then_the_next_set_is_refused_and_never_sent() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(
        &redis.url(),
        "[budget]\nlimit = 20\n[budget.costs]\nSMEMBERS = 10\n",
    );
    let mut c = sidecar.client();
    for i in 0..10 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    assert_eq!(c.call(&["SMEMBERS", "s"]), "*0\r\n");
    let refused = text(&c.call(&["SET", "k10", "v"]));
    assert!(refused.starts_with(REFUSED_DAILY), "{refused}");
    let seconds: u64 = refused[REFUSED_DAILY.len()..].trim_end()[..]
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!((86_300..=86_400).contains(&seconds), "{refused}");
    assert_eq!(c.call(&["PING"]), "+PONG\r\n", "PING is free");
    assert_eq!(redis.client().call(&["EXISTS", "k10"]), ":0\r\n");
    assert_eq!(
        redis.calls("set"),
        10,
        "the refused SET never reached the upstream"
    );
    // Every connection shares the count.
    let refused = text(&sidecar.client().call(&["GET", "k1"]));
    assert!(
        refused.starts_with("-ERR max daily request limit exceeded"),
        "{refused}"
    );
}

#[test]
fn pipelines_and_transactions_count_command_by_command() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), "[budget]\nlimit = 7\nwindow = \"1h\"\n");
    let mut c = sidecar.client();
    // MULTI, two SETs and EXEC: four units.
    for (cmd, want) in [
        (vec!["MULTI"], "+OK\r\n"),
        (vec!["SET", "a", "1"], "+QUEUED\r\n"),
        (vec!["SET", "b", "2"], "+QUEUED\r\n"),
        (vec!["EXEC"], "*2\r\n+OK\r\n+OK\r\n"),
    ] {
        assert_eq!(c.call(&cmd), want, "{cmd:?}");
    }
    // A pipeline of five INCRs in one write: three fit.
    let mut pipeline = bytes::BytesMut::new();
    for _ in 0..5 {
        redis_sidecar::command::encode_args(&[&b"INCR"[..], b"n"], &mut pipeline);
    }
    c.write_raw(&pipeline);
    let replies: Vec<String> = (0..5).map(|_| text(&c.read_reply())).collect();
    assert_eq!(&replies[..3], [":1\r\n", ":2\r\n", ":3\r\n"]);
    for r in &replies[3..] {
        assert!(
            r.starts_with(
                "-ERR max hourly request limit exceeded: used 7 of 7 cost units in the last 1h"
            ),
            "{r}"
        );
    }
    assert_eq!(redis.client().call(&["GET", "n"]), "$1\r\n3\r\n");
}

#[test]
fn what_the_embedded_store_serves_costs_nothing() {
    let file = temp_dir().join("sidecar.toml");
    std::fs::write(&file, "[budget]\nlimit = 1\n").unwrap();
    let sidecar = Sidecar::start(Cli {
        config: Some(file),
        ..Cli::default()
    });
    let mut c = sidecar.client();
    for i in 0..5 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
}

#[test]
fn an_invalid_budget_names_its_fields() {
    let file = temp_dir().join("sidecar.toml");
    std::fs::write(
        &file,
        "[budget]\nlimit = \"lots\"\nwindow = \"fortnightly\"\n[budget.costs]\nSMEMBRES = 10\n",
    )
    .unwrap();
    let cli = Cli {
        config: Some(file),
        ..Cli::default()
    };
    let err = Config::load_with_env(&cli, |_| None)
        .unwrap_err()
        .to_string();
    for field in ["budget.limit", "budget.window", "budget.costs.SMEMBRES"] {
        assert!(err.contains(field), "{field} not named in:\n{err}");
    }
}

/// Three sidecars share one count through the upstream: together they serve at least the
/// limit and at most the limit plus one lease each, and every refused command stays home.
#[test]
fn three_sidecars_share_one_count_with_an_overshoot_of_at_most_one_lease_each() {
    const LIMIT: u64 = 60;
    const LEASE: u64 = 4;
    const BURST: usize = 10;
    let redis = RedisServer::start();
    let config =
        format!("[budget]\nlimit = {LIMIT}\nwindow = \"1h\"\nshared = true\nlease = {LEASE}\n");
    let sidecars: Vec<Sidecar> = (0..3)
        .map(|_| Sidecar::with_config(&redis.url(), &config))
        .collect();
    let mut clients: Vec<RawClient> = sidecars.iter().map(Sidecar::client).collect();
    let mut served = 0u64;
    let mut done = [false; 3];
    let mut pending = 0;
    let mut n = 0;
    // Bursts of pipelined commands, so that pools run dry before their refills arrive.
    while done.iter().any(|d| !d) {
        for (i, c) in clients.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            let mut burst = bytes::BytesMut::new();
            for _ in 0..BURST {
                n += 1;
                let key = format!("k{n}");
                redis_sidecar::command::encode_args(
                    &[&b"SET"[..], key.as_bytes(), b"v"],
                    &mut burst,
                );
            }
            c.write_raw(&burst);
            for _ in 0..BURST {
                let reply = text(&c.read_reply());
                if reply == "+OK\r\n" {
                    served += 1;
                } else if reply.starts_with("-ERR max hourly request limit exceeded: used ") {
                    done[i] = true;
                } else if reply.starts_with("-ERR shared budget: this sidecar's lease is spent") {
                    pending += 1;
                } else {
                    panic!("unexpected reply {reply}");
                }
            }
            assert!(n < 20 * LIMIT, "the sidecars never stopped serving");
        }
    }
    assert!(
        (LIMIT..=LIMIT + 3 * LEASE).contains(&served),
        "served {served} for a limit of {LIMIT} with leases of {LEASE} ({pending} lease waits)"
    );
    assert_eq!(
        redis.calls("set"),
        served,
        "refused SETs reached the upstream"
    );
    let leases = redis.calls("eval");
    assert!(
        leases <= served / LEASE * 2 + 12,
        "{leases} lease calls for {served} commands"
    );
    // The count in the upstream never passes the limit.
    let keys = redis.client().call(&["KEYS", "sidecar:budget:*"]);
    let mut total = 0u64;
    for key in String::from_utf8_lossy(&keys)
        .lines()
        .filter(|l| l.starts_with("sidecar:"))
    {
        let v = redis.client().call(&["GET", key]);
        total += text(&v).lines().nth(1).unwrap().parse::<u64>().unwrap();
    }
    assert!(total <= LIMIT, "the shared count is {total}");
    eprintln!("served {served} of {LIMIT}, {pending} lease waits, {leases} lease calls, shared count {total}");
}
