//! Retries: which failures are worth another attempt, and how long to wait
//! before it (exponential backoff with jitter).

use std::time::Duration;

/// Exponential backoff: attempt `n` (0-based, after the first failure)
/// waits a random time between half and all of `base * 2^n`, at most
/// `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The wait before retry `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(n.min(16)))
            .min(self.cap);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=jitter_ms))
    }
}

/// Whether an HTTP status is worth retrying: 429 and 5xx, never another
/// 4xx.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_and_stop_at_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        for n in 0..8 {
            let full = (100u64 << n).min(1000);
            let d = b.delay(n).as_millis() as u64;
            assert!((full / 2..=full).contains(&d), "retry {n}: {d} ms");
        }
        assert!(retryable_status(503) && retryable_status(429));
        assert!(!retryable_status(400) && !retryable_status(404) && !retryable_status(401));
    }
}
