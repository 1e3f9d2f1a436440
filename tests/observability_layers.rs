//! Issue 6, through the real wiring: sidecars configured by TOML (`[budget]`, `[compression]`,
//! `[slowlog]`, `[[tenants]]`) serve real traffic to a real redis-server, and what `/metrics`, the
//! journal's series and the status page (headless Chromium) show must come from that traffic,
//! never from a test calling the metrics hooks.
//!
//! These tests live in a process of their own and run one at a time ([`serial`]): what they check
//! is process-wide by design (one sidecar per process in production): the budget's gauges, the
//! status page's slow log source (the last slow log started wins) and the journal counter (the
//! largest journal's count). Counters still accumulate across the tests here, so they are
//! compared as deltas.

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use support::{temp_dir, wait_until, RedisServer, Sidecar};
use tools::{http_get, value};

/// One test at a time in this process (a failed test must not fail the others: poison is ignored).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every layer configured with a non-default value, so a metric that moves proves the setting
/// reached the layer: the slow threshold (20 ms, default 100), the compression threshold (100
/// bytes, default 1024), the price (default 0.20) and a tenant.
const LAYERS: &str = r#"
[budget]
limit = 10
window = "1h"
price_per_100k = 2500.0
[compression]
threshold_bytes = 100
[slowlog]
threshold_ms = 20
[[tenants]]
user = "alice"
password = "alice-secret"
prefix = "ws:alice:"
"#;

const LIMIT: u64 = 10;

