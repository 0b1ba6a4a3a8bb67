//! Simulators of the national systems: realistic data, real network servers,
//! injectable faults.
//!
//! [`Population`] is the population database in-process (a [`Registry`]);
//! [`population_api`] serves the same data over the national REST/JSON schema.
//! Both read the same [`Faults`], which tests and operators change at run time.

pub mod citizens;
pub mod dossiers;
pub mod gate;
pub mod http;
pub mod names;
pub mod places;
pub mod population_api;
pub mod portal_api;
pub(crate) mod rng;
pub mod typing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, Residence};

use crate::Error;
use crate::population::{Call, Registry};

/// How a simulator misbehaves beyond latency, errors and outages: the ways real
/// national systems and the proxies in front of them have been seen to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Misbehaviour {
    /// Answers as it should.
    #[default]
    None,
    /// Takes the call and never answers (the connection stays open).
    Hang,
    /// Does the work, then answers HTTP 200 with JSON cut off halfway.
    Malformed,
    /// Answers HTTP 500 with a proxy's HTML error page instead of the envelope.
    ServerError,
    /// Does the work, starts the answer and closes the connection midway.
    Cut,
    /// Answers with names in TCVN3 read as Windows-1252, as a provincial system
    /// still on the ABC fonts passes them on.
    LegacyText,
}

impl Misbehaviour {
    /// Every one, in discriminant order (what [`Faults`] stores is the index).
    const ALL: [Misbehaviour; 6] = [
        Misbehaviour::None,
        Misbehaviour::Hang,
        Misbehaviour::Malformed,
        Misbehaviour::ServerError,
        Misbehaviour::Cut,
        Misbehaviour::LegacyText,
    ];
}

impl std::str::FromStr for Misbehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| {
            format!("{s}: not one of none, hang, malformed, server-error, cut, legacy-text")
        })
    }
}

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
    /// A [`Misbehaviour`], as its index.
    misbehaviour: AtomicU8,
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

    /// Makes the simulator misbehave, or (with `None`) answer properly again.
    pub fn set_misbehaviour(&self, how: Misbehaviour) {
        self.misbehaviour.store(how as u8, Ordering::Relaxed);
    }

    /// How it misbehaves.
    pub fn misbehaviour(&self) -> Misbehaviour {
        let index = usize::from(self.misbehaviour.load(Ordering::Relaxed));
        Misbehaviour::ALL.get(index).copied().unwrap_or_default()
    }

    /// `text` as this simulator writes it: in TCVN3 while it misbehaves so.
    pub fn written(&self, text: String) -> String {
        match self.misbehaviour() {
            Misbehaviour::LegacyText => typing::write(&text, typing::Form::Tcvn3),
            _ => text,
        }
    }

    /// A citizen as this simulator writes it.
    pub fn citizen(&self, mut c: Citizen) -> Citizen {
        c.full_name = self.written(std::mem::take(&mut c.full_name));
        c.hometown = self.written(std::mem::take(&mut c.hometown));
        c
    }

    /// The latency added to every answer.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// The share of calls (0.0–1.0) that fail.
    pub fn error_rate(&self) -> f64 {
        f64::from(self.error_ppm.load(Ordering::Relaxed)) / 1e6
    }

    /// Whether the system is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Applies the faults to one call: a hang never returns; an outage fails it at
    /// once; otherwise the latency is waited out and then a system error may be
    /// drawn. The in-process simulator and the HTTP one share this, so they fail
    /// alike (the HTTP one adds the wire-level misbehaviours).
    pub async fn inject(&self) -> Result<(), Injected> {
        if self.misbehaviour() == Misbehaviour::Hang {
            std::future::pending::<()>().await;
        }
        if self.is_down() {
            return Err(Injected::Outage);
        }
        let latency = self.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.draw_failure() {
            return Err(Injected::SystemError);
        }
        Ok(())
    }

    /// Draws whether this call fails: a deterministic sequence at the set rate.
    fn draw_failure(&self) -> bool {
        let ppm = self.error_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        rng::Rng::seeded(n).below(1_000_000) < u64::from(ppm)
    }
}

/// A fault [`Faults::inject`] applied to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// The system is down (maintenance).
    Outage,
    /// The call failed with a system error.
    SystemError,
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
        self.faults
            .inject()
            .await
            .map_err(|fault| Error::Unavailable {
                endpoint: "sim".into(),
                detail: match fault {
                    Injected::Outage => "simulated outage".into(),
                    Injected::SystemError => "simulated system error".into(),
                },
            })
    }
}

#[async_trait]
impl Registry for Population {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn citizen(&self, id: &PersonalId, _call: &Call) -> Result<Citizen, Error> {
        self.inject().await?;
        citizens::citizen(id, today())
            .map(|c| self.faults.citizen(c))
            .ok_or(Error::NotFound {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_misbehaviour_is_stored_and_named() {
        let faults = Faults::default();
        assert_eq!(faults.misbehaviour(), Misbehaviour::None);
        for how in Misbehaviour::ALL {
            faults.set_misbehaviour(how);
            assert_eq!(faults.misbehaviour(), how);
            let name = serde_json::to_value(how).unwrap();
            assert_eq!(name.as_str().unwrap().parse::<Misbehaviour>(), Ok(how));
        }
        assert!("slow".parse::<Misbehaviour>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn faults_apply_in_order() {
        let faults = Faults::new(Duration::from_millis(250), 0.0);
        let started = tokio::time::Instant::now();
        assert_eq!(faults.inject().await, Ok(()));
        assert_eq!(started.elapsed(), Duration::from_millis(250));

        faults.set_down(true);
        let started = tokio::time::Instant::now();
        assert_eq!(faults.inject().await, Err(Injected::Outage));
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "an outage answers at once"
        );

        faults.set_down(false);
        faults.set_latency(Duration::ZERO);
        faults.set_error_rate(0.3);
        let mut failed = 0;
        for _ in 0..10_000 {
            if faults.inject().await == Err(Injected::SystemError) {
                failed += 1;
            }
        }
        assert!(
            (2_700..3_300).contains(&failed),
            "{failed} of 10000 failed at rate 0.3"
        );
        faults.set_error_rate(1.0);
        assert_eq!(faults.inject().await, Err(Injected::SystemError));
    }
}
