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

/// The sidecar's reply to a request of `size` bytes over the default limit.
fn size_error(size: usize) -> String {
    format!("-ERR max request size exceeded: {size} bytes, limit 10485760\r\n")
}

#[test]
fn an_oversized_set_is_refused_never_reaches_the_upstream_and_the_connection_goes_on() {
    let redis = support::RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    let mut client = sidecar.client();
    let value = vec![b'v'; 11 * 1024 * 1024];
    let mut frame = bytes::BytesMut::new();
    redis_sidecar::command::encode_args(&[b"SET", b"big", &value[..]], &mut frame);
    // Pipelined between two good requests: three replies, in order.
    let mut pipeline = b"*3\r\n$3\r\nSET\r\n$6\r\nbefore\r\n$1\r\n1\r\n".to_vec();
    pipeline.extend_from_slice(&frame);
    pipeline.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$6\r\nbefore\r\n");
    client.write_raw(&pipeline);
    assert_eq!(client.read_reply(), "+OK\r\n");
    assert_eq!(client.read_reply(), size_error(frame.len()).as_str());
    assert_eq!(client.read_reply(), "$1\r\n1\r\n");
    assert_eq!(
        client.call(&["PING"]),
        "+PONG\r\n",
        "the connection goes on"
    );
    assert_eq!(
        redis.client().call(&["EXISTS", "big"]),
        ":0\r\n",
        "nothing of it reached the upstream"
    );
}

#[test]
fn the_embedded_store_refuses_an_oversized_request_the_same_way() {
    let sidecar = Sidecar::embedded();
    let mut client = sidecar.client();
    let value = vec![b'v'; 10 * 1024 * 1024];
    let mut frame = bytes::BytesMut::new();
    redis_sidecar::command::encode_args(&[b"SET", b"big", &value[..]], &mut frame);
    client.write_raw(&frame);
    assert_eq!(client.read_reply(), size_error(frame.len()).as_str());
    assert_eq!(client.call(&["EXISTS", "big"]), ":0\r\n");
}

/// A raised `max_request_bytes` is honoured past the 32 MiB the sidecar buffers before it stops
/// reading a client: a request that large is read whole and served, not left waiting forever.
fn a_request_larger_than_the_backpressure_bound_is_served(upstream: Option<&support::RedisServer>) {
    let sidecar = sidecar_with_limits(upstream, "max_request_bytes = 67108864");
    let mut client = sidecar.client();
    client.set_read_timeout(Duration::from_secs(60));
    let value = support::Rng(3).bytes(40 << 20);
    assert_eq!(client.call_bytes(&[b"SET", b"big", &value]), "+OK\r\n");
    assert_eq!(
        client.call(&["STRLEN", "big"]),
        format!(":{}\r\n", value.len())
    );
    let got = client.call(&["GET", "big"]);
    let header = format!("${}\r\n", value.len());
    assert!(got.starts_with(header.as_bytes()));
    assert_eq!(&got[header.len()..got.len() - 2], &value[..]);
    if let Some(redis) = upstream {
        assert_eq!(
            redis.client().call(&["STRLEN", "big"]),
            format!(":{}\r\n", value.len())
        );
    }
}

#[test]
fn embedded_serves_a_request_larger_than_the_backpressure_bound() {
    a_request_larger_than_the_backpressure_bound_is_served(None);
}

#[test]
fn forwarding_serves_a_request_larger_than_the_backpressure_bound() {
    let redis = support::RedisServer::start();
    a_request_larger_than_the_backpressure_bound_is_served(Some(&redis));
}

/// Starts a sidecar with `[limits] toml`, embedded or in front of a real redis-server.
fn sidecar_with_limits(upstream: Option<&support::RedisServer>, toml: &str) -> Sidecar {
    let file = support::temp_dir().join("sidecar.toml");
    std::fs::write(&file, format!("[limits]\n{toml}\n")).unwrap();
    Sidecar::start(Cli {
        config: Some(file),
        upstream: upstream.map(|r| r.url()),
        ..Cli::default()
    })
}

