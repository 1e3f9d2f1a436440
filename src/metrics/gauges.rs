//! The upstream's side of the picture, read when someone asks (a scrape, the status page), not
//! per command: who serves, whether the upstream answers, the journal and the replay.
//!
//! Invariant: nothing here runs on the command path; [`refresh`] only reads shared state
//! (the health monitor's mode and last PING, the journal's sizes, the pool's permits); only
//! [`refresh`], with no health monitor to ask, PINGs the upstream itself within a bounded time.

use std::sync::LazyLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Label};

use super::names;
use crate::connection::Backend;
use crate::failover::Mode;

/// The states a sidecar can be in, as label values.
pub const STATES: [&str; 4] = ["upstream", "fallback", "replaying", "embedded"];

/// What the upstream side looks like now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct View {
    /// One of [`STATES`].
    pub state: &'static str,
    /// Whether the upstream answers (None: no upstream, or no health monitor to say).
    pub upstream_up: Option<bool>,
    /// Round trip of the latest PING, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Why the upstream last failed, if it did.
    pub last_error: Option<String>,
    /// Journal bytes the upstream has not acknowledged yet.
    pub journal_pending_bytes: u64,
    /// Entries appended to the journal since start.
    pub journal_entries: u64,
    /// Share of the journal acknowledged by the upstream (1 when nothing is pending).
    pub replay_progress: f64,
    /// Dedicated (pinned) upstream connections held by clients now.
    pub dedicated_connections: usize,
}

/// The state label of `backend` now.
pub fn state(backend: &Backend) -> &'static str {
    match backend {
        Backend::Embedded(_) => "embedded",
        Backend::Upstream(up) => up
            .failover
            .as_ref()
            .map_or("upstream", |f| f.health.mode().as_str()),
    }
}

/// Reads the upstream side of `backend` as the health monitor last saw it.
pub fn view(backend: &Backend) -> View {
    let Backend::Upstream(up) = backend else {
        return View {
            state: "embedded",
            upstream_up: None,
            latency_ms: None,
            last_error: None,
            journal_pending_bytes: 0,
            journal_entries: 0,
            replay_progress: 1.0,
            dedicated_connections: 0,
        };
    };
    let dedicated = up
        .config
        .dedicated
        .saturating_sub(up.dedicated.available_permits());
    match &up.failover {
        Some(f) => {
            let mode = f.health.mode();
            let (length, acked) = (f.journal.len(), f.journal.acked());
            let latency_us = f.health.latency_us();
            View {
                state: mode.as_str(),
                upstream_up: Some(mode != Mode::Fallback),
                latency_ms: (latency_us > 0).then(|| latency_us as f64 / 1000.0),
                last_error: f.health.last_error(),
                journal_pending_bytes: length.saturating_sub(acked),
                journal_entries: f.journal.appended(),
                replay_progress: if length == 0 {
                    1.0
                } else {
                    acked.min(length) as f64 / length as f64
                },
                dedicated_connections: dedicated,
            }
        }
        None => View {
            state: "upstream",
            upstream_up: None,
            latency_ms: None,
            last_error: None,
            journal_pending_bytes: 0,
            journal_entries: 0,
            replay_progress: 1.0,
            dedicated_connections: dedicated,
        },
    }
}

/// How long a scrape waits for the upstream's PING when no health monitor runs.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

struct Series {
    states: [Gauge; 4],
    up: Gauge,
    latency: Gauge,
    fallback: Gauge,
    pending: Gauge,
    entries: Counter,
    progress: Gauge,
    dedicated: Gauge,
}

static SERIES: LazyLock<Series> = LazyLock::new(|| Series {
    states: STATES.map(|s| {
        super::gauge(
            &names::UPSTREAM_STATE,
            vec![Label::from_static_parts("state", s)],
        )
    }),
    up: super::gauge(&names::UPSTREAM_UP, vec![]),
    latency: super::gauge(&names::UPSTREAM_PING_LATENCY, vec![]),
    fallback: super::gauge(&names::FALLBACK_ACTIVE, vec![]),
    pending: super::gauge(&names::JOURNAL_PENDING_BYTES, vec![]),
    entries: super::counter(&names::JOURNAL_ENTRIES, vec![]),
    progress: super::gauge(&names::REPLAY_PROGRESS, vec![]),
    dedicated: super::gauge(
        &names::UPSTREAM_CONNECTIONS,
        vec![Label::from_static_parts("kind", "dedicated")],
    ),
});

/// Updates the upstream gauges from `backend` (before a scrape renders them).
pub async fn refresh(backend: &Backend) {
    let mut v = view(backend);
    if let Backend::Upstream(up) = backend {
        if up.failover.is_none() {
            let ping = crate::http::health::ping(&up.config, PING_TIMEOUT).await;
            v.upstream_up = Some(ping.is_ok());
            v.latency_ms = ping.ok().map(|d| d.as_secs_f64() * 1000.0);
        }
    }
    let s = &*SERIES;
    for (gauge, name) in s.states.iter().zip(STATES) {
        gauge.set(if name == v.state { 1.0 } else { 0.0 });
    }
    let fallback = matches!(v.state, "fallback" | "replaying");
    s.fallback.set(if fallback { 1.0 } else { 0.0 });
    if let Some(up) = v.upstream_up {
        s.up.set(if up { 1.0 } else { 0.0 });
        if let Some(ms) = v.latency_ms {
            s.latency.set(ms / 1000.0);
        }
        s.pending.set(v.journal_pending_bytes as f64);
        s.entries.absolute(v.journal_entries);
        s.progress.set(v.replay_progress);
        s.dedicated.set(v.dedicated_connections as f64);
    }
}
