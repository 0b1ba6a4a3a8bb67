//! Simulators of the national systems: realistic data, real network servers,
//! injectable faults.
//!
//! [`Population`] is the population database in-process (a [`Registry`]);
//! [`population_api`] serves the same data over the national REST/JSON schema.
//! Both read the same [`Faults`], which tests and operators change at run time.

pub mod citizens;
pub mod places;
pub mod population_api;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, Residence};

use crate::Error;
use crate::population::{Call, Registry};

/// Faults to inject into a simulator, changeable while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Added to every answer.
    latency_ms: AtomicU64,
    /// Share of calls that fail with a system error, per million.
    error_ppm: AtomicU32,
    /// Every call fails as if the system were in maintenance.
    down: AtomicBool,
    /// Counts draws, so the failing calls form a deterministic sequence.
    draws: AtomicU64,
}

impl Faults {
    /// Faults with the given latency and error rate (0.0–1.0).
    pub fn new(latency: Duration, error_rate: f64) -> Arc<Faults> {
        let faults = Faults::default();
        faults.set_latency(latency);
        faults.set_error_rate(error_rate);
        Arc::new(faults)
    }

    /// Sets the latency added to every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Sets the share of calls (0.0–1.0) that fail.
    pub fn set_error_rate(&self, rate: f64) {
        self.error_ppm
            .store((rate.clamp(0.0, 1.0) * 1e6) as u32, Ordering::Relaxed);
    }

    /// Takes the system down (every call fails) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }

    /// The latency added to every answer.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Whether the system is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Draws whether this call fails.
    pub fn draw_failure(&self) -> bool {
        let ppm = self.error_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (z ^ (z >> 29)) % 1_000_000 < u64::from(ppm)
    }
}

/// Today in Vietnam, the date the simulated register lives in.
pub use lienthong_proto::today;

/// The population database, simulated in-process.
#[derive(Debug, Clone)]
pub struct Population {
    faults: Arc<Faults>,
}

impl Population {
    /// A simulator with these faults.
    pub fn new(faults: Arc<Faults>) -> Population {
        Population { faults }
    }

    /// The faults it injects; change them at run time.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    async fn inject(&self) -> Result<(), Error> {
        let unavailable = |detail: &str| Error::Unavailable {
            endpoint: "sim".into(),
            detail: detail.into(),
        };
        if self.faults.is_down() {
            return Err(unavailable("simulated outage"));
        }
        let latency = self.faults.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.faults.draw_failure() {
            return Err(unavailable("simulated system error"));
        }
        Ok(())
    }
}

#[async_trait]
impl Registry for Population {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn citizen(&self, id: &PersonalId, _call: &Call) -> Result<Citizen, Error> {
        self.inject().await?;
        citizens::citizen(id, today()).ok_or(Error::NotFound {
            endpoint: "sim".into(),
        })
    }

    async fn residence(&self, id: &PersonalId, _call: &Call) -> Result<Residence, Error> {
        self.inject().await?;
        citizens::residence(id, today()).ok_or(Error::NotFound {
            endpoint: "sim".into(),
        })
    }
}
