//! What other layers report: the budget, compression and the slow log call these functions.
//!
//! Invariants: each call is a relaxed atomic store or add (callable on every command, no lock,
//! no allocation); the values reach the exported series at scrape time ([`export`]), and the
//! budget's only once a budget layer has reported a limit (no misleading zeros without one).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;

use metrics::{Counter, Gauge};

use super::names;

/// The command-cost budget (issue: budget policy).
pub mod budget {
    use super::*;

    pub(super) static USED: AtomicU64 = AtomicU64::new(0);
    pub(super) static LIMIT: AtomicU64 = AtomicU64::new(0);
    /// Estimated spend in millionths of a dollar.
    pub(super) static SPEND_MICRO: AtomicU64 = AtomicU64::new(0);
    pub(super) static CONFIGURED: AtomicBool = AtomicBool::new(false);

    /// Cost counted against the budget in the current period.
    pub fn set_used(used: u64) {
        USED.store(used, Ordering::Relaxed);
    }

    /// The period's limit (0: none). Calling it marks the budget as configured.
    pub fn set_limit(limit: u64) {
        LIMIT.store(limit, Ordering::Relaxed);
        CONFIGURED.store(true, Ordering::Relaxed);
    }

    /// The estimated bill for the period, in US dollars.
    pub fn set_spend_dollars(dollars: f64) {
        let micro = (dollars.max(0.0) * 1e6).round() as u64;
        SPEND_MICRO.store(micro, Ordering::Relaxed);
    }

    /// What the budget layer last reported.
    #[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
    pub struct View {
        pub configured: bool,
        pub used: u64,
        pub limit: u64,
        /// `limit - used` (0 when over, or with no limit).
        pub remaining: u64,
        pub spend_dollars: f64,
    }

    /// The budget as last reported.
    pub fn view() -> View {
        let (used, limit) = (USED.load(Ordering::Relaxed), LIMIT.load(Ordering::Relaxed));
        View {
            configured: CONFIGURED.load(Ordering::Relaxed),
            used,
            limit,
            remaining: limit.saturating_sub(used),
            spend_dollars: SPEND_MICRO.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Value compression (issue: compression policy).
pub mod compression {
    use super::*;

    pub(super) static INPUT: AtomicU64 = AtomicU64::new(0);
    pub(super) static OUTPUT: AtomicU64 = AtomicU64::new(0);

    /// A value of `before` bytes was stored as `after` bytes.
    pub fn record(before: usize, after: usize) {
        INPUT.fetch_add(before as u64, Ordering::Relaxed);
        OUTPUT.fetch_add(after as u64, Ordering::Relaxed);
    }

    /// Bytes before and after compression so far.
    pub fn totals() -> (u64, u64) {
        (
            INPUT.load(Ordering::Relaxed),
            OUTPUT.load(Ordering::Relaxed),
        )
    }
}

/// The slow log (issue: slow log policy). Its entries reach the status page through
/// [`crate::metrics::status::set_slowlog_source`].
pub mod slowlog {
    use super::*;

    pub(super) static SLOW: AtomicU64 = AtomicU64::new(0);

    /// One command was slower than the threshold.
    pub fn inc() {
        SLOW.fetch_add(1, Ordering::Relaxed);
    }

    /// Slow commands so far.
    pub fn total() -> u64 {
        SLOW.load(Ordering::Relaxed)
    }
}

struct BudgetSeries {
    used: Gauge,
    limit: Gauge,
    remaining: Gauge,
    spend: Gauge,
}

/// Registered only once a budget is configured, so its series are absent otherwise.
static BUDGET: LazyLock<BudgetSeries> = LazyLock::new(|| BudgetSeries {
    used: super::gauge(&names::BUDGET_USED, vec![]),
    limit: super::gauge(&names::BUDGET_LIMIT, vec![]),
    remaining: super::gauge(&names::BUDGET_REMAINING, vec![]),
    spend: super::gauge(&names::BUDGET_SPEND, vec![]),
});

struct Totals {
    input: Counter,
    output: Counter,
    slow: Counter,
}

static TOTALS: LazyLock<Totals> = LazyLock::new(|| Totals {
    input: super::counter(&names::COMPRESSION_INPUT, vec![]),
    output: super::counter(&names::COMPRESSION_OUTPUT, vec![]),
    slow: super::counter(&names::SLOW_COMMANDS, vec![]),
});

/// Copies the reported values into the exported series (called before each render).
pub(super) fn export() {
    let b = budget::view();
    if b.configured {
        let series = &*BUDGET;
        series.used.set(b.used as f64);
        series.limit.set(b.limit as f64);
        series.remaining.set(b.remaining as f64);
        series.spend.set(b.spend_dollars);
    }
    let t = &*TOTALS;
    let (input, output) = compression::totals();
    t.input.absolute(input);
    t.output.absolute(output);
    t.slow.absolute(slowlog::total());
}