#[test]
fn budget_compression_slowlog_and_tenant_metrics_come_from_configured_layers() {
    let _serial = serial();
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), LAYERS);
    let before = tools::scrape(sidecar.http);
    let mut alice = sidecar.client();
    assert_eq!(alice.call(&["AUTH", "alice", "alice-secret"]), "+OK\r\n");

    // 600 bytes: over the configured threshold, under the default one.
    let big = r#"{"flow":"state","step":1,"ok":1}"#.repeat(19);
    assert!(big.len() > 100 && big.len() < 1024);
    assert_eq!(alice.call(&["SET", "lyr:big", &big]), "+OK\r\n");
    let stored = redis.client().call(&["GET", "ws:alice:lyr:big"]);
    assert!(
        stored.windows(4).any(|w| w == b"\xffRSC") && stored.len() < big.len(),
        "the upstream holds the value compressed: {}",
        support::show(&stored)
    );
    assert_eq!(
        alice.call(&["GET", "lyr:big"]),
        format!("${}\r\n{big}\r\n", big.len()).as_bytes()
    );
    // 60 ms of Lua on the upstream: slow at the configured 20 ms, not at the default 100 ms.
    assert_eq!(
        alice.call(&["EVAL", &tools::busy_script(60), "0"]),
        ":1\r\n"
    );

    // SET, GET and EVAL cost 1 each; fill the rest of the budget until it refuses.
    let mut admitted = 3;
    let refusal = loop {
        let reply = alice.call(&["SET", &format!("lyr:fill:{admitted}"), "x"]);
        if reply.starts_with(b"-") {
            break reply;
        }
        assert_eq!(reply, "+OK\r\n");
        admitted += 1;
        assert!(admitted <= LIMIT, "the budget of {LIMIT} never refused");
    };
    assert_eq!(admitted, LIMIT, "every admitted command was charged once");
    let refusal = String::from_utf8_lossy(&refusal).into_owned();
    assert!(
        refusal.contains("request limit exceeded: used 10 of 10 cost units"),
        "{refusal}"
    );
    for _ in 0..3 {
        let reply = alice.call(&["INCR", "lyr:counter"]);
        assert!(
            reply.starts_with(b"-ERR max hourly request limit exceeded"),
            "{}",
            support::show(&reply)
        );
    }
    assert_eq!(
        redis.client().call(&["EXISTS", "ws:alice:lyr:counter"]),
        ":0\r\n",
        "refused commands never reach the upstream"
    );

    // The budget and compression layers report once a second: wait for that report.
    let delta = |after: &str, series: &str| value(after, series) - value(&before, series);
    let after = tools::scrape_until(sidecar.http, Duration::from_secs(10), |m| {
        value(m, "redis_sidecar_budget_used_commands") == LIMIT as f64
            && delta(m, "redis_sidecar_compression_input_bytes_total") > 0.0
    });
    println!(
        "{}",
        after
            .lines()
            .filter(|l| l.contains("budget_")
                || l.contains("compression_")
                || l.contains("slow_")
                || l.contains("tenant_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(value(&after, "redis_sidecar_budget_used_commands"), 10.0);
    assert_eq!(value(&after, "redis_sidecar_budget_limit_commands"), 10.0);
    assert_eq!(
        value(&after, "redis_sidecar_budget_remaining_commands"),
        0.0
    );
    let spend = value(&after, "redis_sidecar_budget_estimated_spend_dollars");
    assert!(
        (spend - 10.0 * 2500.0 / 100_000.0).abs() < 1e-9,
        "10 units at $2500 per 100k are $0.25, not ${spend}"
    );
    assert_eq!(
        delta(
            &after,
            r#"redis_sidecar_commands_total{command="incr",outcome="refused"}"#
        ),
        3.0,
        "each budget-refused INCR counted as refused"
    );
    assert_eq!(
        delta(
            &after,
            r#"redis_sidecar_commands_total{command="set",outcome="refused"}"#
        ),
        1.0,
        "the SET that met the limit counted as refused"
    );
    let (input, output) = (
        delta(&after, "redis_sidecar_compression_input_bytes_total"),
        delta(&after, "redis_sidecar_compression_output_bytes_total"),
    );
    assert_eq!(input, big.len() as f64, "the one value compressed");
    assert!(
        output > 0.0 && output < input,
        "compressed {input} bytes into {output}"
    );
    assert!(
        delta(&after, "redis_sidecar_slow_commands_total") >= 1.0,
        "the 60 ms script is slow at threshold_ms = 20"
    );
    let tenant = |outcome: &str| {
        delta(
            &after,
            &format!(
                r#"redis_sidecar_tenant_commands_total{{tenant="alice",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(
        tenant("ok"),
        LIMIT as f64 + 1.0,
        "alice's admitted commands, and her AUTH (answered OK by the sidecar)"
    );
    assert_eq!(tenant("refused"), 4.0, "alice's refused SET and INCRs");
    assert_eq!(
        delta(
            &after,
            r#"redis_sidecar_commands_total{command="auth",outcome="refused"}"#
        ),
        0.0,
        "a successful AUTH is not a refusal"
    );

    // With a budget and a tenant configured, every metric is described and exported.
    for def in redis_sidecar::metrics::names::ALL {
        assert!(
            after.contains(&format!("# HELP {} {}", def.name, def.help)),
            "{} missing from /metrics",
            def.name
        );
    }
}

const FAST_HEALTH: &str =
    "[fallback]\nhealth_interval_ms = 100\n[upstream]\nconnect_timeout_ms = 300\n";

/// Writes made while the upstream is down, sent pipelined.
const OUTAGE_WRITES: usize = 2000;

#[test]
fn journal_entries_and_replay_progress_follow_an_outage() {
    let _serial = serial();
    let mut redis = RedisServer::start();
    let port = redis.port;
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "jr:before", "1"]), "+OK\r\n");

    redis.kill();
    wait_until(
        "the fallback to take writes",
        Duration::from_secs(10),
        || c.call(&["SET", "jr:probe", "1"]) == "+OK\r\n",
    );
    let before = tools::scrape(sidecar.http);
    let entries = "redis_sidecar_journal_entries_total";
    let value_of = |i: usize| format!("value-{i}-{}", "v".repeat(100));
    for i in 0..OUTAGE_WRITES {
        let key = format!("jr:w:{i}");
        c.send(&[b"SET".as_slice(), key.as_bytes(), value_of(i).as_bytes()]);
    }
    for i in 0..OUTAGE_WRITES {
        assert_eq!(c.read_reply(), "+OK\r\n", "write {i} during the outage");
    }
    let during = tools::scrape(sidecar.http);
    assert_eq!(
        value(&during, entries) - value(&before, entries),
        OUTAGE_WRITES as f64,
        "one journal entry per acknowledged write"
    );
    assert!(value(&during, "redis_sidecar_journal_pending_bytes") > 0.0);
    assert_eq!(value(&during, "redis_sidecar_fallback_active"), 1.0);

    // The upstream comes back with writes paused: it answers PING, so the sidecar starts the
    // replay, but no replayed write is acknowledged until the test unpauses it. It starts on
    // another port and moves to the sidecar's once paused, so no write slips in before.
    let mut back = loop {
        let server = RedisServer::start();
        if server.port != port {
            break server;
        }
    };
    let mut admin = back.client();
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        "+OK\r\n"
    );
    assert_eq!(
        admin.call(&["CONFIG", "SET", "port", &port.to_string()]),
        "+OK\r\n",
        "the upstream moves back to port {port}"
    );
    back.port = port;
    let replaying = r#"redis_sidecar_upstream_state{state="replaying"}"#;
    let stalled = tools::scrape_until(sidecar.http, Duration::from_secs(15), |m| {
        value(m, replaying) == 1.0
    });
    assert_eq!(value(&stalled, replaying), 1.0, "the replay started");
    let progress = value(&stalled, "redis_sidecar_replay_progress_ratio");
    assert!(
        progress < 1.0,
        "progress {progress} while the upstream holds the replayed writes"
    );
    assert!(value(&stalled, "redis_sidecar_journal_pending_bytes") > 0.0);
    println!("replay stalled at progress {progress}");

    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    let done = tools::scrape_until(sidecar.http, Duration::from_secs(30), |m| {
        value(m, r#"redis_sidecar_upstream_state{state="upstream"}"#) == 1.0
    });
    assert_eq!(
        value(&done, r#"redis_sidecar_upstream_state{state="upstream"}"#),
        1.0,
        "the replay finished"
    );
    assert_eq!(value(&done, "redis_sidecar_replay_progress_ratio"), 1.0);
    assert_eq!(value(&done, "redis_sidecar_journal_pending_bytes"), 0.0);
    assert_eq!(value(&done, "redis_sidecar_fallback_active"), 0.0);
    assert_eq!(
        value(&done, entries),
        value(&during, entries),
        "entries count what was journaled, not what is left"
    );
    let last = OUTAGE_WRITES - 1;
    let expected = value_of(last);
    assert_eq!(
        admin.call(&["GET", &format!("jr:w:{last}")]),
        format!("${}\r\n{expected}\r\n", expected.len()).as_bytes(),
        "the journaled writes reached the upstream"
    );
}

/// The status page's layers: a budget with a limit no other test here uses (its chart's scale
/// shows it) and a slow log that catches a 60 ms script.
const PAGE_LAYERS: &str = r#"
[budget]
limit = 1000000
window = "1h"
price_per_100k = 0.40
[slowlog]
threshold_ms = 20
"#;

#[test]
fn the_status_page_renders_non_empty_charts_in_chromium() {
    let names = ["chromium", "chromium-browser", "google-chrome"];
    let Some(chromium) = tools::tool_or_skip(&names, "chromium") else {
        return;
    };
    let _serial = serial();
    let redis = RedisServer::start();
    let sidecar = Sidecar::with_config(&redis.url(), PAGE_LAYERS);
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, mut c) = (stop.clone(), sidecar.client());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.call(&["SET", &format!("obs4:state:{}", i % 100), "v"]);
                c.call(&["GET", &format!("obs4:state:{}", i % 200)]);
                i += 1;
            }
        })
    };
    let marker = "obs4:slow:marker";
    let mut c = sidecar.client();
    assert_eq!(
        c.call(&["EVAL", &tools::busy_script(60), "1", marker]),
        ":1\r\n"
    );
    wait_until(
        "three samples with traffic and budget use",
        Duration::from_secs(20),
        || {
            let (_, body) = http_get(sidecar.http, "/status.json");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            let samples = json["samples"].as_array().cloned().unwrap_or_default();
            let used = |s: &&serde_json::Value| s["budget_used"].as_u64() > Some(0);
            samples
                .iter()
                .filter(|s| s["ops"].as_f64() > Some(0.0))
                .count()
                >= 3
                && samples.iter().any(|s| s["p99_ms"].as_f64().is_some())
                && samples.iter().filter(used).count() >= 2
                && json["budget"]["limit"] == 1_000_000
        },
    );
    let url = format!("http://{}/", sidecar.http);

    // The DOM after the page's script ran: every chart drew points.
    let mut dump = tools::chromium(&chromium, &temp_dir());
    dump.arg("--dump-dom").arg(&url);
    let out = tools::run_with_deadline(dump, Duration::from_secs(120));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !dom.is_empty(), "chromium: {out:?}");
    assert!(
        tools::attribute(&dom, "<body", "data-polls") >= 1,
        "the page polled status.json"
    );
    let points = |chart: &str| tools::attribute(&dom, &format!("id=\"{chart}\""), "data-points");
    for chart in ["c-ops", "c-latency", "c-state", "c-budget"] {
        assert!(points(chart) > 0, "{chart} drew nothing");
    }
    // The budget chart draws the configured limit once per sample (as many as the state chart
    // has) and the use on top: more points than samples means the use was drawn too; its scale
    // is the configured limit's (the chart's top is 10% over the largest value).
    assert!(
        points("c-budget") > points("c-state"),
        "c-budget drew no use: {} points for {} samples",
        points("c-budget"),
        points("c-state")
    );
    assert_eq!(
        tools::attribute_text(&dom, "id=\"c-budget\"", "data-max"),
        Some("1100000.000"),
        "the budget chart is scaled to the configured limit"
    );
    assert!(
        dom.contains(">upstream<"),
        "the state badge shows the upstream state"
    );
    let slowlog = tools::inside(&dom, "id=\"slowlog\"", "</tbody>");
    let row = slowlog
        .split("<tr>")
        .find(|row| row.contains(marker))
        .unwrap_or_else(|| panic!("no slow log row for the slow script: {slowlog}"));
    assert!(
        row.contains("EVAL") && row.contains(" ms<"),
        "the row shows the command and its duration: {row}"
    );

    // The screenshot, for people, compared with a blank page of the same size and colour.
    let dir = tools::outputs_dir();
    let (shot, blank) = (dir.join("status-page.png"), dir.join("blank-page.png"));
    for (target, page) in [
        (&shot, url.as_str()),
        (
            &blank,
            "data:text/html,<body style='background:%230f1419'></body>",
        ),
    ] {
        let _ = std::fs::remove_file(target);
        let mut cmd = tools::chromium(&chromium, &temp_dir());
        cmd.arg(format!("--screenshot={}", target.display()))
            .arg(page);
        let out = tools::run_with_deadline(cmd, Duration::from_secs(120));
        assert!(out.status.success(), "chromium screenshot: {out:?}");
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "status page screenshot: {} ({} bytes; blank page {} bytes)",
        shot.display(),
        size(&shot),
        size(&blank)
    );
    assert!(size(&blank) > 0);
    assert!(
        size(&shot) > 5 * size(&blank),
        "the screenshot is not much more than a blank page"
    );
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
}
