//! `config/sidecar.toml`, the shipped configuration file: it loads cleanly, behaves exactly like
//! no file at all (so `cargo run` with it present changes nothing), and its commented-out
//! examples are themselves valid. Invalid values in a file are reported by their key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis_sidecar::config::{Cli, Config, ConfigError};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sidecar.toml")
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("config-file-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: PathBuf, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cli = Cli {
        config: Some(path),
        ..Cli::default()
    };
    Config::load_with_env(&cli, |k| env.get(k).cloned())
}

/// Every field of `Config` that can be compared, as text.
fn fields(c: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("listen", c.listen.to_string()),
        ("http", c.http.to_string()),
        (
            "upstream",
            format!("{:?}", c.upstream.as_ref().map(|u| u.to_string())),
        ),
        ("connect_timeout", format!("{:?}", c.connect_timeout)),
        ("command_timeout", format!("{:?}", c.command_timeout)),
        ("upstream_connections", c.upstream_connections.to_string()),
        ("dedicated_connections", c.dedicated_connections.to_string()),
        ("tls", c.tls.is_some().to_string()),
        (
            "tls_insecure_skip_verify",
            c.tls_insecure_skip_verify.to_string(),
        ),
        ("fallback", c.fallback.to_string()),
        ("journal_dir", c.journal_dir.display().to_string()),
        ("health_interval", format!("{:?}", c.health_interval)),
        ("max_request_bytes", c.max_request_bytes.to_string()),
        ("max_clients", c.max_clients.to_string()),
        ("maxmemory", c.maxmemory.to_string()),
        ("auth", format!("{:?}", c.auth)),
        ("maxmemory_policy", format!("{:?}", c.maxmemory_policy)),
        ("data_dir", c.data_dir.display().to_string()),
        ("appendonly", c.appendonly.to_string()),
        ("appendfsync", format!("{:?}", c.appendfsync)),
        (
            "auto_aof_rewrite_min_size",
            c.auto_aof_rewrite_min_size.to_string(),
        ),
        ("budget", format!("{:?}", c.budget)),
        ("slowlog", format!("{:?}", c.slowlog)),
        ("compression", format!("{:?}", c.compression)),
    ]
}

#[test]
fn the_shipped_file_is_accepted_and_equals_the_defaults() {
    let c = load(shipped(), &[]).unwrap_or_else(|e| panic!("config/sidecar.toml: {e}"));
    // The main fields, against the documented defaults.
    assert_eq!(c.listen.to_string(), "127.0.0.1:6380");
    assert_eq!(c.http.to_string(), "127.0.0.1:9180");
    assert!(
        c.upstream.is_none(),
        "the shipped file must not set an upstream"
    );
    assert!(c.fallback);
    assert_eq!(c.journal_dir, PathBuf::from("data/journal"));
    assert_eq!(c.data_dir, PathBuf::from("data"));
    assert_eq!(c.maxmemory, 256 * 1024 * 1024);
    assert_eq!(c.upstream_connections, 4);
    assert_eq!(c.connect_timeout, Duration::from_millis(2000));
    assert_eq!(c.command_timeout, Duration::from_millis(10_000));
    assert_eq!(c.max_request_bytes, 10 * 1024 * 1024);
    assert_eq!(c.compression.threshold, 1024);
    assert!(c.budget.is_none());
    assert!(!c.auth.required());
    assert_eq!(c.slowlog.threshold, Some(Duration::from_millis(100)));
    // And every field, against a load with an empty file (the code's defaults).
    let defaults = load(write_temp("empty", ""), &[]).unwrap();
    assert_eq!(fields(&c), fields(&defaults));
}

#[test]
fn the_environment_still_overrides_the_shipped_file() {
    let c = load(
        shipped(),
        &[
            ("SIDECAR_LISTEN", "0.0.0.0:6380"),
            ("PORT", "8080"),
            ("REDIS_URL", "redis://redis:6379"),
            ("REDIS_MAX_CONNECTIONS", "8"),
            ("REDIS_COMPRESSION_THRESHOLD", "4096"),
            ("SIDECAR_DATA_DIR", "/data"),
            ("SIDECAR_JOURNAL_DIR", "/data/journal"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:6380");
    assert_eq!(c.http.to_string(), "0.0.0.0:8080");
    assert_eq!(c.upstream.unwrap().host, "redis");
    assert_eq!(c.upstream_connections, 8);
    assert_eq!(c.compression.threshold, 4096);
    assert_eq!(c.data_dir, PathBuf::from("/data"));
    assert_eq!(c.journal_dir, PathBuf::from("/data/journal"));
}

/// The optional sections, uncommented (one leading "# " removed from each line after the marker),
/// are valid as written: a user who uncomments an example gets a working configuration.
#[test]
fn the_commented_out_examples_are_valid() {
    let text = std::fs::read_to_string(shipped()).unwrap();
    let (main, optional) = text
        .split_once("# --- Optional sections")
        .expect("the optional-sections marker");
    let uncommented: String = optional
        .lines()
        .skip(1)
        .map(|line| line.strip_prefix("# ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let file = write_temp("examples", &format!("{main}\n{uncommented}\n"));
    let c = load(file, &[("ALICE_PASSWORD", "pw")]).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.auth.password.is_some());
    assert_eq!(c.auth.tenants.len(), 1);
    assert_eq!(&*c.auth.tenants[0].user, "alice");
    let budget = c.budget.expect("the [budget] example");
    assert_eq!((budget.limit, budget.cost_of(b"SMEMBERS")), (10_000, 10));
}

#[test]
fn an_invalid_budget_limit_in_a_file_is_named() {
    let file = write_temp("budget", "[budget]\nlimit = \"lots\"\n");
    let err = load(file, &[]).unwrap_err().to_string();
    assert!(err.contains("budget.limit"), "{err}");
    assert!(err.contains("\"lots\""), "the value is quoted back: {err}");
}

#[test]
fn an_unknown_key_in_the_file_is_refused() {
    let file = write_temp("unknown", "[store]\nmaxmemroy = \"1gb\"\n");
    let err = load(file, &[]).unwrap_err().to_string();
    assert!(err.contains("maxmemroy"), "{err}");
}
