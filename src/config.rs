//! Configuration: defaults, then the TOML file, then environment variables, then flags.
//!
//! Invariant: a [`Config`] that `load` returns has been validated; every invalid field is
//! reported at once in [`ConfigError`], naming the field, the value and what is allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::upstream::UpstreamUrl;

/// Command-line flags. Each overrides the file and the environment.
#[derive(Parser, Debug, Default)]
#[command(
    name = "redis-sidecar",
    version,
    about = "A Redis-protocol sidecar for Redis and Upstash."
)]
pub struct Cli {
    /// Address clients connect to [env: SIDECAR_LISTEN] [default: 127.0.0.1:6380]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Upstream Redis, redis:// or rediss:// (TLS); unset serves from the embedded store
    /// [env: SIDECAR_UPSTREAM_URL, then UPSTASH_REDIS_URL, then REDIS_URL]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Address of the HTTP server for metrics and health [env: PORT, as 0.0.0.0:$PORT]
    /// [default: 127.0.0.1:9180]
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// PEM file with the CA that signed the upstream's certificate (a private CA) [file: upstream.ca_file]
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Most shared upstream connections per protocol version (opened as load needs them) [env: REDIS_MAX_CONNECTIONS] [default: 4]
    #[arg(long, value_name = "N")]
    pub upstream_connections: Option<usize>,
    /// Where writes made during an upstream outage are journaled until replayed
    /// [env: SIDECAR_JOURNAL_DIR] [file: fallback.journal_dir] [default: data/journal]
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Where the embedded store keeps its append-only file when it is the primary
    /// [env: SIDECAR_DATA_DIR] [file: store.data_dir] [default: data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file [default: config/sidecar.toml when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print the result, and exit
    #[arg(long)]
    pub check_config: bool,
}

