//! A lock-free latency histogram in microseconds: log-linear buckets (32 per power of two, ≤ 3.2% error),
//! shared by every connection task through atomic counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two; values below this are counted exactly.
const SUB_BUCKETS: u64 = 32;
/// log2(SUB_BUCKETS).
const SUB_BITS: u32 = 5;
/// Covers values up to 2^42 µs (about 50 days): anything larger lands in the last bucket.
const BUCKET_COUNT: usize = (SUB_BUCKETS + (42 - SUB_BITS as u64) * SUB_BUCKETS) as usize;

#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKET_COUNT).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn record(&self, micros: u64) {
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value at quantile `q` (0..=1) in microseconds, `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // The rank of the q-quantile, 1-based: p99 of 1000 values is the 990th smallest.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(representative(index));
            }
        }
        Some(representative(BUCKET_COUNT - 1))
    }

    pub fn max(&self) -> Option<u64> {
        self.buckets
            .iter()
            .rposition(|b| b.load(Ordering::Relaxed) > 0)
            .map(representative)
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let exponent = value.ilog2(); // ≥ SUB_BITS
    let sub = (value >> (exponent - SUB_BITS)) - SUB_BUCKETS;
    let index = SUB_BUCKETS + u64::from(exponent - SUB_BITS) * SUB_BUCKETS + sub;
    (index as usize).min(BUCKET_COUNT - 1)
}

/// The middle of a bucket's range: the value reported for everything counted in it.
fn representative(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return index;
    }
    let exponent = (index - SUB_BUCKETS) / SUB_BUCKETS + u64::from(SUB_BITS);
    let sub = (index - SUB_BUCKETS) % SUB_BUCKETS;
    let shift = exponent - u64::from(SUB_BITS);
    let lower = (SUB_BUCKETS + sub) << shift;
    lower + ((1 << shift) >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close_to_the_value() {
        let mut previous = 0;
        for value in (0..2_000_000u64).step_by(7) {
            let index = bucket_of(value);
            assert!(index >= previous, "bucket of {value} went backwards");
            previous = index;
            let shown = representative(index) as f64;
            let error = (shown - value as f64).abs() / (value as f64).max(1.0);
            assert!(error <= 0.032, "{value} shown as {shown}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_sample() {
        let histogram = Histogram::new();
        for value in 1..=10_000 {
            histogram.record(value);
        }
        assert_eq!(histogram.count(), 10_000);
        let p50 = histogram.quantile(0.5).unwrap() as f64;
        let p99 = histogram.quantile(0.99).unwrap() as f64;
        assert!((p50 - 5_000.0).abs() / 5_000.0 < 0.035, "p50 {p50}");
        assert!((p99 - 9_900.0).abs() / 9_900.0 < 0.035, "p99 {p99}");
        assert!(histogram.max().unwrap() >= 9_700);
    }

    #[test]
    fn empty_and_huge() {
        let histogram = Histogram::new();
        assert_eq!(histogram.quantile(0.5), None);
        histogram.record(u64::MAX);
        assert!(histogram.quantile(1.0).unwrap() > 1 << 40);
    }
}
