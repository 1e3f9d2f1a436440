//! Issue 9: misbehaving upstreams written for the test (tests/support/faulty.rs). An upstream that
//! accepts and never answers, closes in the middle of a reply, answers garbage, or stalls the TLS
//! handshake gives clients a clear error, or the fallback store's answer, within the configured
//! timeouts; never a hang, a crash, or garbage passed on as a reply. Afterwards the sidecar serves
//! a well-behaved client. Each fault runs with the fallback on (the default) and off where the
//! two differ.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::faulty::{
    assert_upstream_error, call, client, handshake, sidecar, swap_for_redis, until_answered, Act,
    Faulty,
};
use support::{show, wait_until, RawClient, Sidecar};

// 1. Accepts and never answers.

/// After a fault: a new client and the one that met the fault are both answered.
fn assert_both_served(sidecar: &Sidecar, c: &mut RawClient, context: &str) {
    let mut second = client(sidecar);
    assert_eq!(
        call(&mut second, &["PING"]),
        "+PONG⏎",
        "{context}: a new client"
    );
    assert_eq!(
        call(c, &["PING"]),
        "+PONG⏎",
        "{context}: the client that met it"
    );
}

#[test]
fn a_mute_upstream_is_a_connect_timeout_without_fallback() {
    let fault = Faulty::mute();
    // A password makes the sidecar wait for AUTH's answer when it connects.
    let sidecar = sidecar(&fault.url(":pw@"), false);
    let mut c = client(&sidecar);
    let reply = call(&mut c, &["GET", "k"]);
    assert_upstream_error(
        &reply,
        &format!("connect to {} timed out after 300 ms", fault.addr),
    );
    assert!(
        reply.ends_with("during AUTH⏎"),
        "names the step that stalled: {reply}"
    );
    // A RESP3 client's pool connection stalls on HELLO 3 the same way.
    let mut resp3 = client(&sidecar);
    assert!(call(&mut resp3, &["HELLO", "3"]).starts_with('%'));
    assert_upstream_error(&call(&mut resp3, &["GET", "k"]), "timed out after 300 ms");
    // Once a real Redis answers on that port, a second client is served.
    let redis = swap_for_redis(fault, &["--requirepass", "pw"]);
    let mut second = client(&sidecar);
    until_answered(&mut second, &["PING"], "+PONG⏎");
    assert_eq!(call(&mut second, &["SET", "k", "v"]), "+OK⏎");
    assert_eq!(redis.client().call(&["AUTH", "pw"]), "+OK\r\n");
    drop(redis);
}

#[test]
fn a_mute_upstream_is_served_by_the_fallback_then_replayed() {
    let fault = Faulty::mute();
    let sidecar = sidecar(&fault.url(":pw@"), true);
    let mut c = client(&sidecar);
    let first = call(&mut c, &["SET", "flow:state:1", "during"]);
    assert!(
        first == "+OK⏎" || first.contains("timed out after 300 ms"),
        "the fallback's answer or a clear timeout: {first}"
    );
    until_answered(&mut c, &["SET", "flow:state:1", "during"], "+OK⏎");
    assert_eq!(call(&mut c, &["GET", "flow:state:1"]), "$6⏎during⏎");
    let mut second = client(&sidecar);
    assert_eq!(call(&mut second, &["PING"]), "+PONG⏎");
    // The fault gives way to a real Redis: the write made meanwhile is replayed to it.
    let redis = swap_for_redis(fault, &["--requirepass", "pw"]);
    let mut direct = redis.client();
    direct.call(&["AUTH", "pw"]);
    wait_until("the journal to be replayed", Duration::from_secs(5), || {
        direct.call(&["GET", "flow:state:1"]) == "$6\r\nduring\r\n"
    });
}

/// Answers the handshake and PING, never a data command.
fn silent_after_handshake(args: &[Bytes]) -> Act {
    handshake(args).unwrap_or(Act::Silent)
}

