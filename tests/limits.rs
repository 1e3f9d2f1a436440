//! Client limits: the client past `limits.max_clients` is refused with Redis's error and closed,
//! and the others are not disturbed.

mod support;

use std::time::Duration;

use redis_sidecar::config::Cli;
use support::{RawClient, Sidecar};

#[test]
fn the_client_past_max_clients_is_refused_and_the_others_go_on() {
    let file = support::temp_dir().join("sidecar.toml");
    std::fs::write(&file, "[limits]\nmax_clients = 50\n").unwrap();
    let sidecar = Sidecar::start(Cli {
        config: Some(file),
        ..Cli::default()
    });
    let mut clients: Vec<RawClient> = (0..50).map(|_| sidecar.client()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(
            c.call(&["SET", &format!("k{i}"), "v"]),
            "+OK\r\n",
            "client {i} is served"
        );
    }
    let mut refused = sidecar.client();
    refused.set_read_timeout(Duration::from_secs(5));
    assert_eq!(
        refused.read_reply(),
        "-ERR max number of clients reached\r\n"
    );
    assert!(
        refused.try_read_reply().is_none(),
        "the refused client is closed"
    );
    assert_eq!(
        clients[0].call(&["GET", "k49"]),
        "$1\r\nv\r\n",
        "the others are undisturbed"
    );
    // A slot frees when a client leaves.
    drop(clients.pop());
    support::wait_until("a freed slot to be usable", Duration::from_secs(5), || {
        let mut again = sidecar.client();
        again.call(&["PING"]) == "+PONG\r\n"
    });
}
