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

    /// Lets a call through, or not: a closed breaker admits every call, an
    /// open one none, and one whose cooldown has passed exactly one trial.
    /// The returned [`Pass`] records the call's outcome; dropped unsettled
    /// (the caller's future went away mid-call) it frees a trial it held,
    /// so the breaker never waits for a trial that cannot end.
    pub fn admit(&self) -> Option<Pass<'_>> {
        let mut inner = self.lock();
        match inner.opened_at {
            None => Some(Pass::new(self, false)),
            Some(at) if at.elapsed() >= self.cooldown && !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                Some(Pass::new(self, true))
            }
            Some(_) => None,
        }
    }

    fn record_success(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        inner.opened_at = None;
        inner.trial_in_flight = false;
    }

    fn record_failure(&self) -> bool {
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

    fn release_trial(&self) {
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

/// One call admitted by [`Breaker::admit`]; settle it with its outcome.
#[derive(Debug)]
#[must_use = "a pass records the call's outcome; dropping it unsettled only frees a trial"]
pub struct Pass<'a> {
    breaker: &'a Breaker,
    trial: bool,
    settled: bool,
}

impl<'a> Pass<'a> {
    fn new(breaker: &'a Breaker, trial: bool) -> Self {
        Self {
            breaker,
            trial,
            settled: false,
        }
    }

    /// Whether this call is a half-open breaker's one trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// The call worked: the breaker closes and the failure count resets.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.breaker.record_success();
    }

    /// The call failed in a way that counts against the service; returns
    /// true when this failure opened the breaker.
    pub fn failed(mut self) -> bool {
        self.settled = true;
        self.breaker.record_failure()
    }

    /// The call's outcome says nothing about the service (a host-side
    /// failure, a bad request): the breaker stays as it was, and a trial
    /// this call held is freed for the next call.
    pub fn inconclusive(mut self) {
        self.settled = true;
        self.release();
    }

    fn release(&self) {
        if self.trial {
            self.breaker.release_trial();
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &Breaker) -> bool {
        b.admit().map(Pass::failed).unwrap_or(false)
    }

    #[test]
    fn opens_after_threshold_and_recovers_after_a_good_trial() {
        let b = Breaker::new(3, Duration::from_millis(20));
        assert!(!fail(&b));
        assert!(!fail(&b));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(fail(&b), "the third failure opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit().is_none());
        std::thread::sleep(Duration::from_millis(30));
        let trial = b.admit().expect("one trial after the cooldown");
        assert!(trial.is_trial());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_none(), "only one trial at a time");
        trial.succeeded();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.admit().expect("closed again").is_trial());
    }

    #[test]
    fn a_failed_trial_reopens() {
        let b = Breaker::new(1, Duration::from_millis(10));
        assert!(fail(&b));
        std::thread::sleep(Duration::from_millis(15));
        let trial = b.admit().expect("a trial");
        trial.failed();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit().is_none());
    }

    #[test]
    fn success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        fail(&b);
        b.admit().expect("closed").succeeded();
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_trial_dropped_unsettled_frees_the_next_one() {
        let b = Breaker::new(1, Duration::from_millis(10));
        fail(&b);
        std::thread::sleep(Duration::from_millis(15));
        drop(b.admit().expect("a trial"));
        assert_eq!(b.state(), BreakerState::Open, "still open, not half-open");
        let again = b.admit().expect("another trial is allowed");
        assert!(again.is_trial());
        again.inconclusive();
        assert!(b.admit().expect("and another").is_trial());
    }

    #[test]
    fn a_dropped_ordinary_call_leaves_anothers_trial_alone() {
        let b = Breaker::new(2, Duration::from_millis(10));
        let early = b.admit().expect("closed");
        fail(&b);
        fail(&b);
        std::thread::sleep(Duration::from_millis(15));
        let trial = b.admit().expect("a trial");
        drop(early);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_none(), "the trial is still the only one");
        trial.succeeded();
    }
}