/// The file's shape. Every section and key is optional; unknown keys are refused.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct FileConfig {
    server: ServerSection,
    upstream: UpstreamSection,
    limits: LimitsSection,
    store: StoreSection,
    fallback: FallbackSection,
    auth: crate::policy::auth::AuthSection,
    tenants: Vec<crate::policy::auth::TenantSection>,
    // Read by hand (crate::policy) so that every invalid field is reported, named.
    budget: Option<toml::Table>,
    slowlog: Option<toml::Table>,
    compression: Option<toml::Table>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct FallbackSection {
    enabled: Option<bool>,
    journal_dir: Option<PathBuf>,
    health_interval_ms: Option<u64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct ServerSection {
    listen: Option<String>,
    http: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct UpstreamSection {
    url: Option<String>,
    connect_timeout_ms: Option<u64>,
    command_timeout_ms: Option<u64>,
    connections: Option<u64>,
    dedicated_connections: Option<u64>,
    coalesce_below_rtt_us: Option<u64>,
    ca_file: Option<PathBuf>,
    tls_insecure_skip_verify: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct LimitsSection {
    max_request_bytes: Option<u64>,
    max_clients: Option<u64>,
    idle_timeout_s: Option<u64>,
    pubsub_output_limit: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
struct StoreSection {
    maxmemory: Option<String>,
    maxmemory_policy: Option<String>,
    data_dir: Option<PathBuf>,
    appendonly: Option<bool>,
    appendfsync: Option<String>,
    auto_aof_rewrite_min_size: Option<String>,
    script_time_limit_ms: Option<u64>,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub http: SocketAddr,
    pub upstream: Option<UpstreamUrl>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub upstream_connections: usize,
    pub dedicated_connections: usize,
    /// A pool connection's new commands wait for the replies it awaits while its smoothed round
    /// trip is under this (zero: never); see `upstream::coalesce`.
    pub coalesce_below_rtt: Duration,
    /// TLS settings for a `rediss://` upstream (built and checked at load).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub tls_insecure_skip_verify: bool,
    /// Serve from the embedded store during upstream outages (and journal the writes).
    pub fallback: bool,
    pub journal_dir: PathBuf,
    pub health_interval: Duration,
    pub max_request_bytes: usize,
    pub max_clients: usize,
    /// Close a client idle this long (None: never). Subscribers and blocked clients are exempt.
    pub idle_timeout: Option<Duration>,
    /// Disconnect a subscriber whose unsent output passes this limit.
    pub pubsub_output_limit: crate::connection::limits::OutputLimit,
    pub maxmemory: u64,
    /// Who may connect: `[auth]` password and `[[tenants]]` (validated; secrets redacted).
    pub auth: crate::policy::auth::AuthConfig,
    /// What the store does past `maxmemory`.
    pub maxmemory_policy: crate::store::evict::Policy,
    /// Where the primary store's append-only file lives.
    pub data_dir: PathBuf,
    /// Persist the primary store in an append-only file.
    pub appendonly: bool,
    pub appendfsync: crate::failover::journal::Fsync,
    /// The append-only file is compacted once past this size and twice its last compacted size.
    pub auto_aof_rewrite_min_size: u64,
    /// A Lua script in the embedded store is stopped after running this long (None: never).
    pub script_time_limit: Option<Duration>,
    /// The command-cost budget (None: no budget).
    pub budget: Option<crate::policy::budget_config::BudgetConfig>,
    pub slowlog: crate::policy::slowlog::SlowlogConfig,
    /// Compression of large values (applies only with an upstream).
    pub compression: crate::policy::compress::CompressionConfig,
    /// The file the configuration was read from, if any.
    pub file: Option<PathBuf>,
}

/// Every problem found in the configuration, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// The default file, read when `--config` is not given and it exists.
pub const DEFAULT_FILE: &str = "config/sidecar.toml";

/// The largest `upstream.coalesce_below_rtt_us`: holding commands for longer than 100 ms would
/// not be coalescing but stalling.
const MAX_COALESCE_BELOW_RTT_US: u64 = 100_000;

impl Config {
    /// Loads from the process environment.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        Config::load_with_env(cli, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// Loads with `env` standing in for the environment (tests pass a map).
    pub fn load_with_env(
        cli: &Cli,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        let path = match &cli.config {
            Some(p) => Some(p.clone()),
            None => Path::new(DEFAULT_FILE)
                .exists()
                .then(|| PathBuf::from(DEFAULT_FILE)),
        };
        let file = match &path {
            Some(p) => read_file(p).unwrap_or_else(|e| {
                errors.push(e);
                FileConfig::default()
            }),
            None => FileConfig::default(),
        };

        let listen = pick(
            &cli.listen,
            env("SIDECAR_LISTEN"),
            &file.server.listen,
            "127.0.0.1:6380",
        );
        let http = match (&cli.http, env("PORT")) {
            (Some(flag), _) => flag.clone(),
            (None, Some(port)) => format!("0.0.0.0:{port}"),
            (None, None) => file
                .server
                .http
                .clone()
                .unwrap_or_else(|| "127.0.0.1:9180".into()),
        };
        let upstream_text = cli
            .upstream
            .clone()
            .or_else(|| env("SIDECAR_UPSTREAM_URL"))
            .or_else(|| env("UPSTASH_REDIS_URL"))
            .or_else(|| env("REDIS_URL"))
            .or(file.upstream.url.clone());

        let listen = addr(
            "server.listen (--listen, SIDECAR_LISTEN)",
            &listen,
            &mut errors,
        );
        let http = addr("server.http (--http, PORT)", &http, &mut errors);
        let upstream = upstream_text
            .as_deref()
            .and_then(|text| match UpstreamUrl::parse(text) {
                Ok(url) => Some(url),
                Err(e) => {
                    errors.push(format!(
                        "upstream.url (--upstream, SIDECAR_UPSTREAM_URL): {e}"
                    ));
                    None
                }
            });
        if let (Some(url), Some(listen)) = (&upstream, listen) {
            if points_at(url, listen) {
                errors.push(format!(
                    "upstream.url: {url} is the sidecar's own listen address {listen}; it would forward to itself"
                ));
            }
        }
        let connect_timeout_ms = file.upstream.connect_timeout_ms.unwrap_or(2000);
        if connect_timeout_ms == 0 {
            errors.push(
                "upstream.connect_timeout_ms: 0 is not allowed; use a number of milliseconds >= 1"
                    .into(),
            );
        }
        let command_timeout_ms = file.upstream.command_timeout_ms.unwrap_or(10_000);
        if command_timeout_ms == 0 {
            errors.push(
                "upstream.command_timeout_ms: 0 is not allowed; use a number of milliseconds >= 1"
                    .into(),
            );
        }
        let connections_text = cli
            .upstream_connections
            .map(|n| n.to_string())
            .or_else(|| env("REDIS_MAX_CONNECTIONS"))
            .or(file.upstream.connections.map(|n| n.to_string()))
            .unwrap_or_else(|| "4".into());
        let upstream_connections = match connections_text.parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => n,
            _ => {
                errors.push(format!(
                    "upstream.connections (--upstream-connections, REDIS_MAX_CONNECTIONS): '{connections_text}' is not allowed; use a number from 1 to 256"
                ));
                1
            }
        };
        let dedicated_connections = file.upstream.dedicated_connections.unwrap_or(512);
        if dedicated_connections == 0 {
            errors
                .push("upstream.dedicated_connections: 0 is not allowed; use a number >= 1".into());
        }
        let coalesce_below_rtt_us = file.upstream.coalesce_below_rtt_us.unwrap_or(250);
        if coalesce_below_rtt_us > MAX_COALESCE_BELOW_RTT_US {
            errors.push(format!(
                "upstream.coalesce_below_rtt_us: {coalesce_below_rtt_us} is not allowed; use microseconds from 0 (never hold commands) to {MAX_COALESCE_BELOW_RTT_US}"
            ));
        }
        let insecure = file.upstream.tls_insecure_skip_verify.unwrap_or(false);
        let ca_file = cli.upstream_ca.clone().or(file.upstream.ca_file.clone());
        let tls = match &upstream {
            Some(url) if url.tls => {
                match crate::upstream::tls::client_config(ca_file.as_deref(), insecure) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        errors.push(format!("upstream.ca_file (--upstream-ca): {e}"));
                        None
                    }
                }
            }
            _ => None,
        };
        let journal_dir = cli
            .journal_dir
            .clone()
            .or_else(|| env("SIDECAR_JOURNAL_DIR").map(PathBuf::from))
            .or(file.fallback.journal_dir.clone())
            .unwrap_or_else(|| PathBuf::from("data/journal"));
        let health_interval_ms = file.fallback.health_interval_ms.unwrap_or(1000);
        if !(50..=60_000).contains(&health_interval_ms) {
            errors.push(format!(
                "fallback.health_interval_ms: {health_interval_ms} is out of range; allowed 50 to 60000"
            ));
        }
        let max_request_bytes = file.limits.max_request_bytes.unwrap_or(10 * 1024 * 1024);
        if !(1024..=512 * 1024 * 1024).contains(&max_request_bytes) {
            errors.push(format!(
                "limits.max_request_bytes: {max_request_bytes} is out of range; allowed 1024 to 536870912"
            ));
        }
        let max_clients = file.limits.max_clients.unwrap_or(10_000);
        if max_clients == 0 {
            errors.push("limits.max_clients: 0 is not allowed; use a number >= 1".into());
        }
        let idle_timeout_s = file.limits.idle_timeout_s.unwrap_or(300);
        if idle_timeout_s > 365 * 24 * 3600 {
            errors.push(format!(
                "limits.idle_timeout_s: {idle_timeout_s} is out of range; allowed 0 (never) to 31536000"
            ));
        }
        let pubsub_output_limit = match &file.limits.pubsub_output_limit {
            None => Default::default(),
            Some(text) => crate::connection::limits::OutputLimit::parse(text).unwrap_or_else(|e| {
                errors.push(format!("limits.pubsub_output_limit: {e}"));
                Default::default()
            }),
        };
        let maxmemory = match &file.store.maxmemory {
            None => 256 * 1024 * 1024,
            Some(text) => parse_size(text).unwrap_or_else(|| {
                errors.push(format!(
                    "store.maxmemory: '{text}' is not a size; use bytes or a unit, e.g. \"256mb\", \"1gb\", \"0\" for none"
                ));
                0
            }),
        };
        let auth =
            crate::policy::auth::AuthConfig::load(&file.auth, &file.tenants, &env, &mut errors);
        let store = store_settings(&file.store, cli, &env, &mut errors);
        let budget = crate::policy::budget_config::BudgetConfig::from_toml(
            file.budget.as_ref(),
            &mut errors,
        );
        let slowlog =
            crate::policy::slowlog::SlowlogConfig::from_toml(file.slowlog.as_ref(), &mut errors);
        let compression = crate::policy::compress::CompressionConfig::from_toml(
            file.compression.as_ref(),
            env("REDIS_COMPRESSION_THRESHOLD"),
            &mut errors,
        );

        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(Config {
            listen: listen.expect("checked"),
            http: http.expect("checked"),
            upstream,
            connect_timeout: Duration::from_millis(connect_timeout_ms),
            command_timeout: Duration::from_millis(command_timeout_ms),
            upstream_connections,
            dedicated_connections: dedicated_connections as usize,
            coalesce_below_rtt: Duration::from_micros(coalesce_below_rtt_us),
            tls,
            tls_insecure_skip_verify: insecure,
            fallback: file.fallback.enabled.unwrap_or(true),
            journal_dir,
            health_interval: Duration::from_millis(health_interval_ms),
            max_request_bytes: max_request_bytes as usize,
            max_clients: max_clients as usize,
            idle_timeout: (idle_timeout_s > 0).then(|| Duration::from_secs(idle_timeout_s)),
            pubsub_output_limit,
            maxmemory,
            auth,
            maxmemory_policy: store.policy,
            data_dir: store.data_dir,
            appendonly: store.appendonly,
            appendfsync: store.appendfsync,
            auto_aof_rewrite_min_size: store.rewrite_min_size,
            script_time_limit: store.script_time_limit,
            budget,
            slowlog,
            compression,
            file: path,
        })
    }
}

/// The `[store]` settings besides maxmemory.
struct StoreSettings {
    policy: crate::store::evict::Policy,
    data_dir: PathBuf,
    appendonly: bool,
    appendfsync: crate::failover::journal::Fsync,
    rewrite_min_size: u64,
    script_time_limit: Option<Duration>,
}

fn store_settings(
    section: &StoreSection,
    cli: &Cli,
    env: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> StoreSettings {
    use crate::failover::journal::Fsync;
    use crate::store::evict::Policy;
    let policy = match &section.maxmemory_policy {
        None => Policy::default(),
        Some(text) => Policy::parse(text).unwrap_or_else(|| {
            errors.push(format!(
                "store.maxmemory_policy: '{text}' is not allowed; use allkeys-lru or noeviction"
            ));
            Policy::default()
        }),
    };
    let appendfsync = match &section.appendfsync {
        None => Fsync::EverySec,
        Some(text) => Fsync::parse(text).unwrap_or_else(|| {
            errors.push(format!(
                "store.appendfsync: '{text}' is not allowed; use always, everysec or no"
            ));
            Fsync::EverySec
        }),
    };
    let rewrite_min_size = match &section.auto_aof_rewrite_min_size {
        None => 64 * 1024 * 1024,
        Some(text) => parse_size(text).unwrap_or_else(|| {
            errors.push(format!(
                "store.auto_aof_rewrite_min_size: '{text}' is not a size; use bytes or a unit, e.g. \"64mb\""
            ));
            0
        }),
    };
    let data_dir = cli
        .data_dir
        .clone()
        .or_else(|| env("SIDECAR_DATA_DIR").map(PathBuf::from))
        .or(section.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"));
    StoreSettings {
        policy,
        data_dir,
        appendonly: section.appendonly.unwrap_or(true),
        appendfsync,
        rewrite_min_size,
        script_time_limit: match section.script_time_limit_ms.unwrap_or(5000) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))
}

fn pick(
    flag: &Option<String>,
    env: Option<String>,
    file: &Option<String>,
    default: &str,
) -> String {
    flag.clone()
        .or(env)
        .or(file.clone())
        .unwrap_or_else(|| default.to_string())
}

fn addr(field: &str, text: &str, errors: &mut Vec<String>) -> Option<SocketAddr> {
    let resolved = text.parse::<SocketAddr>().ok().or_else(|| {
        // Accept "localhost:6380" as users write it.
        let (host, port) = text.rsplit_once(':')?;
        (host == "localhost")
            .then(|| format!("127.0.0.1:{port}").parse().ok())
            .flatten()
    });
    if resolved.is_none() {
        errors.push(format!(
            "{field}: '{text}' is not an address; use IP:PORT, e.g. 127.0.0.1:6380 or 0.0.0.0:6380"
        ));
    }
    resolved
}

/// Whether `url` names this sidecar's own listening socket.
fn points_at(url: &UpstreamUrl, listen: SocketAddr) -> bool {
    if url.port != listen.port() {
        return false;
    }
    let host = url.host.as_str();
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0");
    host == listen.ip().to_string()
        || (local && (listen.ip().is_loopback() || listen.ip().is_unspecified()))
}

/// Parses sizes as redis.conf does: `1024`, `256mb`, `1gb`, `64k`.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(cli: Cli, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(&cli, |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_then_env_then_flags() {
        let c = load(Cli::default(), &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:6380");
        assert_eq!(c.http.to_string(), "127.0.0.1:9180");
        assert!(c.upstream.is_none());
        let c = load(
            Cli::default(),
            &[
                ("PORT", "8080"),
                ("REDIS_URL", "redis://a:1"),
                ("UPSTASH_REDIS_URL", "rediss://b:2"),
            ],
        )
        .unwrap();
        assert_eq!(c.http.to_string(), "0.0.0.0:8080");
        assert_eq!(
            c.upstream.unwrap().host,
            "b",
            "UPSTASH_REDIS_URL wins over REDIS_URL"
        );
        let cli = Cli {
            upstream: Some("redis://c:3".into()),
            listen: Some("127.0.0.1:7000".into()),
            ..Cli::default()
        };
        let c = load(
            cli,
            &[
                ("SIDECAR_UPSTREAM_URL", "redis://d:4"),
                ("SIDECAR_LISTEN", "127.0.0.1:1"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.upstream.unwrap().host.as_str(), c.listen.port()),
            ("c", 7000)
        );
    }

    #[test]
    fn reports_every_invalid_field() {
        let cli = Cli {
            upstream: Some("http://x".into()),
            listen: Some("nowhere".into()),
            ..Cli::default()
        };
        let err = load(cli, &[]).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("use redis:// or rediss://"));
        assert!(err.to_string().contains("server.listen"));
    }

    #[test]
    fn refuses_an_upstream_that_is_the_sidecar_itself() {
        let cli = Cli {
            upstream: Some("redis://localhost:6380".into()),
            ..Cli::default()
        };
        assert!(load(cli, &[])
            .unwrap_err()
            .to_string()
            .contains("forward to itself"));
    }

    #[test]
    fn store_settings_are_validated_by_name() {
        let file = std::env::temp_dir().join(format!("store-cfg-{}.toml", std::process::id()));
        std::fs::write(
            &file,
            "[store]\nappendfsync = \"sometimes\"\nmaxmemory_policy = \"volatile-lfu\"\n",
        )
        .unwrap();
        let cli = || Cli {
            config: Some(file.clone()),
            ..Cli::default()
        };
        let err = load(cli(), &[]).unwrap_err().to_string();
        assert!(err
            .contains("store.appendfsync: 'sometimes' is not allowed; use always, everysec or no"));
        assert!(err.contains("store.maxmemory_policy: 'volatile-lfu'"));
        std::fs::write(
            &file,
            "[store]\ndata_dir = \"/x\"\nappendfsync = \"always\"\n",
        )
        .unwrap();
        let c = load(cli(), &[("SIDECAR_DATA_DIR", "/from-env")]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from-env"));
        assert_eq!(c.appendfsync, crate::failover::journal::Fsync::Always);
        let c = load(cli(), &[]).unwrap();
        assert_eq!((c.data_dir, c.appendonly), (PathBuf::from("/x"), true));
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn coalescing_is_on_for_near_upstreams_by_default_and_bounded() {
        assert_eq!(
            load(Cli::default(), &[]).unwrap().coalesce_below_rtt,
            Duration::from_micros(250)
        );
        let file = std::env::temp_dir().join(format!("coalesce-cfg-{}.toml", std::process::id()));
        let cli = || Cli {
            config: Some(file.clone()),
            ..Cli::default()
        };
        std::fs::write(&file, "[upstream]\ncoalesce_below_rtt_us = 0\n").unwrap();
        assert_eq!(load(cli(), &[]).unwrap().coalesce_below_rtt, Duration::ZERO);
        std::fs::write(&file, "[upstream]\ncoalesce_below_rtt_us = 100001\n").unwrap();
        assert!(load(cli(), &[]).unwrap_err().to_string().contains(
            "upstream.coalesce_below_rtt_us: 100001 is not allowed; use microseconds from 0 (never hold commands) to 100000"
        ));
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("256mb"), Some(256 * 1024 * 1024));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("lots"), None);
    }
}
