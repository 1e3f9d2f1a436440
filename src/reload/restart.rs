//! Which settings a reload cannot apply: the process was built around them (sockets, the
//! upstream pool, the stores and their files).

use crate::config::Config;

/// The restart-only settings that differ between `running` and `loaded`, by their file names.
/// Invariant: every field of [`Config`] is either named here or applied by a reload
/// (`auth`/`tenants`, `budget`, `slowlog`, `compression`; `file` is where they came from).
pub fn changed(running: &Config, loaded: &Config) -> Vec<&'static str> {
    let (a, b) = (running, loaded);
    let checks: [(&'static str, bool); 20] = [
        ("server.listen", a.listen != b.listen),
        ("server.http", a.http != b.http),
        ("upstream.url", a.upstream != b.upstream),
        (
            "upstream.connect_timeout_ms",
            a.connect_timeout != b.connect_timeout,
        ),
        (
            "upstream.command_timeout_ms",
            a.command_timeout != b.command_timeout,
        ),
        (
            "upstream.connections",
            a.upstream_connections != b.upstream_connections,
        ),
        (
            "upstream.dedicated_connections",
            a.dedicated_connections != b.dedicated_connections,
        ),
        (
            "upstream.tls_insecure_skip_verify",
            a.tls_insecure_skip_verify != b.tls_insecure_skip_verify,
        ),
        // The CA file is read again by every reload and put in force (see `Reloader`); TLS being
        // on or off follows the URL.
        ("upstream.ca_file", a.tls.is_some() != b.tls.is_some()),
        ("fallback.enabled", a.fallback != b.fallback),
        ("fallback.journal_dir", a.journal_dir != b.journal_dir),
        (
            "fallback.health_interval_ms",
            a.health_interval != b.health_interval,
        ),
        (
            "limits.max_request_bytes",
            a.max_request_bytes != b.max_request_bytes,
        ),
        ("limits.max_clients", a.max_clients != b.max_clients),
        ("store.maxmemory", a.maxmemory != b.maxmemory),
        (
            "store.maxmemory_policy",
            a.maxmemory_policy != b.maxmemory_policy,
        ),
        ("store.data_dir", a.data_dir != b.data_dir),
        (
            "store.appendonly / store.appendfsync",
            a.appendonly != b.appendonly || a.appendfsync != b.appendfsync,
        ),
        (
            "store.auto_aof_rewrite_min_size",
            a.auto_aof_rewrite_min_size != b.auto_aof_rewrite_min_size,
        ),
        (
            "store.script_time_limit_ms",
            a.script_time_limit != b.script_time_limit,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cli;

    #[test]
    fn names_what_needs_a_restart() {
        let load = |listen: &str, upstream: &str| {
            Config::load_with_env(
                &Cli {
                    listen: Some(listen.into()),
                    upstream: Some(upstream.into()),
                    config: Some("/dev/null".into()),
                    ..Cli::default()
                },
                |_| None,
            )
            .unwrap()
        };
        let running = load("127.0.0.1:7000", "redis://a:1");
        assert!(changed(&running, &running.clone()).is_empty());
        let mut loaded = load("127.0.0.1:7001", "redis://b:1");
        loaded.slowlog.max_len = 1;
        assert_eq!(
            changed(&running, &loaded),
            ["server.listen", "upstream.url"]
        );
    }
}
