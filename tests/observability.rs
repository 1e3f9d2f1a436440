//! Issue 6: metrics, health endpoints and the status page, against real parts: a real
//! redis-server (killed and restarted), a real Prometheus scraping the sidecar, and the status
//! page rendered by headless Chromium (screenshot in target/test-outputs/).
//!
//! The metrics recorder is the process's, so tests running side by side add to the same
//! counters: assertions use deltas of series only the test itself moves (unique commands and key
//! namespaces), and gauges are polled until they show the expected value.

mod support;
#[path = "observability_support/mod.rs"]
mod tools;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

    // The layers built elsewhere report through hooks; their series appear once they do.
    redis_sidecar::metrics::budget::set_limit(1000);
    redis_sidecar::metrics::budget::set_used(250);
    redis_sidecar::metrics::budget::set_spend_dollars(0.5);
    redis_sidecar::metrics::compression::record(1000, 300);
    redis_sidecar::metrics::slowlog::inc();
    let hooked = tools::scrape(sidecar.http);
    assert_eq!(
        value(&hooked, "redis_sidecar_budget_remaining_commands"),
        750.0
    );
    assert_eq!(
        value(&hooked, "redis_sidecar_budget_estimated_spend_dollars"),
        0.5
    );
    assert!(value(&hooked, "redis_sidecar_compression_input_bytes_total") >= 1000.0);
    assert!(value(&hooked, "redis_sidecar_slow_commands_total") >= 1.0);
    // Every metric but the per-tenant one (no tenants here) is described and exported.
    for def in redis_sidecar::metrics::names::ALL {
        if def.name == "redis_sidecar_tenant_commands_total" {
            continue;
        }
        assert!(
            hooked.contains(&format!("# HELP {} {}", def.name, def.help)),
            "{} missing from /metrics",
            def.name
        );
    }
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
    assert!(
        json["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{body}"
    );

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
            status == 503 && json["state"] == "fallback" && json["journal_bytes"].as_u64() > Some(0)
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
        json["state"] == "upstream" && json["journal_bytes"] == 0
    });
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
    assert!(
        status == 200 && page.contains("<canvas") && !page.contains("http"),
        "no external assets"
    );
}

#[test]
fn a_real_prometheus_scrapes_the_sidecar() {
    let Some(prometheus) = tools::tool_or_skip(&["prometheus"], "prometheus") else {
        return;
    };
    if let Some(promtool) = tools::find_tool(&["promtool"]) {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus.yml");
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
    let dir = temp_dir();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: redis-sidecar\n    static_configs:\n      - targets: ['{}']\n",
            sidecar.http
        ),
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
        Duration::from_secs(60),
        || {
            up = query("up");
            up["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["metric"]["job"] == "redis-sidecar" && r["value"][1] == "1")
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
fn the_status_page_renders_non_empty_charts_in_chromium() {
    let names = ["chromium", "chromium-browser", "google-chrome"];
    let Some(chromium) = tools::tool_or_skip(&names, "chromium") else {
        return;
    };
    let redis = RedisServer::start();
    let sidecar = Sidecar::upstream(&redis.url());
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
    wait_until(
        "three samples with traffic",
        Duration::from_secs(20),
        || {
            let (_, body) = http_get(sidecar.http, "/status.json");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            let samples = json["samples"].as_array().cloned().unwrap_or_default();
            samples
                .iter()
                .filter(|s| s["ops"].as_f64() > Some(0.0))
                .count()
                >= 3
                && samples.iter().any(|s| s["p99_ms"].as_f64().is_some())
        },
    );
    let url = format!("http://{}/", sidecar.http);
    // What the slow log layer will show through its source (here, a stand-in entry).
    redis_sidecar::metrics::status::set_slowlog_source(Arc::new(|_| {
        vec![redis_sidecar::metrics::status::SlowEntry {
            id: 7,
            at_ms: redis_sidecar::metrics::status::unix_ms(),
            duration_us: 12_345,
            command: "XRANGE flow:events:42 - +".into(),
            tenant: None,
        }]
    }));

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
    for chart in ["c-ops", "c-latency", "c-state"] {
        let points = tools::attribute(&dom, &format!("id=\"{chart}\""), "data-points");
        assert!(points > 0, "{chart} drew nothing");
    }
    assert!(
        dom.contains(">upstream<"),
        "the state badge shows the upstream state"
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
