//! Every metric the sidecar exports: its name, kind and help text, in one place.
//!
//! Invariants (checked by the tests below): every name starts with `redis_sidecar_`, carries its
//! unit (`_seconds`, `_bytes`, `_ratio`, `_commands`, `_dollars`) or is a plain count, counters
//! end in `_total` and nothing else does, and no name appears twice.

/// What kind of series a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric's name, kind and help text.
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

macro_rules! defs {
    ($($id:ident: $kind:ident, $name:literal, $help:literal;)*) => {
        $(
            #[doc = $help]
            pub const $id: Def = Def { name: $name, kind: Kind::$kind, help: $help };
        )*
        /// Every metric, for describing them to the recorder once.
        pub const ALL: &[&Def] = &[$(&$id),*];
    };
}

defs! {
    COMMANDS: Counter, "redis_sidecar_commands_total",
        "Commands answered, by command and outcome (ok, error, refused: refused with an error by a policy of the sidecar itself).";
    COMMAND_DURATION: Histogram, "redis_sidecar_command_duration_seconds",
        "Round trip of a command from the sidecar to whoever served it and back, in seconds, by command.";
    RECEIVED_BYTES: Counter, "redis_sidecar_client_received_bytes_total",
        "Bytes read from client connections.";
    SENT_BYTES: Counter, "redis_sidecar_client_sent_bytes_total",
        "Bytes written to client connections.";
    CLIENTS_OPEN: Gauge, "redis_sidecar_client_connections",
        "Client connections open now.";
    CLIENTS_ACCEPTED: Counter, "redis_sidecar_client_connections_accepted_total",
        "Client connections accepted.";
    CLIENTS_REFUSED: Counter, "redis_sidecar_client_connections_refused_total",
        "Client connections refused because max_clients were connected.";
    LIMITS_ENFORCED: Counter, "redis_sidecar_limits_enforced_total",
        "Times a [limits] setting acted, by limit (max_request_bytes: a request refused; idle_timeout: a client closed; output_buffer: a slow reader closed).";
    UPSTREAM_CONNECTIONS: Gauge, "redis_sidecar_upstream_connections",
        "Connections to the upstream open now, by kind (pool: shared and pipelined; dedicated: pinned to one client).";
    UPSTREAM_WRITES: Counter, "redis_sidecar_upstream_writes_total",
        "Writes to the upstream's shared pool connections (one system call each, or one write to the TLS stream); commands forwarded per write show how well clients' commands are batched.";
    UPSTREAM_UP: Gauge, "redis_sidecar_upstream_up",
        "1 when the upstream answers PING, 0 when it does not (absent with no upstream configured).";
    UPSTREAM_STATE: Gauge, "redis_sidecar_upstream_state",
        "1 for the state the sidecar is in (upstream, fallback, replaying, embedded), 0 for the others.";
    UPSTREAM_PING_LATENCY: Gauge, "redis_sidecar_upstream_ping_latency_seconds",
        "Round trip of the last health PING to the upstream, in seconds.";
    FALLBACK_ACTIVE: Gauge, "redis_sidecar_fallback_active",
        "1 while the embedded store serves clients in place of the upstream (fallback or replaying).";
    JOURNAL_PENDING_BYTES: Gauge, "redis_sidecar_journal_pending_bytes",
        "Bytes of journaled writes not yet replayed to the upstream.";
    JOURNAL_ENTRIES: Counter, "redis_sidecar_journal_entries_total",
        "Writes appended to the fallback journal since the sidecar started.";
    REPLAY_PROGRESS: Gauge, "redis_sidecar_replay_progress_ratio",
        "Share of the journal the upstream has acknowledged (1 when nothing is pending).";
    BUDGET_USED: Gauge, "redis_sidecar_budget_used_commands",
        "Command cost counted against the budget in the current period.";
    BUDGET_LIMIT: Gauge, "redis_sidecar_budget_limit_commands",
        "The budget's limit for the current period (0: no limit configured).";
    BUDGET_REMAINING: Gauge, "redis_sidecar_budget_remaining_commands",
        "Command cost left in the current period before the budget refuses work.";
    BUDGET_SPEND: Gauge, "redis_sidecar_budget_estimated_spend_dollars",
        "Estimated upstream bill for the current period, in US dollars.";
    READ_HITS: Counter, "redis_sidecar_read_hits_total",
        "Reads that found their key, by key namespace (the key's first two ':' segments; bounded, the rest in 'other').";
    READ_MISSES: Counter, "redis_sidecar_read_misses_total",
        "Reads that found nothing (nil, empty, 0), by key namespace (as for the hits).";
    COMPRESSION_INPUT: Counter, "redis_sidecar_compression_input_bytes_total",
        "Bytes of values given to the compressor (before compression).";
    COMPRESSION_OUTPUT: Counter, "redis_sidecar_compression_output_bytes_total",
        "Bytes of the same values after compression.";
    SLOW_COMMANDS: Counter, "redis_sidecar_slow_commands_total",
        "Commands slower than the slow log's threshold.";
    CONFIG_RELOADS: Counter, "redis_sidecar_config_reloads_total",
        "Configuration reloads (SIGHUP), by result: ok, or error (invalid; the running configuration was kept).";
    TENANT_COMMANDS: Counter, "redis_sidecar_tenant_commands_total",
        "Commands answered, by tenant (bounded, the rest in 'other') and outcome.";
}

/// Upper bounds of the command latency histogram's buckets, in seconds: 50 µs to 5 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// How many distinct values a label fed from client data (key namespaces, tenants) may take;
/// later ones are counted under `other`.
pub const MAX_LABEL_VALUES: usize = 64;
/// The label value for everything past [`MAX_LABEL_VALUES`] (and unknown command names).
pub const OTHER: &str = "other";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for def in ALL {
            assert!(seen.insert(def.name), "{} defined twice", def.name);
            assert!(def.name.starts_with("redis_sidecar_"), "{}", def.name);
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                def.name
            );
            assert_eq!(
                def.kind == Kind::Counter,
                def.name.ends_with("_total"),
                "{}: only counters end in _total",
                def.name
            );
            assert!(!def.help.is_empty());
        }
        assert!(COMMAND_DURATION.name.ends_with("_seconds"));
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(LATENCY_BUCKETS.first(), Some(&0.000_05));
        assert_eq!(LATENCY_BUCKETS.last(), Some(&5.0));
    }
}