#[test]
fn an_upstream_that_never_answers_commands_is_a_command_timeout() {
    // The health PING is answered, so the fallback does not engage: both configurations agree.
    for fallback in [false, true] {
        let fault = Faulty::start(silent_after_handshake);
        let sidecar = sidecar(&fault.url(":pw@"), fallback);
        let mut c = client(&sidecar);
        assert_upstream_error(&call(&mut c, &["GET", "k"]), "no reply within 300 ms");
        // The dead connection is replaced: a second client's PING is answered.
        assert_both_served(&sidecar, &mut c, &format!("fallback={fallback}"));
    }
}

#[test]
fn an_upstream_that_never_answers_even_ping_falls_back() {
    let fault = Faulty::start(|args: &[Bytes]| match handshake(args) {
        Some(_) if args[0].eq_ignore_ascii_case(b"ping") => Act::Silent,
        Some(act) => act,
        None => Act::Silent,
    });
    let sidecar = sidecar(&fault.url(":pw@"), true);
    let mut c = client(&sidecar);
    let first = call(&mut c, &["INCR", "n"]);
    assert!(
        first == ":1⏎" || first.contains("no reply within 300 ms"),
        "the fallback's answer or a clear timeout: {first}"
    );
    until_answered(&mut c, &["SET", "k", "v"], "+OK⏎");
    assert_eq!(call(&mut client(&sidecar), &["GET", "k"]), "$1⏎v⏎");
}

#[test]
fn a_pinned_client_on_an_upstream_that_never_answers_gets_a_timeout() {
    for fallback in [false, true] {
        let fault = Faulty::start(silent_after_handshake);
        let sidecar = sidecar(&fault.url(":pw@"), fallback);
        let mut c = client(&sidecar);
        assert_upstream_error(&call(&mut c, &["MULTI"]), "no reply within 300 ms");
        let mut second = client(&sidecar);
        assert_eq!(
            call(&mut second, &["PING"]),
            "+PONG⏎",
            "fallback={fallback}"
        );
    }
}

// 2. Closes in the middle of a reply.

/// Answers the handshake and PING; cuts every other reply short and closes.
fn cut_after_handshake(args: &[Bytes]) -> Act {
    handshake(args).unwrap_or(Act::Close(b"$10\r\nhel"))
}

#[test]
fn a_reply_cut_short_is_an_error_and_the_next_connection_serves() {
    // The health PING is answered, so the fallback does not engage: both configurations agree.
    for fallback in [false, true] {
        let fault = Faulty::start(cut_after_handshake);
        let sidecar = sidecar(&fault.url(":pw@"), fallback);
        let mut c = client(&sidecar);
        let reply = call(&mut c, &["GET", "k"]);
        assert_upstream_error(&reply, "connection closed by upstream");
        assert!(!reply.contains("hel⏎"), "no partial reply passes: {reply}");
        // RESP3 clients have their own pool connection, cut the same way.
        let mut resp3 = client(&sidecar);
        assert!(call(&mut resp3, &["HELLO", "3"]).starts_with('%'));
        assert_upstream_error(
            &call(&mut resp3, &["GET", "k"]),
            "connection closed by upstream",
        );
        assert_both_served(&sidecar, &mut c, &format!("fallback={fallback}"));
    }
}

#[test]
fn an_upstream_that_cuts_every_reply_short_falls_back() {
    let fault = Faulty::start(|args: &[Bytes]| match handshake(args) {
        Some(_) if args[0].eq_ignore_ascii_case(b"ping") => Act::Close(b"+PO"),
        Some(act) => act,
        None => Act::Close(b"$10\r\nhel"),
    });
    let sidecar = sidecar(&fault.url(":pw@"), true);
    let mut c = client(&sidecar);
    let first = call(&mut c, &["SET", "k", "v"]);
    assert!(
        first == "+OK⏎" || first.contains("connection closed by upstream"),
        "the fallback's answer or a clear error: {first}"
    );
    until_answered(&mut c, &["SET", "k", "v"], "+OK⏎");
    assert_eq!(call(&mut client(&sidecar), &["GET", "k"]), "$1⏎v⏎");
}

#[test]
fn a_pinned_connection_cut_mid_reply_is_an_error() {
    let fault = Faulty::start(cut_after_handshake);
    let sidecar = sidecar(&fault.url(":pw@"), false);
    let mut c = client(&sidecar);
    assert_upstream_error(&call(&mut c, &["MULTI"]), "connection closed by upstream");
    assert_eq!(call(&mut c, &["PING"]), "+PONG⏎");
}

