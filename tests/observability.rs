//! Issue 6: metrics and health endpoints against real parts: a real redis-server (killed and
//! restarted) and a real Prometheus scraping the sidecar with the shipped config/prometheus.yml.
//! The layers' metrics (budget, compression, slow log, tenants), the journal's and the status
//! page in headless Chromium are in tests/observability_layers.rs, a process of their own.
//!
//! The metrics recorder is the process's, so tests running side by side add to the same
//! counters: assertions use deltas of series only the test itself moves (unique commands and key
//! namespaces), and gauges are polled until they show the expected value.

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{temp_dir, wait_until, RedisServer, Sidecar};
use tools::{http_get, value};

const FAST_HEALTH: &str =
    "[fallback]\nhealth_interval_ms = 100\n[upstream]\nconnect_timeout_ms = 300\n";

#[test]
fn metrics_appear_and_move_with_traffic() {
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
    let before = tools::scrape(sidecar.http);
    let getrange_ok = r#"redis_sidecar_commands_total{command="getrange",outcome="ok"}"#;
    let incr_error = r#"redis_sidecar_commands_total{command="incr",outcome="error"}"#;
    let hits = r#"redis_sidecar_read_hits_total{namespace="obs1:state"}"#;
    let misses = r#"redis_sidecar_read_misses_total{namespace="obs1:cache"}"#;
    let other = r#"redis_sidecar_commands_total{command="other",outcome="error"}"#;

    let mut c = sidecar.client();
    assert_eq!(c.call(&["SET", "obs1:state:1", "abcdef"]), "+OK\r\n");
    for _ in 0..5 {
        assert_eq!(
            c.call(&["GETRANGE", "obs1:state:1", "0", "1"]),
            "$2\r\nab\r\n"
        );
    }
    assert_eq!(c.call(&["GET", "obs1:state:1"]), "$6\r\nabcdef\r\n");
    assert_eq!(c.call(&["GET", "obs1:cache:nothing"]), "$-1\r\n");
    assert_eq!(c.call(&["HGETALL", "obs1:cache:nohash"]), "*0\r\n");
    assert!(c.call(&["INCR", "obs1:state:1"]).starts_with(b"-ERR"));
    assert!(c.call(&["NOSUCHCOMMAND"]).starts_with(b"-ERR"));
    let after = tools::scrape(sidecar.http);

    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(delta(getrange_ok), 5.0, "GETRANGE counted once each");
    assert!(delta(incr_error) >= 1.0, "errors have their outcome");
    assert!(delta(other) >= 1.0, "unknown commands count as 'other'");
    assert_eq!(delta(hits), 1.0, "GET obs1:state:1 is a hit");
    assert_eq!(
        delta(misses),
        2.0,
        "the GET and the HGETALL of obs1:cache:* are misses"
    );
    assert!(
        delta(r#"redis_sidecar_command_duration_seconds_count{command="getrange"}"#) == 5.0,
        "latency histogram by command"
    );
    assert!(
        value(
            &after,
            r#"redis_sidecar_command_duration_seconds_bucket{command="getrange",le="5"}"#
        ) >= 5.0,
        "buckets up to 5 s"
    );
    assert!(after.contains(r#"le="0.00005""#), "buckets from 50 µs");
    assert!(delta("redis_sidecar_client_received_bytes_total") > 100.0);
    assert!(delta("redis_sidecar_client_sent_bytes_total") > 50.0);
    assert!(delta("redis_sidecar_client_connections_accepted_total") >= 1.0);
    assert!(value(&after, "redis_sidecar_client_connections") >= 1.0);
    assert!(value(&after, r#"redis_sidecar_upstream_connections{kind="pool"}"#) >= 1.0);
    assert_eq!(value(&after, "redis_sidecar_replay_progress_ratio"), 1.0);

    // Budget, compression, slow log and tenant series: tests/observability_layers.rs, from
    // layers configured by TOML.
}

#[test]
fn health_redis_is_503_while_the_upstream_is_down_and_health_stays_200() {
    let mut redis = RedisServer::start();
    let (port, dir) = (redis.port, redis.dir.clone());
    let sidecar = Sidecar::with_config(&redis.url(), FAST_HEALTH);
    let (status, body) = http_get(sidecar.http, "/health/redis");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["state"], "upstream");
    assert_eq!(json["status"], "up", "{body}");
    assert!(
        json["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{body}"
    );
    assert_eq!(json["journal_entries"], 0, "{body}");

    redis.kill();
    let mut last = String::new();
    wait_until(
        "/health/redis to answer 503",
        Duration::from_secs(10),
        || {
            let (status, body) = http_get(sidecar.http, "/health/redis");
            last = body;
            status == 503
        },
    );
    println!("upstream down: /health/redis 503 {last}");
    let (status, _) = http_get(sidecar.http, "/health");
    assert_eq!(status, 200, "liveness does not depend on the upstream");
    // The fallback keeps clients working meanwhile.
    let mut c = sidecar.client();
    wait_until("the fallback to serve", Duration::from_secs(10), || {
        c.call(&["SET", "obs2:during", "1"]) == "+OK\r\n"
    });
    wait_until(
        "state fallback on /health/redis",
        Duration::from_secs(10),
        || {
            let (status, body) = http_get(sidecar.http, "/health/redis");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            status == 503
                && json["status"] == "down"
                && json["latency_ms"].is_null()
                && json["state"] == "fallback"
                && json["journal_entries"].as_u64() > Some(0)
                && json["journal_bytes"].as_u64() > Some(0)
        },
    );
    wait_until("the gauges to say so", Duration::from_secs(10), || {
        let m = tools::scrape(sidecar.http);
        value(&m, "redis_sidecar_upstream_up") == 0.0
            && value(&m, "redis_sidecar_fallback_active") == 1.0
            && value(&m, r#"redis_sidecar_upstream_state{state="fallback"}"#) == 1.0
            && value(&m, "redis_sidecar_journal_pending_bytes") > 0.0
    });

    let _restarted = RedisServer::start_in(port, dir, &[]);
    wait_until(
        "/health/redis to answer 200 again",
        Duration::from_secs(15),
        || http_get(sidecar.http, "/health/redis").0 == 200,
    );
    wait_until("the replay to finish", Duration::from_secs(15), || {
        let (_, body) = http_get(sidecar.http, "/health/redis");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["state"] == "upstream" && json["status"] == "up" && json["journal_bytes"] == 0
    });
    wait_until(
        "the gauges to say the upstream is back",
        Duration::from_secs(10),
        || {
            let m = tools::scrape(sidecar.http);
            value(&m, "redis_sidecar_upstream_up") == 1.0
                && value(&m, "redis_sidecar_fallback_active") == 0.0
                && value(&m, r#"redis_sidecar_upstream_state{state="upstream"}"#) == 1.0
                && value(&m, "redis_sidecar_upstream_ping_latency_seconds") > 0.0
        },
    );
    assert_eq!(http_get(sidecar.http, "/health").0, 200);
}

#[test]
fn embedded_mode_reports_itself_healthy() {
    let sidecar = Sidecar::embedded();
    let (status, body) = http_get(sidecar.http, "/health/redis");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"embedded""#), "{body}");
    assert_eq!(http_get(sidecar.http, "/nope").0, 404);
    let (status, page) = http_get(sidecar.http, "/");
    assert!(status == 200 && page.contains("<canvas"), "{page}");
    // No external assets: nothing the page could load from elsewhere, and its one fetch is the
    // sidecar's own relative status.json.
    for loader in [
        "http:", "https:", "src=", "href=", "url(", "@import", "<link", "<iframe",
    ] {
        assert!(!page.contains(loader), "the page holds {loader:?}");
    }
    assert_eq!(page.matches("fetch(").count(), 1);
    assert!(page.contains(r#"fetch("status.json""#));
}

#[test]
fn a_real_prometheus_scrapes_the_sidecar() {
    let Some(prometheus) = tools::tool_or_skip(&["prometheus"], "prometheus") else {
        return;
    };
    // promtool ships in the same package; under CI its absence fails the test too.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus.yml");
    if let Some(promtool) = tools::tool_or_skip(&["promtool"], "prometheus") {
        let out = Command::new(promtool)
            .args(["check", "config", shipped])
            .output()
            .unwrap();
        assert!(out.status.success(), "config/prometheus.yml: {out:?}");
    }
    let sidecar = Sidecar::embedded();
    let mut c = sidecar.client();
    for i in 0..20 {
        c.call(&["SET", &format!("obs3:k:{i}"), "v"]);
    }
    // The shipped file, with only its target moved to this sidecar's HTTP address.
    let shipped_text = std::fs::read_to_string(shipped).unwrap();
    let default_target = "'127.0.0.1:9180'";
    assert_eq!(
        shipped_text.matches(default_target).count(),
        1,
        "config/prometheus.yml has one target, {default_target}"
    );
    let dir = temp_dir();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        shipped_text.replace(default_target, &format!("'{}'", sidecar.http)),
    )
    .unwrap();
    let port = support::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let _prometheus = tools::Guarded(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let query = |q: &str| -> serde_json::Value {
        let (status, body) = http_get(addr, &format!("/api/v1/query?query={}", tools::encode(q)));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let ready =
        || std::net::TcpStream::connect(addr).is_ok() && http_get(addr, "/-/ready").0 == 200;
    wait_until("prometheus to be ready", Duration::from_secs(60), ready);
    let mut up = serde_json::Value::Null;
    wait_until(
        "prometheus to report up == 1",
        // The shipped scrape_interval is 15 s; the first scrape comes within one.
        Duration::from_secs(60),
        || {
            up = query("up");
            up["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| {
                    r["metric"]["job"] == "redis-sidecar"
                        && r["metric"]["service"] == "redis-sidecar"
                        && r["value"][1] == "1"
                })
        },
    );
    println!("prometheus: {up}");
    wait_until(
        "prometheus to hold the sidecar's series",
        Duration::from_secs(30),
        || {
            let sets = query(r#"redis_sidecar_commands_total{command="set",outcome="ok"}"#);
            sets["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        },
    );
}

#[test]
fn clients_past_max_clients_are_refused_with_an_error_and_counted() {
    let sidecar = Sidecar::embedded_with("[limits]\nmax_clients = 2\n", &temp_dir());
    let refused = "redis_sidecar_client_connections_refused_total";
    let before = tools::scrape(sidecar.http);
    let mut first = sidecar.client();
    let mut second = sidecar.client();
    // Answered, so both hold their slots.
    assert_eq!(first.call(&["PING"]), "+PONG\r\n");
    assert_eq!(second.call(&["PING"]), "+PONG\r\n");

    let mut third = sidecar.client();
    let reply = third.try_read_reply();
    assert_eq!(
        reply.as_deref(),
        Some(b"-ERR max number of clients reached\r\n".as_slice()),
        "the refused client is told why"
    );
    assert_eq!(third.try_read_reply(), None, "and its connection is closed");
    let after = tools::scrape(sidecar.http);
    assert_eq!(value(&after, refused) - value(&before, refused), 1.0);

    assert_eq!(
        second.call(&["PING"]),
        "+PONG\r\n",
        "admitted clients are not disturbed"
    );
    drop(first);
}

#[test]
fn the_grafana_dashboard_queries_only_exported_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6, "the panels a user wants first");
    let known: Vec<&str> = redis_sidecar::metrics::names::ALL
        .iter()
        .map(|d| d.name)
        .collect();
    let mut queried = 0;
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("redis_sidecar_"))
            {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| known.contains(b)))
                    .unwrap_or(name);
                assert!(
                    known.contains(&base),
                    "{}: {name} is not exported",
                    panel["title"]
                );
                queried += 1;
            }
        }
    }
    assert!(queried >= 10);
}
