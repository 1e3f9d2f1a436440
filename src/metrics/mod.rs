//! Metrics: one Prometheus recorder for the process, the handles the data path uses, and the
//! small functions other layers call to report what only they know.
//!
//! Invariants: every metric's name and help text come from [`names`]; handles are registered
//! once (lazily, per label value) and reused, so recording is an atomic operation with no
//! allocation; the per-command series are counted in per-thread [`shards`] (no shared write on
//! the command path) and summed at scrape time; every label fed from client data is bounded
//! ([`names::MAX_LABEL_VALUES`]).
//! The recorder is the process's, not a server's: the metrics of every sidecar started in one
//! process (the tests) add up.
//!
//! Hooks for layers built elsewhere: [`budget`], [`compression`], [`slowlog`] (their values
//! are kept in atomics and copied into the exported series at scrape time).

pub mod commands;
mod export;
pub mod gauges;
pub mod hooks;
pub mod latency;
pub mod names;
pub mod namespaces;
pub mod policy;
pub mod shards;
pub mod status;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crate::protocol::Reply;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

pub use hooks::{budget, compression, slowlog};
pub use policy::MetricsPolicy;

use names::{Def, Kind};

/// The process's recorder and the handles that have no per-command labels.
struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    received: Counter,
    sent: Counter,
    open: Gauge,
    accepted: Counter,
    refused: Counter,
    upstream_pool: Gauge,
    upstream_writes: Counter,
    /// One counter per `[limits]` setting that acts on clients (exported from the start, at 0).
    limits: [(&'static str, Counter); 3],
}

/// The `limit` label values of `redis_sidecar_limits_enforced_total`.
const LIMITS: [&str; 3] = ["max_request_bytes", "idle_timeout", "output_buffer"];

static METADATA: Metadata<'static> = Metadata::new("redis_sidecar", Level::INFO, None);

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    // The command latency histogram is rendered by `export` (from the shards), not by the
    // exporter: it is described below but never registered, so the exporter prints nothing
    // for it.
    let recorder = PrometheusBuilder::new().build_recorder();
    for def in names::ALL {
        let (name, help) = (def.name.into(), SharedString::const_str(def.help));
        match def.kind {
            Kind::Counter => recorder.describe_counter(name, None, help),
            Kind::Gauge => recorder.describe_gauge(name, None, help),
            Kind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
    let handle = recorder.handle();
    let plain = |def: &Def| recorder.register_counter(&Key::from_static_name(def.name), &METADATA);
    Registry {
        received: plain(&names::RECEIVED_BYTES),
        sent: plain(&names::SENT_BYTES),
        accepted: plain(&names::CLIENTS_ACCEPTED),
        refused: plain(&names::CLIENTS_REFUSED),
        upstream_writes: plain(&names::UPSTREAM_WRITES),
        limits: LIMITS.map(|limit| {
            let labels = vec![Label::from_static_parts("limit", limit)];
            let key = Key::from_parts(names::LIMITS_ENFORCED.name, labels);
            (limit, recorder.register_counter(&key, &METADATA))
        }),
        open: recorder.register_gauge(&Key::from_static_name(names::CLIENTS_OPEN.name), &METADATA),
        upstream_pool: recorder.register_gauge(
            &Key::from_static_parts(names::UPSTREAM_CONNECTIONS.name, POOL_LABEL),
            &METADATA,
        ),
        recorder,
        handle,
    }
});

static POOL_LABEL: &[Label] = &[Label::from_static_parts("kind", "pool")];

/// A counter for `def` with `labels` (registers it the first time; call once per label set and
/// keep the handle).
pub fn counter(def: &Def, labels: Vec<Label>) -> Counter {
    debug_assert_eq!(def.kind, Kind::Counter);
    REGISTRY
        .recorder
        .register_counter(&Key::from_parts(def.name, labels), &METADATA)
}

/// A gauge for `def` with `labels` (as for [`counter`]).
pub fn gauge(def: &Def, labels: Vec<Label>) -> Gauge {
    debug_assert_eq!(def.kind, Kind::Gauge);
    REGISTRY
        .recorder
        .register_gauge(&Key::from_parts(def.name, labels), &METADATA)
}

/// A histogram for `def` with `labels` (as for [`counter`]).
pub fn histogram(def: &Def, labels: Vec<Label>) -> Histogram {
    debug_assert_eq!(def.kind, Kind::Histogram);
    REGISTRY
        .recorder
        .register_histogram(&Key::from_parts(def.name, labels), &METADATA)
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render() -> String {
    hooks::export();
    namespaces::export();
    let histogram = export::commands();
    let mut text = REGISTRY.handle.render();
    text.push_str(&histogram);
    text
}

/// Folds histogram samples into their buckets, so memory stays bounded between scrapes; run it
/// every few seconds.
pub fn upkeep() {
    REGISTRY.handle.run_upkeep();
}

/// `n` bytes read from a client.
pub fn received(n: usize) {
    REGISTRY.received.increment(n as u64);
}

/// `n` bytes written to a client.
pub fn sent(n: usize) {
    REGISTRY.sent.increment(n as u64);
    status::SENT.fetch_add(n as u64, Ordering::Relaxed);
}

/// A client connection, counted as open until dropped.
pub struct ClientGuard(());

/// Counts an accepted client; it stays counted as open while the guard lives.
pub fn client_accepted() -> ClientGuard {
    REGISTRY.accepted.increment(1);
    REGISTRY.open.increment(1.0);
    CLIENTS_OPEN.fetch_add(1, Ordering::Relaxed);
    ClientGuard(())
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        REGISTRY.open.decrement(1.0);
        CLIENTS_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Client connections open now (for the status page).
static CLIENTS_OPEN: AtomicU64 = AtomicU64::new(0);

/// Clients connected now.
pub fn clients_open() -> u64 {
    CLIENTS_OPEN.load(Ordering::Relaxed)
}

/// Counts one act of a `[limits]` setting (`limit`: one of `max_request_bytes`, `idle_timeout`,
/// `output_buffer`).
pub fn limit_enforced(limit: &'static str) {
    debug_assert!(LIMITS.contains(&limit), "unknown limit {limit}");
    if let Some((_, counter)) = REGISTRY.limits.iter().find(|(name, _)| *name == limit) {
        counter.increment(1);
    }
}

/// Counts a client refused at accept (max_clients reached).
pub fn client_refused() {
    REGISTRY.refused.increment(1);
}

/// Counts a write to a pool connection.
pub fn upstream_wrote() {
    REGISTRY.upstream_writes.increment(1);
}

/// An open pool connection to the upstream, counted while the guard lives.
pub struct UpstreamGuard(());

/// Counts a pool connection to the upstream as open until the guard is dropped.
pub fn upstream_connected() -> UpstreamGuard {
    REGISTRY.upstream_pool.increment(1.0);
    UpstreamGuard(())
}

impl Drop for UpstreamGuard {
    fn drop(&mut self) {
        REGISTRY.upstream_pool.decrement(1.0);
    }
}

/// Whether an encoded reply carries nothing (nil, empty aggregate, integer 0).
pub fn empty_frame(frame: &[u8]) -> bool {
    matches!(
        frame,
        [b'_', ..]
            | [b'$' | b'*', b'-', b'1', b'\r', ..]
            | [b'*' | b'%' | b'~' | b':', b'0', b'\r', ..]
            | [b'#', b'f', ..]
    )
}

/// Whether a reply carries nothing (nil, empty aggregate, integer 0, false).
pub fn empty_reply(reply: &Reply) -> bool {
    match reply {
        Reply::Nil | Reply::NilArray | Reply::Int(0) | Reply::Bool(false) => true,
        Reply::Array(v) | Reply::Set(v) => v.is_empty(),
        Reply::Map(v) => v.is_empty(),
        Reply::Raw(frame) => empty_frame(frame),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn nothing_is_nil_empty_or_zero_in_both_protocols() {
        let empty = [
            Reply::Nil,
            Reply::NilArray,
            Reply::Int(0),
            Reply::Bool(false),
            Reply::Array(vec![]),
            Reply::Map(vec![]),
            Reply::Set(vec![]),
        ];
        let full = [
            Reply::bulk("x"),
            Reply::bulk(""),
            Reply::Int(1),
            Reply::Int(-1),
            Reply::Int(10),
            Reply::Array(vec![Reply::Nil]),
            Reply::ok(),
            Reply::Bool(true),
        ];
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            for r in &empty {
                assert!(empty_reply(r), "{r:?}");
                assert!(empty_frame(&r.to_bytes(protocol)), "{r:?} in {protocol:?}");
            }
            for r in &full {
                assert!(!empty_reply(r), "{r:?}");
                assert!(!empty_frame(&r.to_bytes(protocol)), "{r:?} in {protocol:?}");
            }
        }
    }
}
