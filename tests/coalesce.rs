//! Nagle's rule on the pool connections (`upstream.coalesce_below_rtt_us`), against a real
//! redis-server: while a write's replies are awaited, other clients' commands wait for them and
//! then go out in one write; with the rule off, each goes out at once.
//!
//! The upstream is held with `CLIENT PAUSE WRITE`, so the first SET stays awaited for as long
//! as the test needs; what the sidecar wrote is read from `redis_sidecar_upstream_writes_total`.
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

/// Three clients each send one SET while the first is held upstream; returns how many writes
/// the pool made for them. With `hold`, the test also shows the later two were not written
/// while the first was awaited.
fn writes_for_three_sets(redis: &RedisServer, coalesce_below_rtt_us: u64, tag: &str) -> f64 {
    let sidecar = Sidecar::with_config(
        &redis.url(),
        &format!("[upstream]\ncoalesce_below_rtt_us = {coalesce_below_rtt_us}\n"),
    );
    let mut clients: Vec<RawClient> = (0..3).map(|_| sidecar.client()).collect();
    // A first round trip: the connection opens and measures it (far below the bound).
    assert_eq!(clients[0].call(&["GET", "coalesce:warm"]), "$-1\r\n");
    let start = metric(&sidecar, WRITES);
    let written = || metric(&sidecar, WRITES) - start;

    let mut admin = redis.client();
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "20000", "WRITE"]),
        "+OK\r\n"
    );
    send_set(&sidecar, &mut clients[0], &format!("{tag}:a"));
    wait_until("the first SET's write", Duration::from_secs(10), || {
        written() == 1.0
    });
    send_set(&sidecar, &mut clients[1], &format!("{tag}:b"));
    if coalesce_below_rtt_us == 0 {
        wait_until(
            "the second SET written at once",
            Duration::from_secs(10),
            || written() == 2.0,
        );
    }
    send_set(&sidecar, &mut clients[2], &format!("{tag}:c"));
    if coalesce_below_rtt_us == 0 {
        wait_until(
            "the third SET written at once",
            Duration::from_secs(10),
            || written() == 3.0,
        );
    } else {
        assert_eq!(written(), 1.0, "the later SETs wait for the first's reply");
    }
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    for c in &mut clients {
        c.set_read_timeout(Duration::from_secs(10));
        assert_eq!(c.read_reply(), "+OK\r\n");
    }
    for key in ["a", "b", "c"] {
        assert_eq!(admin.call(&["GET", &format!("{tag}:{key}")]), "$1\r\nv\r\n");
    }
    written()
}

#[test]
fn commands_wait_for_a_near_upstreams_awaited_write_and_go_out_together() {
    let redis = RedisServer::start();
    assert_eq!(
        writes_for_three_sets(&redis, 100_000, "coalesce:on"),
        2.0,
        "the first SET, then the other two in one write"
    );
    assert_eq!(
        writes_for_three_sets(&redis, 0, "coalesce:off"),
        3.0,
        "with the rule off, one write each"
    );
}
