//! A sliding window of cost units in a fixed number of buckets, so memory is constant whatever
//! the window's length. The window is approximated to one bucket (1% of it): units leave the
//! count when their whole bucket is older than the window.

use std::time::Duration;

/// Buckets per window.
pub const BUCKETS: usize = 100;

/// Units counted in the last `BUCKETS` buckets of `width` each. Invariant: `total` is the sum
/// of `counts`, and `counts[slot % BUCKETS]` holds the units of bucket `slot` for the
/// `BUCKETS` slots ending at `head`.
#[derive(Debug)]
pub struct SlidingWindow {
    width_ms: u64,
    counts: [u64; BUCKETS],
    head: u64,
    total: u64,
}

/// Why a charge was refused: the figures for the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub used: u64,
    pub limit: u64,
    /// Seconds until enough units leave the window for the command to fit (rounded up).
    pub resets_in_s: u64,
}

impl SlidingWindow {
    /// An empty window of `window` (a multiple of `BUCKETS` milliseconds).
    pub fn new(window: Duration) -> SlidingWindow {
        SlidingWindow {
            width_ms: (window.as_millis() as u64 / BUCKETS as u64).max(1),
            counts: [0; BUCKETS],
            head: 0,
            total: 0,
        }
    }

    /// Moves the window to `now_ms` (milliseconds on any monotonic clock; never goes back).
    fn advance(&mut self, now_ms: u64) {
        let slot = now_ms / self.width_ms;
        if slot <= self.head {
            return;
        }
        let stale = (slot - self.head).min(BUCKETS as u64);
        for s in (slot + 1 - stale)..=slot {
            let i = (s % BUCKETS as u64) as usize;
            self.total -= self.counts[i];
            self.counts[i] = 0;
        }
        self.head = slot;
    }

    /// Units in the window at `now_ms`.
    pub fn used(&mut self, now_ms: u64) -> u64 {
        self.advance(now_ms);
        self.total
    }

    /// Adds `cost` if the window stays within `limit`; otherwise the figures for the refusal.
    pub fn charge(&mut self, now_ms: u64, cost: u64, limit: u64) -> Result<(), Exceeded> {
        self.advance(now_ms);
        if self.total + cost <= limit {
            self.counts[(self.head % BUCKETS as u64) as usize] += cost;
            self.total += cost;
            return Ok(());
        }
        Err(Exceeded {
            used: self.total,
            limit,
            resets_in_s: self.resets_in_ms(now_ms, cost, limit).div_ceil(1000),
        })
    }

    /// Milliseconds until the oldest buckets leaving the window free room for `cost`.
    fn resets_in_ms(&self, now_ms: u64, cost: u64, limit: u64) -> u64 {
        let window_ms = self.width_ms * BUCKETS as u64;
        if cost > limit {
            return window_ms;
        }
        let mut remaining = self.total;
        // Oldest first: bucket `head - BUCKETS + 1 + k` leaves when the clock reaches the start
        // of bucket `head + 1 + k`.
        for k in 0..BUCKETS as u64 {
            let Some(slot) = (self.head + 1 + k).checked_sub(BUCKETS as u64) else {
                continue;
            };
            remaining -= self.counts[(slot % BUCKETS as u64) as usize];
            if remaining + cost <= limit {
                return ((self.head + 1 + k) * self.width_ms).saturating_sub(now_ms);
            }
        }
        window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_then_slides() {
        // 1 s window: 100 buckets of 10 ms.
        let mut w = SlidingWindow::new(Duration::from_secs(1));
        for t in 0..10 {
            w.charge(t * 10, 2, 20).unwrap();
        }
        let refused = w.charge(95, 1, 20).unwrap_err();
        assert_eq!((refused.used, refused.limit), (20, 20));
        assert_eq!(refused.resets_in_s, 1);
        // At 1000 ms the first bucket (0..10 ms) has left the window.
        assert_eq!(w.used(999), 20);
        assert_eq!(w.used(1000), 18);
        w.charge(1000, 2, 20).unwrap();
        // Long idle: everything leaves.
        assert_eq!(w.used(10_000), 0);
    }

    #[test]
    fn resets_in_counts_the_buckets_that_must_leave() {
        let mut w = SlidingWindow::new(Duration::from_secs(100)); // 1 s buckets
        w.charge(0, 5, 10).unwrap();
        w.charge(50_000, 5, 10).unwrap();
        // At 60 s, 5 more units need the 0 s bucket to leave (at 100 s): 40 s; 6 need both
        // buckets to leave (the 50 s one at 150 s): 90 s.
        assert_eq!(w.charge(60_000, 5, 10).unwrap_err().resets_in_s, 40);
        assert_eq!(w.charge(60_000, 6, 10).unwrap_err().resets_in_s, 90);
        // 11 units never fit: a whole window.
        assert_eq!(w.charge(60_000, 11, 10).unwrap_err().resets_in_s, 100);
    }
}
