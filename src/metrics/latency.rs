//! A process-wide latency histogram for the status page's percentiles: fixed log-linear buckets
//! (four per power of two of microseconds), so a percentile is known within 25 %.
//!
//! Invariants: the counts live in the per-thread shards ([`super::shards`], recorded with each
//! command, no shared write); memory is fixed per shard. Percentiles over an interval come from
//! the difference of two [`snapshot`]s.

/// Powers of two covered (2^40 µs is about 12 days: everything fits).
const POWERS: usize = 40;
/// Number of buckets.
pub const BUCKETS: usize = POWERS * 4;

/// The bucket of a latency of `micros` microseconds.
pub(super) fn index(micros: u64) -> usize {
    let v = micros.max(1);
    let log2 = 63 - v.leading_zeros() as usize;
    let i = if log2 < 2 {
        v as usize
    } else {
        log2 * 4 + ((v >> (log2 - 2)) & 3) as usize
    };
    i.min(BUCKETS - 1)
}

/// The upper bound of bucket `i`, in microseconds.
fn upper_micros(i: usize) -> u64 {
    let (log2, sub) = (i / 4, (i % 4) as u64);
    if log2 < 2 {
        i as u64 + 1
    } else {
        (5 + sub) << (log2 - 2)
    }
}

/// The counts so far, bucket by bucket (summed over the shards).
pub fn snapshot() -> Vec<u64> {
    super::shards::status_histogram()
}

/// The `q` quantile (0..=1), in milliseconds, of what was recorded between snapshots `before`
/// and `after`; None if nothing was.
pub fn quantile_ms(before: &[u64], after: &[u64], q: f64) -> Option<f64> {
    let diff: Vec<u64> = after
        .iter()
        .zip(before.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let total: u64 = diff.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in diff.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(upper_micros(i) as f64 / 1000.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_within_a_quarter() {
        for micros in [1u64, 2, 3, 4, 5, 7, 8, 100, 999, 1000, 123_456, 5_000_000] {
            let i = index(micros);
            let upper = upper_micros(i);
            assert!(upper > micros, "{micros} -> {upper}");
            assert!(
                upper as f64 <= micros as f64 * 1.25 + 1.0,
                "{micros} -> {upper}"
            );
            assert!(index(micros - 1) <= i, "{micros}: buckets are ordered");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_interval_only() {
        let mut before = vec![0; BUCKETS];
        before[index(10_000)] = 1000; // old slow commands: not in the interval
        let mut after = before.clone();
        for _ in 0..99 {
            after[index(100)] += 1;
        }
        after[index(50_000)] += 1;
        let p50 = quantile_ms(&before, &after, 0.5).unwrap();
        assert!((0.1..=0.125).contains(&p50), "{p50}");
        let p100 = quantile_ms(&before, &after, 1.0).unwrap();
        assert!((50.0..=62.5).contains(&p100), "{p100}");
        assert_eq!(quantile_ms(&after, &after, 0.5), None);
    }
}
