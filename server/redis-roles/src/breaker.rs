//! A circuit breaker per Redis role: after a failure, skip Redis for a short cool-down instead of making every
//! request wait for a connection timeout while Redis is down.

use cc_core::ids::now_ms;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[allow(clippy::struct_field_names)] // all in milliseconds, said by the suffix
pub(crate) struct Breaker {
    open_until_ms: AtomicI64,
    last_failure_ms: AtomicI64,
    cool_down_ms: i64,
    failures: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(cool_down_ms: i64) -> Self {
        Self {
            open_until_ms: AtomicI64::new(0),
            last_failure_ms: AtomicI64::new(i64::MIN / 2),
            cool_down_ms,
            failures: AtomicU64::new(0),
        }
    }

    /// May Redis be tried now? (One request per cool-down probes a Redis that failed.)
    pub(crate) fn allows(&self) -> bool {
        now_ms() >= self.open_until_ms.load(Ordering::Acquire)
    }

    pub(crate) fn failed(&self) {
        let now = now_ms();
        self.open_until_ms
            .store(now + self.cool_down_ms, Ordering::Release);
        self.last_failure_ms.store(now, Ordering::Release);
        self.failures.fetch_add(1, Ordering::AcqRel);
    }

    /// How many failures so far: what was written to Redis before a failure may be gone.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// Did Redis fail within the last `window_ms`?
    pub(crate) fn failed_within(&self, window_ms: i64) -> bool {
        now_ms() - self.last_failure_ms.load(Ordering::Acquire) < window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_failure_and_remembers_it() {
        let breaker = Breaker::new(60_000);
        assert!(breaker.allows() && !breaker.failed_within(1_000));
        breaker.failed();
        assert!(!breaker.allows());
        assert!(breaker.failed_within(1_000));
        assert_eq!(breaker.failures(), 1);
        let quick = Breaker::new(0);
        quick.failed();
        assert!(quick.allows(), "a zero cool-down probes again at once");
    }
}
