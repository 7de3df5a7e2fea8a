//! What a commit cost, and the latency histograms behind `stats()`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: values are kept to within 1/8 (12.5%).
const SUB: u32 = 8;
const SUB_BITS: u32 = SUB.trailing_zeros();
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB as usize;

/// A lock-free log-linear histogram of durations in nanoseconds: recording
/// is one atomic increment, so it sits on every hot path.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    let index = if v < u64::from(SUB) {
        v
    } else {
        let exp = 63 - v.leading_zeros();
        let sub = (v >> (exp - SUB_BITS)) & u64::from(SUB - 1);
        u64::from((exp - SUB_BITS + 1) * SUB) + sub
    };
    // At most BUCKETS - 1 (a few hundred) by construction.
    usize::try_from(index).unwrap_or(BUCKETS - 1)
}

/// The largest value that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    let i = i as u64;
    let sub = u64::from(SUB);
    if i < sub {
        return i;
    }
    let exp = i / sub - 1 + u64::from(SUB_BITS);
    let width = 1u128 << (exp - u64::from(SUB_BITS));
    let upper = u128::from(sub + i % sub) * width + width - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(ns, Ordering::Relaxed);
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        // `permille`: 500 for the median, 990 for P99.
        let quantile = |permille: u64| {
            if total == 0 {
                return Duration::ZERO;
            }
            // Nearest rank, in integers.
            let rank = (total * permille).div_ceil(1000).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(bucket_upper(i).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        LatencySummary {
            count: self.count.load(Ordering::Relaxed),
            p50: quantile(500),
            p90: quantile(900),
            p99: quantile(990),
            max: Duration::from_nanos(max),
        }
    }
}

/// Percentiles of one operation's latency since the engine opened (each
/// within 12.5% of the true value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySummary {
    /// Operations recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let b = bucket_of(v);
            assert!(bucket_upper(b) >= v, "{v} above bucket {b}");
            if b > 0 {
                assert!(bucket_upper(b - 1) < v, "{v} belongs lower than {b}");
            }
        }
    }

    #[test]
    fn percentiles_are_close_to_exact() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        let near = |got: Duration, want: u64| {
            let got = got.as_micros() as f64;
            (got - want as f64).abs() / (want as f64) <= 0.125
        };
        assert!(near(s.p50, 500), "{s:?}");
        assert!(near(s.p99, 990), "{s:?}");
        assert_eq!(s.max, Duration::from_micros(1000));
        assert_eq!(Histogram::default().summary().p99, Duration::ZERO);
    }
}
