//! Wall-clock time as the cache and the circuit breaker read it, so that tests can
//! move it by hand. Cache entries outlive the process, so their ages are wall-clock
//! microseconds, not monotonic instants.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Microseconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Clock for System {
    fn now(&self) -> i64 {
        now_micros()
    }
}

/// The system's time, in microseconds since the Unix epoch (the precision audit
/// records, outbox entries and cache entries keep).
pub fn now_micros() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct Manual(AtomicI64);

impl Manual {
    /// A clock reading `micros`.
    pub fn at(micros: i64) -> Manual {
        Manual(AtomicI64::new(micros))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(micros(by), Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A duration in microseconds, saturating.
pub fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Runs `round` now and then every `interval` (a late round delays the next rather
/// than bunching up), until `shutdown`: the gateway's periodic checks.
pub fn every<F, R>(interval: Duration, shutdown: tokio_util::sync::CancellationToken, mut round: F)
where
    F: FnMut() -> R + Send + 'static,
    R: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            round().await;
        }
    });
}
