//! A circuit breaker per upstream: after `failures` consecutive failures it opens
//! and calls fail fast; after `cool_down` one probe goes through (half-open); the
//! probe's success closes it, its failure opens it again.
//!
//! Only failures of the upstream itself count (unavailable, timeout, malformed
//! answer); "no such citizen" is an answer. A probe that never reports (its request
//! cancelled) does not wedge the breaker: after another cool-down a new probe goes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, micros};

/// The breaker's state, as metrics and health report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe is through; others fail fast until it reports.
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed { failures: u32 },
    Open { until: i64 },
    HalfOpen { since: i64 },
}

/// Permission to call the upstream; report how it went with [`Breaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The circuit is closed.
    Call,
    /// The one probe of a half-open circuit.
    Probe,
}

/// Refusal while open: when the next probe may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Time until a probe is allowed.
    pub retry_in: Duration,
}

/// One upstream's breaker.
pub struct Breaker {
    failures: u32,
    cool_down: Duration,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// Opens after `failures` consecutive failures, for `cool_down`.
    pub fn new(failures: u32, cool_down: Duration, clock: Arc<dyn Clock>) -> Breaker {
        Breaker {
            failures: failures.max(1),
            cool_down,
            clock,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// May a call go now?
    pub fn permit(&self) -> Result<Permit, Refused> {
        let now = self.clock.now();
        let cool = micros(self.cool_down);
        let mut inner = self.inner.lock().expect("breaker lock");
        match *inner {
            Inner::Closed { .. } => Ok(Permit::Call),
            Inner::Open { until } | Inner::HalfOpen { since: until } if now < until => {
                Err(Refused {
                    retry_in: Duration::from_micros((until - now).max(0) as u64),
                })
            }
            Inner::Open { .. } | Inner::HalfOpen { .. } => {
                // `since` is kept as the moment a new probe may go if this one never reports.
                *inner = Inner::HalfOpen { since: now + cool };
                Ok(Permit::Probe)
            }
        }
    }

    /// Reports how a permitted call went.
    pub fn record(&self, permit: Permit, ok: bool) {
        let now = self.clock.now();
        let mut inner = self.inner.lock().expect("breaker lock");
        *inner = match (*inner, ok) {
            (_, true) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, false) if permit == Permit::Call => {
                if failures + 1 >= self.failures {
                    tracing::warn!(failures = failures + 1, cool_down = ?self.cool_down, "upstream circuit opens");
                    Inner::Open {
                        until: now + micros(self.cool_down),
                    }
                } else {
                    Inner::Closed {
                        failures: failures + 1,
                    }
                }
            }
            (Inner::HalfOpen { .. }, false) if permit == Permit::Probe => {
                tracing::warn!("upstream probe failed; circuit opens again");
                Inner::Open {
                    until: now + micros(self.cool_down),
                }
            }
            // A late report from before the state changed: the state stands.
            (state, false) => state,
        };
    }

    /// The current state.
    pub fn state(&self) -> State {
        match *self.inner.lock().expect("breaker lock") {
            Inner::Closed { .. } => State::Closed,
            Inner::Open { until } if self.clock.now() < until => State::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Manual;

    #[test]
    fn opens_fails_fast_probes_and_closes() {
        let clock = Arc::new(Manual::at(0));
        let b = Breaker::new(3, Duration::from_secs(10), clock.clone());
        for _ in 0..2 {
            let p = b.permit().unwrap();
            b.record(p, false);
        }
        assert_eq!(b.state(), State::Closed, "two failures are not three");
        // a success in between resets the count
        b.record(b.permit().unwrap(), true);
        for _ in 0..3 {
            let p = b.permit().unwrap();
            b.record(p, false);
        }
        assert_eq!(b.state(), State::Open);
        let refused = b.permit().unwrap_err();
        assert_eq!(refused.retry_in, Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!(b.permit().is_err(), "still cooling down");
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.state(), State::HalfOpen);
        let probe = b.permit().unwrap();
        assert_eq!(probe, Permit::Probe);
        assert!(b.permit().is_err(), "one probe at a time");
        b.record(probe, false);
        assert_eq!(b.state(), State::Open, "a failed probe reopens");
        clock.advance(Duration::from_secs(10));
        let probe = b.permit().unwrap();
        b.record(probe, true);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.permit().unwrap(), Permit::Call);
    }

    #[test]
    fn a_probe_that_never_reports_does_not_wedge_it() {
        let clock = Arc::new(Manual::at(0));
        let b = Breaker::new(1, Duration::from_secs(5), clock.clone());
        b.record(b.permit().unwrap(), false);
        clock.advance(Duration::from_secs(5));
        let _lost = b.permit().unwrap();
        assert!(b.permit().is_err());
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.permit().unwrap(), Permit::Probe);
    }
}
