//! The status page's data: a once-a-second sample of throughput, latency percentiles, budget
//! use and state, kept for the last few minutes, and the slow log's entries.
//!
//! Invariants: memory is fixed ([`HISTORY`] samples); sampling sums the shards' atomics and never
//! writes anything the command path writes; the slow log's entries come from whoever registered
//! a source (the slow log layer), and are empty until one does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::commands::Outcome;
use super::{budget, gauges, latency, shards};
use crate::connection::Backend;

/// Commands answered (by a backend or refused by a policy), summed over the shards.
pub fn commands() -> u64 {
    shards::outcomes().iter().sum()
}

/// Commands answered with an error (not counting refusals).
pub fn errors() -> u64 {
    shards::outcomes()[Outcome::Error as usize]
}

/// Commands refused by a policy of the sidecar.
pub fn refused() -> u64 {
    shards::outcomes()[Outcome::Refused as usize]
}

/// Bytes written to clients.
pub static SENT: AtomicU64 = AtomicU64::new(0);

/// Samples kept (one a second: five minutes).
pub const HISTORY: usize = 300;
/// How often a sample is taken.
pub const EVERY: Duration = Duration::from_secs(1);

/// One second of the sidecar's life.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sample {
    /// When it was taken, in milliseconds since the Unix epoch.
    pub t: u64,
    /// Commands per second, errors per second, bytes sent per second.
    pub ops: f64,
    pub errors: f64,
    pub sent_bytes: f64,
    /// Latency percentiles of the commands answered in this interval, in milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Budget used (None: no budget configured).
    pub budget_used: Option<u64>,
    pub clients: u64,
    pub state: &'static str,
}

/// The samples of one server.
#[derive(Default)]
pub struct Sampler {
    ring: Mutex<VecDeque<Sample>>,
}

impl Sampler {
    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.ring.lock().iter().cloned().collect()
    }

    fn push(&self, sample: Sample) {
        let mut ring = self.ring.lock();
        if ring.len() == HISTORY {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// Samples every [`EVERY`] until shutdown; also folds the exporter's histograms.
    pub async fn run(self: Arc<Self>, backend: Backend, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let totals = || {
            let outcomes = shards::outcomes();
            (
                outcomes.iter().sum::<u64>(),
                outcomes[Outcome::Error as usize],
                SENT.load(Ordering::Relaxed),
            )
        };
        let (mut last, mut last_hist, mut last_at) =
            (totals(), latency::snapshot(), Instant::now());
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let (now, hist, at) = (totals(), latency::snapshot(), Instant::now());
            let secs = at.duration_since(last_at).as_secs_f64().max(1e-3);
            let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
            let b = budget::view();
            self.push(Sample {
                t: unix_ms(),
                ops: rate(now.0, last.0),
                errors: rate(now.1, last.1),
                sent_bytes: rate(now.2, last.2),
                p50_ms: latency::quantile_ms(&last_hist, &hist, 0.5),
                p99_ms: latency::quantile_ms(&last_hist, &hist, 0.99),
                budget_used: b.configured.then_some(b.used),
                clients: super::clients_open(),
                state: gauges::state(&backend),
            });
            (last, last_hist, last_at) = (now, hist, at);
            ticks += 1;
            if ticks % 5 == 0 {
                super::upkeep();
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One slow log entry, as the status page shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SlowEntry {
    pub id: u64,
    /// When the command ran, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub duration_us: u64,
    /// The command and its first arguments, shortened as the slow log keeps them.
    pub command: String,
    pub tenant: Option<String>,
}

/// Gives the newest `n` slow log entries, newest first.
pub type SlowlogSource = Arc<dyn Fn(usize) -> Vec<SlowEntry> + Send + Sync>;

static SLOWLOG: LazyLock<RwLock<Option<SlowlogSource>>> = LazyLock::new(|| RwLock::new(None));

/// Lets the slow log layer show its entries on the status page (the last registered wins).
pub fn set_slowlog_source(source: SlowlogSource) {
    *SLOWLOG.write() = Some(source);
}

/// The newest `n` slow log entries, newest first (empty with no slow log layer).
pub fn slowlog_entries(n: usize) -> Vec<SlowEntry> {
    let source = SLOWLOG.read().clone();
    source.map(|f| f(n)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_samples() {
        let sampler = Sampler::default();
        for t in 0..(HISTORY as u64 + 10) {
            sampler.push(Sample {
                t,
                ops: 0.0,
                errors: 0.0,
                sent_bytes: 0.0,
                p50_ms: None,
                p99_ms: None,
                budget_used: None,
                clients: 0,
                state: "embedded",
            });
        }
        let samples = sampler.samples();
        assert_eq!(samples.len(), HISTORY);
        assert_eq!(samples.first().map(|s| s.t), Some(10));
        assert_eq!(samples.last().map(|s| s.t), Some(HISTORY as u64 + 9));
    }
}
