//! Reproductions of what the Python end-to-end runs (tests/python_e2e.rs) found wrong in the
//! sidecar, each the smallest exchange that shows it. Every one is fixed; they stay as
//! regression tests. The expected replies are redis-server's.

mod support;

use std::time::Duration;

use support::{show, RawClient, RedisServer, Sidecar};

/// The value of `field` in an INFO reply (`field:value` lines).
fn info_field(reply: &[u8], field: &str) -> Option<String> {
    let text = String::from_utf8_lossy(reply);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

/// `SET k v`, a GET hit and a GET miss, then INFO stats's two keyspace counters.
fn hits_and_misses(client: &mut RawClient) -> (Option<String>, Option<String>) {
    client.call(&["SET", "py:hit", "v"]);
    client.call(&["GET", "py:hit"]);
    client.call(&["GET", "py:miss"]);
    let info = client.call(&["INFO", "stats"]);
    (
        info_field(&info, "keyspace_hits"),
        info_field(&info, "keyspace_misses"),
    )
}

/// The platform's RedisMonitor reports `keyspace_hits`/`keyspace_misses` from INFO (its cache
/// hit ratio). The embedded store reports both as 0 whatever was read: `src/store/info.rs`
/// writes a constant 0.
#[test]

fn embedded_info_counts_keyspace_hits_and_misses() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::embedded();
    let expected = hits_and_misses(&mut redis.client());
    assert_eq!(
        expected,
        (Some("1".into()), Some("1".into())),
        "redis-server's own counts"
    );
    assert_eq!(
        hits_and_misses(&mut sidecar.client()),
        expected,
        "embedded store's (keyspace_hits, keyspace_misses) after one hit and one miss"
    );
}

/// The platform's Redis guide monitors with `SLOWLOG GET 10` / `SLOWLOG LEN` / `SLOWLOG RESET`
/// (and DESIGN.md has the sidecar answer SLOWLOG itself). Without an upstream the command is
/// unknown.
#[test]
fn embedded_slowlog_is_answered() {
    let sidecar = Sidecar::embedded();
    let mut c = sidecar.client();
    let get = c.call(&["SLOWLOG", "GET", "10"]);
    assert_eq!(get.first(), Some(&b'*'), "SLOWLOG GET 10: {}", show(&get));
    let len = c.call(&["SLOWLOG", "LEN"]);
    assert_eq!(len.first(), Some(&b':'), "SLOWLOG LEN: {}", show(&len));
    let reset = c.call(&["SLOWLOG", "RESET"]);
    assert_eq!(show(&reset), "+OK⏎", "SLOWLOG RESET");
}

/// The guide's "watch all commands" is `MONITOR` (redis-py's `Redis.monitor()`); it works through
/// an upstream (pinned) but not from the embedded store.
#[test]

fn embedded_monitor_streams_commands() {
    let sidecar = Sidecar::embedded();
    let mut monitor = sidecar.client();
    monitor.set_read_timeout(Duration::from_secs(5));
    let ok = monitor.call(&["MONITOR"]);
    assert_eq!(show(&ok), "+OK⏎", "MONITOR");
    sidecar.client().call(&["SET", "py:monitored", "1"]);
    let line = monitor.read_reply();
    assert!(
        show(&line).contains("\"SET\" \"py:monitored\" \"1\""),
        "MONITOR's line for the SET: {}",
        show(&line)
    );
}

/// Through an upstream, CLIENT SETNAME/GETNAME/ID are answered by the sidecar but CLIENT INFO
/// goes to a shared pool connection: it describes that connection (another id, no name), so the
/// guide's "CLIENT INFO" shows nothing of the client that asked.
#[test]
fn forwarded_client_info_describes_the_caller() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    let mut c = sidecar.client();
    assert_eq!(
        show(&c.call(&["CLIENT", "SETNAME", "platform-api"])),
        "+OK⏎"
    );
    let id = c.call(&["CLIENT", "ID"]);
    let id = show(&id)
        .trim_start_matches(':')
        .trim_end_matches('⏎')
        .to_string();
    let info = show(&c.call(&["CLIENT", "INFO"]));
    assert!(
        info.contains(&format!("id={id} ")) && info.contains(" name=platform-api "),
        "CLIENT INFO after SETNAME (CLIENT ID said {id}): {info}"
    );
}