// 3. Garbage.

/// The garbage each test sends instead of a reply, and what the error must name.
const GARBAGE: &[(&str, &[u8], &str)] = &[
    (
        "a bad type byte",
        b"?garbage\r\n",
        "invalid reply type byte 0x3f",
    ),
    ("a bad length", b"!!!garbage\r\n", "invalid length header"),
    (
        "an absurd bulk length",
        b"$2147483647\r\n",
        "invalid length header",
    ),
    (
        "an absurd array length",
        b"*99999999999\r\n",
        "invalid length header",
    ),
    (
        "a header with no end",
        &[b'+'; 70 * 1024],
        "header line longer than 65536 bytes",
    ),
];

#[test]
fn garbage_is_an_error_never_a_reply() {
    // Garbage is not an outage: clients see the fault whether the fallback is on or off.
    for fallback in [false, true] {
        for &(what, garbage, why) in GARBAGE {
            let fault =
                Faulty::start(move |args: &[Bytes]| handshake(args).unwrap_or(Act::Reply(garbage)));
            let sidecar = sidecar(&fault.url(""), fallback);
            let mut c = client(&sidecar);
            let reply = call(&mut c, &["SET", "k", "v"]);
            assert_upstream_error(&reply, &format!("invalid reply from upstream: {why}"));
            assert!(!reply.contains("garbage"), "{what}: {reply}");
            assert_both_served(&sidecar, &mut c, &format!("{what}, fallback={fallback}"));
        }
    }
}

#[test]
fn a_reply_nested_100000_levels_deep_is_refused() {
    let deep: &'static [u8] = "*1\r\n".repeat(100_000).leak().as_bytes();
    let fault = Faulty::start(move |args: &[Bytes]| handshake(args).unwrap_or(Act::Reply(deep)));
    let sidecar = sidecar(&fault.url(""), false);
    let mut c = client(&sidecar);
    assert_upstream_error(
        &call(&mut c, &["LRANGE", "k", "0", "-1"]),
        "reply nested deeper than 64 levels",
    );
    // Pinned connections frame replies with the same limits.
    assert_upstream_error(&call(&mut c, &["MULTI"]), "nested deeper than 64 levels");
    assert_eq!(call(&mut client(&sidecar), &["PING"]), "+PONG⏎");
}

#[test]
fn garbage_everywhere_is_not_an_outage_so_clients_see_it() {
    // Even the health PING gets garbage: the upstream is reachable but broken, so clients see the
    // error instead of a fallback that would journal writes the upstream may never take.
    let fault = Faulty::start(|args: &[Bytes]| match handshake(args) {
        Some(_) if args[0].eq_ignore_ascii_case(b"ping") => Act::Reply(b"!!!garbage\r\n"),
        Some(act) => act,
        None => Act::Reply(b"!!!garbage\r\n"),
    });
    let sidecar = sidecar(&fault.url(""), true);
    let mut c = client(&sidecar);
    wait_until("a health check", Duration::from_secs(5), || {
        fault.seen().iter().filter(|s| *s == "PING").count() >= 3
    });
    for i in 0..3 {
        let reply = call(&mut c, &["SET", "k", &i.to_string()]);
        assert_upstream_error(&reply, "invalid reply from upstream");
    }
}

/// Two clients share the one pool connection: the first's good reply and the second's garbage
/// arrive in one segment. Each client gets its own reply or an error, never the other's, and
/// never fewer replies than it asked for.
#[test]
fn garbage_after_a_good_reply_does_not_desynchronise_clients() {
    let fault = Faulty::start(|args: &[Bytes]| match (handshake(args), args.get(1)) {
        (Some(act), _) => act,
        // Held back until the garbage goes out, in the same write.
        (None, Some(key)) if &key[..] == b"good" => Act::Hold(b"$4\r\ngood\r\n".to_vec()),
        (None, _) => Act::Reply(b"!!!garbage\r\n"),
    });
    let sidecar = sidecar(&fault.url(""), false);
    let (mut a, mut b) = (client(&sidecar), client(&sidecar));
    a.send(&[b"GET", b"good"]);
    wait_until("the good GET upstream", Duration::from_secs(5), || {
        fault.saw("GET good")
    });
    let reply_b = call(&mut b, &["GET", "bad"]);
    assert_upstream_error(&reply_b, "invalid reply from upstream");
    let reply_a = a.try_read_reply().map(|r| show(&r));
    assert_eq!(
        reply_a.as_deref(),
        Some("$4⏎good⏎"),
        "the good reply reaches its client"
    );
    assert_eq!(call(&mut a, &["PING"]), "+PONG⏎");
}

