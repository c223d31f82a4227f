//! A circuit breaker per plugin: after `failure_threshold` failures in a
//! row the plugin is out of rotation for `cooldown`; then one trial call is
//! let through, and its outcome closes or re-opens the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The breaker's state, as reported by `switchboard plugins`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Serving.
    Closed,
    /// Out of rotation.
    Open,
    /// One trial call in flight.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go through now (a half-open breaker lets exactly
    /// one through).
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.cooldown && !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Records a call that worked.
    pub fn record_success(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        inner.opened_at = None;
        inner.trial_in_flight = false;
    }

    /// Records a failed call; returns true when this failure opened the
    /// breaker.
    pub fn record_failure(&self) -> bool {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let was_open = inner.opened_at.is_some();
        if inner.trial_in_flight || inner.consecutive_failures >= self.threshold {
            inner.opened_at = Some(Instant::now());
            inner.trial_in_flight = false;
            return !was_open || inner.consecutive_failures == self.threshold;
        }
        false
    }

    /// Ends a trial call whose outcome says nothing about the plugin (a
    /// host-side failure): the breaker stays as it was and the next call
    /// may try again.
    pub fn release_trial(&self) {
        self.lock().trial_in_flight = false;
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(_) if inner.trial_in_flight => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.lock().consecutive_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_after_a_good_trial() {
        let b = Breaker::new(3, Duration::from_millis(20));
        assert!(b.allow());
        assert!(!b.record_failure());
        assert!(!b.record_failure());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.record_failure());
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.allow(), "one trial after the cooldown");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(), "only one trial at a time");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
    }

    #[test]
    fn a_failed_trial_reopens() {
        let b = Breaker::new(1, Duration::from_millis(10));
        b.record_failure();
        std::thread::sleep(Duration::from_millis(15));
        assert!(b.allow());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
