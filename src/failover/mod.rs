//! Fallback to the embedded store while the upstream is unreachable, and replay of the writes
//! made meanwhile once it returns.
//!
//! One state, driven by a periodic PING and by failures the pool reports:
//! `Upstream` (clients use the upstream) -> `Fallback` (the store serves; writes are journaled
//! before they are acknowledged) -> `Replaying` (the store still serves; the journal is sent
//! upstream in order) -> `Upstream` (the switch happens under the store's lock once the journal is
//! drained, and the store is emptied). Clients check the state under that same lock before the
//! store executes anything, so no write can be journaled after the last replay.

pub mod journal;
pub mod monitor;
pub mod replay;
pub mod rewrite;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

pub use journal::Journal;

use crate::store::Store;

/// Who serves clients now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Upstream,
    Fallback,
    Replaying,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Upstream => "upstream",
            Mode::Fallback => "fallback",
            Mode::Replaying => "replaying",
        }
    }
}

/// The upstream's health as the sidecar sees it.
pub struct Health {
    mode: watch::Sender<Mode>,
    /// Wakes the monitor for an immediate check (a pool connection failed).
    pub(crate) wake: Notify,
    last_error: Mutex<Option<String>>,
    latency_us: AtomicU64,
}

impl Health {
    pub fn new(initial: Mode) -> Health {
        Health {
            mode: watch::Sender::new(initial),
            wake: Notify::new(),
            last_error: Mutex::new(None),
            latency_us: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Whether the embedded store serves clients now.
    pub fn serving_store(&self) -> bool {
        self.mode() != Mode::Upstream
    }

    /// Notified on every change of mode.
    pub fn subscribe(&self) -> watch::Receiver<Mode> {
        self.mode.subscribe()
    }

    pub(crate) fn set(&self, mode: Mode) {
        let old = self.mode.send_replace(mode);
        if old != mode {
            tracing::warn!(
                from = old.as_str(),
                to = mode.as_str(),
                "upstream state changed"
            );
        }
    }

    /// A pool connection could not reach the upstream: check now.
    pub fn report_failure(&self, why: &str) {
        *self.last_error.lock() = Some(why.to_string());
        self.wake.notify_one();
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Round trip of the last successful health PING, in microseconds.
    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Ordering::Relaxed)
    }

    pub(crate) fn record_ping(&self, micros: u64) {
        self.latency_us.store(micros, Ordering::Relaxed);
        *self.last_error.lock() = None;
    }
}

/// What the fallback needs: the store that stands in, the journal, the health state.
pub struct Failover {
    pub store: Store,
    pub journal: Arc<Journal>,
    pub health: Arc<Health>,
}

impl Failover {
    /// Opens the journal and attaches it to the store. Entries left by a previous run (the
    /// sidecar restarted during an outage) are loaded into the store, so reads during the outage
    /// see them, and the state starts as `Fallback` so they are replayed once the upstream answers.
    pub fn open(store: Store, journal: Arc<Journal>) -> Failover {
        let unreplayed = journal
            .read_from(journal.acked(), usize::MAX / 4)
            .unwrap_or_default();
        let initial = if unreplayed.is_empty() {
            Mode::Upstream
        } else {
            Mode::Fallback
        };
        if !unreplayed.is_empty() {
            tracing::warn!(entries = unreplayed.len(), dir = %journal.dir().display(), "journal holds writes not yet replayed");
            let cmds: Vec<_> = unreplayed.into_iter().map(|(cmd, _)| cmd).collect();
            store.load(&cmds);
        }
        store.with_state(|state| state.journal = Some(journal.clone()));
        Failover {
            store,
            journal,
            health: Arc::new(Health::new(initial)),
        }
    }
}
