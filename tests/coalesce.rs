//! Nagle's rule on the pool connections (`upstream.coalesce_below_rtt_us`), against a real
//! redis-server: while enough jobs' replies are awaited, other clients' commands wait for them
//! and then go out in one write; with fewer awaited, or the rule off, each goes out at once.
//!
//! The upstream is held with `CLIENT PAUSE WRITE`, so the SETs stay awaited for as long as the
//! test needs; what the sidecar wrote is read from `redis_sidecar_upstream_writes_total`.
//! Its own process: the counter is the process's, and only this test moves it.

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use std::time::Duration;

use support::{wait_until, RawClient, RedisServer, Sidecar};

const WRITES: &str = "redis_sidecar_upstream_writes_total";
const RECEIVED: &str = "redis_sidecar_client_received_bytes_total";

fn metric(sidecar: &Sidecar, series: &str) -> f64 {
    tools::value(&tools::scrape(sidecar.http), series)
}

/// Sends `SET key v` through `client` without waiting for the reply, and waits until the
/// sidecar has read it.
fn send_set(sidecar: &Sidecar, client: &mut RawClient, key: &str) {
    let before = metric(sidecar, RECEIVED);
    client.send(&[b"SET", key.as_bytes(), b"v"]);
    wait_until(
        &format!("the sidecar to read SET {key}"),
        Duration::from_secs(10),
        || metric(sidecar, RECEIVED) > before,
    );
}

/// The jobs a pool connection must be awaiting before new ones wait (`MIN_AWAITED` in
/// src/upstream/coalesce.rs).
const MIN_AWAITED: usize = 8;

/// `MIN_AWAITED` clients each send a SET while the upstream holds them all, then two more clients
/// send one each; returns how many writes the pool made for them. With the rule off, the test
/// also shows each of the last two was written at once.
fn writes_for_sets(redis: &RedisServer, coalesce_below_rtt_us: u64, tag: &str) -> f64 {
    let sidecar = Sidecar::with_config(
        &redis.url(),
        &format!("[upstream]\ncoalesce_below_rtt_us = {coalesce_below_rtt_us}\n"),
    );
    let mut clients: Vec<RawClient> = (0..MIN_AWAITED + 2).map(|_| sidecar.client()).collect();
    // A first round trip: the connection opens and measures it (far below the bound).
    assert_eq!(clients[0].call(&["GET", "coalesce:warm"]), "$-1\r\n");
    let start = metric(&sidecar, WRITES);
    let written = || metric(&sidecar, WRITES) - start;

    let mut admin = redis.client();
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "20000", "WRITE"]),
        "+OK\r\n"
    );
    for (i, client) in clients.iter_mut().enumerate() {
        send_set(&sidecar, client, &format!("{tag}:{i}"));
        if i < MIN_AWAITED || coalesce_below_rtt_us == 0 {
            wait_until(
                &format!("SET {i} written at once"),
                Duration::from_secs(10),
                || written() == (i + 1) as f64,
            );
        }
    }
    if coalesce_below_rtt_us > 0 {
        assert_eq!(
            written(),
            MIN_AWAITED as f64,
            "with that many awaited, the last two SETs wait for their replies"
        );
    }
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    for c in &mut clients {
        c.set_read_timeout(Duration::from_secs(10));
        assert_eq!(c.read_reply(), "+OK\r\n");
    }
    for i in 0..clients.len() {
        assert_eq!(admin.call(&["GET", &format!("{tag}:{i}")]), "$1\r\nv\r\n");
    }
    written()
}

#[test]
fn commands_wait_for_a_near_upstreams_awaited_writes_and_go_out_together() {
    let redis = RedisServer::start();
    assert_eq!(
        writes_for_sets(&redis, 100_000, "coalesce:on"),
        MIN_AWAITED as f64 + 1.0,
        "one write per SET until eight are awaited, then the last two in one write"
    );
    assert_eq!(
        writes_for_sets(&redis, 0, "coalesce:off"),
        MIN_AWAITED as f64 + 2.0,
        "with the rule off, one write each"
    );
}