/// True once the server has closed `client` (it reads EOF).
fn closed(client: &mut RawClient) -> bool {
    client.set_read_timeout(Duration::from_millis(100));
    let mut probe = [0u8; 1];
    matches!(client.peek(&mut probe), Ok(0))
}

fn stalled_clients_are_dropped_and_the_exempt_are_not(upstream: Option<&support::RedisServer>) {
    let sidecar = sidecar_with_limits(upstream, "idle_timeout_s = 1");
    let mut subscriber = sidecar.client();
    assert!(subscriber
        .call(&["SUBSCRIBE", "news"])
        .starts_with(b"*3\r\n"));
    let mut blocked = sidecar.client();
    blocked.send(&[b"BLPOP", b"jobs", b"0"]);
    let mut stalled = sidecar.client();
    stalled.write_raw(b"*2\r\n$3\r\nGET\r\n$1");
    let mut quiet = sidecar.client();
    assert_eq!(quiet.call(&["PING"]), "+PONG\r\n");
    let mut busy = sidecar.client();
    support::wait_until(
        "the stalled client to be dropped",
        Duration::from_secs(10),
        || {
            assert_eq!(busy.call(&["PING"]), "+PONG\r\n", "a busy client is kept");
            closed(&mut stalled)
        },
    );
    support::wait_until(
        "the idle client to be dropped",
        Duration::from_secs(5),
        || closed(&mut quiet),
    );
    // The subscriber and the blocked client waited as long, and are still there.
    assert_eq!(busy.call(&["PUBLISH", "news", "hi"]), ":1\r\n");
    subscriber.set_read_timeout(Duration::from_secs(5));
    assert_eq!(
        subscriber.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
    assert_eq!(busy.call(&["LPUSH", "jobs", "j1"]), ":1\r\n");
    blocked.set_read_timeout(Duration::from_secs(5));
    assert_eq!(blocked.read_reply(), "*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n");
}

#[test]
fn embedded_idle_timeout_drops_stalled_and_idle_clients_only() {
    stalled_clients_are_dropped_and_the_exempt_are_not(None);
}

#[test]
fn forwarding_idle_timeout_drops_stalled_and_idle_clients_only() {
    let redis = support::RedisServer::start();
    stalled_clients_are_dropped_and_the_exempt_are_not(Some(&redis));
}

fn a_subscriber_that_stops_reading_is_disconnected(upstream: Option<&support::RedisServer>) {
    let sidecar = sidecar_with_limits(upstream, "pubsub_output_limit = \"1mb 0 0\"");
    let mut subscriber = sidecar.client();
    assert!(subscriber
        .call(&["SUBSCRIBE", "firehose"])
        .starts_with(b"*3\r\n"));
    let mut publisher = sidecar.client();
    let message = vec![b'm'; 100 * 1024];
    let mut published = 0;
    // The subscriber reads nothing: past the socket buffers and 1 MB more, it is cut off.
    loop {
        let reply = publisher.call_bytes(&[b"PUBLISH", b"firehose", &message]);
        if reply == ":0\r\n" {
            break;
        }
        assert_eq!(reply, ":1\r\n");
        published += 1;
        assert!(
            published < 2000,
            "the subscriber was never disconnected (200 MB published)"
        );
    }
    assert_eq!(
        publisher.call(&["PING"]),
        "+PONG\r\n",
        "the publisher goes on"
    );
    // What the subscriber can still read ends with the connection closing.
    subscriber.set_read_timeout(Duration::from_secs(5));
    let mut received = 0;
    while subscriber.try_read_reply().is_some() {
        received += 1;
    }
    assert!(received < published, "{received} of {published} delivered");
}

#[test]
fn embedded_subscriber_past_its_output_limit_is_disconnected() {
    a_subscriber_that_stops_reading_is_disconnected(None);
}

#[test]
fn forwarding_subscriber_past_its_output_limit_is_disconnected() {
    let redis = support::RedisServer::start();
    a_subscriber_that_stops_reading_is_disconnected(Some(&redis));
}