/// Two clients pipelining at once over one pool connection that answers each GET with the key's
/// name, until it answers one with garbage: every reply a client gets is its own or an error.
#[test]
fn pipelining_clients_get_their_own_replies_or_errors() {
    let count = std::sync::atomic::AtomicUsize::new(0);
    let fault = Faulty::start(move |args: &[Bytes]| {
        if let Some(act) = handshake(args) {
            return act;
        }
        if count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 150 {
            return Act::Reply(b"!!!garbage\r\n");
        }
        let key = &args[1];
        let mut reply = format!("${}\r\n", key.len()).into_bytes();
        reply.extend_from_slice(key);
        reply.extend_from_slice(b"\r\n");
        Act::Owned(reply)
    });
    let sidecar = sidecar(&fault.url(""), false);
    let addr = sidecar.addr;
    let clients: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|who| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(addr);
                c.set_read_timeout(Duration::from_secs(5));
                let (mut own, mut errors) = (0, 0);
                for round in 0..5 {
                    let mut pipeline = bytes::BytesMut::new();
                    for i in 0..40 {
                        let key = format!("{who}:{round}:{i}");
                        redis_sidecar::command::encode_args(
                            &[b"GET".as_slice(), key.as_bytes()],
                            &mut pipeline,
                        );
                    }
                    c.write_raw(&pipeline);
                    for i in 0..40 {
                        let key = format!("{who}:{round}:{i}");
                        let reply = c.try_read_reply().unwrap_or_else(|| {
                            panic!("{who}: no reply to GET {key}: fewer replies than requests")
                        });
                        let text = show(&reply);
                        if text.starts_with("-ERR upstream unavailable") {
                            errors += 1;
                        } else {
                            assert_eq!(text, format!("${}⏎{key}⏎", key.len()), "{who}");
                            own += 1;
                        }
                    }
                }
                (own, errors)
            })
        })
        .collect();
    let results: Vec<(usize, usize)> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let errors: usize = results.iter().map(|r| r.1).sum();
    assert!(
        errors >= 1,
        "the garbage was answered with an error: {results:?}"
    );
    assert_eq!(results.iter().map(|r| r.0 + r.1).sum::<usize>(), 400);
}

// 4. A TLS handshake that stalls.

#[test]
fn a_stalled_tls_handshake_is_a_timeout_that_says_so() {
    let fault = Faulty::mute();
    let url = format!("rediss://localhost:{}", fault.port());
    let sidecar = sidecar(&url, false);
    let mut c = client(&sidecar);
    let reply = call(&mut c, &["GET", "k"]);
    assert_upstream_error(
        &reply,
        &format!(
            "connect to localhost:{} timed out after 300 ms, during the TLS handshake",
            fault.port()
        ),
    );
    let mut second = client(&sidecar);
    assert_upstream_error(&call(&mut second, &["PING"]), "the TLS handshake");
}

#[test]
fn a_stalled_tls_handshake_falls_back() {
    let fault = Faulty::mute();
    let url = format!("rediss://localhost:{}", fault.port());
    let sidecar = sidecar(&url, true);
    let mut c = client(&sidecar);
    let first = call(&mut c, &["SET", "k", "v"]);
    assert!(
        first == "+OK⏎" || first.contains("during the TLS handshake"),
        "the fallback's answer or a clear timeout: {first}"
    );
    until_answered(&mut c, &["SET", "k", "v"], "+OK⏎");
    assert_eq!(call(&mut client(&sidecar), &["GET", "k"]), "$1⏎v⏎");
}
