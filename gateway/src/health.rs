//! Readiness: whether this gateway can do its work now, for `grpc.health.v1`, the
//! admin listener's `/readyz` and the `lienthong_ready` metric.
//!
//! Checked every `admin.health_interval`:
//! - `data_dir`: a probe file can be written, synced and removed in the data dir;
//! - `disk`: the data dir's file system is above `disk.hard_free_mb` (below
//!   `disk.soft_free_mb` the check passes but the report says `degraded`);
//! - `ledger`: the ledger answers (PostgreSQL: a round trip on a pooled
//!   connection); without it nothing may be released;
//! - `audit`: the audit writer runs and no commit failed in the last 10 s (without
//!   it nothing may be released);
//! - `population_circuit`: the population registry's circuit is not open.
//!
//! Beside the checks: the audit log's witnesses, when it has any. Their falling
//! behind (no checkpoint signed within `audit.witness_grace` of the latest has
//! the quorum of cosignatures) shows as `degraded`, not as a failing check: the
//! gateway still records and serves.
//!
//! Every service needs the first four. The identity and residency services also need
//! the fifth (they can still answer from the cache, but a balancer should prefer a
//! gateway whose upstream answers). The overall status (`""`) is serving only when
//! every check passes. At shutdown every service turns NOT_SERVING first, so that
//! balancers drain the gateway before its listener closes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use lienthong_ledger::Store;

use crate::audit;
use crate::breaker::State;
use crate::cache::Cache;
use crate::disk::{Disk, Level};
use crate::reload::Current;

/// A commit failure this recent makes the audit check fail.
const AUDIT_FAILURE_WINDOW: Duration = Duration::from_secs(10);

/// The data dir's probe write must finish within this.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one round of checks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Every check passes.
    pub ready: bool,
    /// What passes but needs an operator soon (a disk running low).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// Each check: its name, whether it passes, and why not.
    pub checks: Vec<Check>,
    /// How the audit log's witnesses keep up, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<audit::witnesses::Witnessed>,
}

/// One check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// `data_dir`, `disk`, `ledger`, `audit`, `population_circuit`.
    pub name: &'static str,
    /// Passing.
    pub ok: bool,
    /// Why it fails, when it does.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What the checks look at, and where their results go.
pub struct Readiness {
    data_dir: PathBuf,
    ledger: Arc<dyn Store>,
    disk: Arc<Disk>,
    audit: Option<Arc<audit::Log>>,
    cache: Arc<Cache>,
    reporter: HealthReporter,
    /// The last report.
    pub report: Current<Report>,
    /// Services that need only the data dir and the audit log.
    pub basic: Vec<&'static str>,
    /// Services that also need the population registry.
    pub lookups: Vec<&'static str>,
}

impl Readiness {
    /// Checks for a gateway with these parts.
    pub fn new(
        data_dir: PathBuf,
        ledger: Arc<dyn Store>,
        disk: Arc<Disk>,
        audit: Option<Arc<audit::Log>>,
        cache: Arc<Cache>,
        reporter: HealthReporter,
    ) -> Readiness {
        Readiness {
            data_dir,
            ledger,
            disk,
            audit,
            cache,
            reporter,
            report: Current::new(Report::default()),
            basic: Vec::new(),
            lookups: Vec::new(),
        }
    }

    /// Runs every check once and publishes the result.
    pub async fn check(&self) -> Report {
        let data_dir = self.data_dir.clone();
        // A disk that hangs (a dead network mount) fails the check instead of
        // stalling every later round.
        let probe = tokio::task::spawn_blocking(move || writable(&data_dir));
        let dir = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(joined) => joined.unwrap_or_else(|e| Err(e.to_string())),
            Err(_) => Err(format!(
                "{}: no write within {PROBE_TIMEOUT:?}",
                self.data_dir.display()
            )),
        };
        let disk = match self.disk.level() {
            Level::Full => Err(self.disk.describe()),
            _ => Ok(()),
        };
        let mut degraded = match self.disk.level() {
            Level::Low => vec![self.disk.describe()],
            _ => Vec::new(),
        };
        let witnesses = match &self.audit {
            Some(log) => log.witnessed().await.unwrap_or_default(),
            None => None,
        };
        if let Some(w) = witnesses.as_ref().filter(|w| w.lagging) {
            degraded.push(format!(
                "witnesses: the newest checkpoint with {} cosignatures is at tree size {}, \
                 {} s before the latest ({}); see `lienthong witness`",
                w.quorum, w.cosigned, w.lag_seconds, w.latest
            ));
        }
        let ledger = match tokio::time::timeout(PROBE_TIMEOUT, self.ledger.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{}: no answer within {PROBE_TIMEOUT:?}",
                self.ledger.describe()
            )),
        };
        let audit = match &self.audit {
            Some(log) if !log.appending(AUDIT_FAILURE_WINDOW) => {
                Err("the audit log is not appending; see the gateway log".to_owned())
            }
            _ => Ok(()),
        };
        let circuit = match self.cache.breaker().state() {
            State::Open => Err("the population registry's circuit is open".to_owned()),
            _ => Ok(()),
        };
        let checks: Vec<Check> = [
            ("data_dir", dir),
            ("disk", disk),
            ("ledger", ledger),
            ("audit", audit),
            ("population_circuit", circuit),
        ]
        .into_iter()
        .map(|(name, r)| Check {
            name,
            ok: r.is_ok(),
            detail: r.err().unwrap_or_default(),
        })
        .collect();
        let basic = checks[..4].iter().all(|c| c.ok);
        let all = checks.iter().all(|c| c.ok);
        let status = |ok| {
            if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        for name in &self.basic {
            self.reporter.set_service_status(name, status(basic)).await;
        }
        for name in &self.lookups {
            self.reporter.set_service_status(name, status(all)).await;
        }
        self.reporter.set_service_status("", status(all)).await;
        let report = Report {
            ready: all,
            degraded,
            checks,
            witnesses,
        };
        let previous = self.report.get();
        if previous.ready != report.ready && !previous.checks.is_empty() {
            if report.ready {
                tracing::info!("ready again");
            } else {
                let failing: Vec<_> = report
                    .checks
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| c.name)
                    .collect();
                tracing::warn!(?failing, "not ready");
            }
        }
        self.report.set(report.clone());
        report
    }

    /// Every service NOT_SERVING: the gateway is stopping.
    pub async fn stopping(&self) {
        for name in self.basic.iter().chain(&self.lookups).chain(&[""]) {
            self.reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        self.report.set(Report {
            ready: false,
            degraded: Vec::new(),
            checks: vec![Check {
                name: "shutdown",
                ok: false,
                detail: "the gateway is stopping".into(),
            }],
            witnesses: None,
        });
    }

    /// Checks every `interval` until `shutdown`.
    pub fn spawn(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        crate::clock::every(interval, shutdown, move || {
            let readiness = self.clone();
            async move {
                readiness.check().await;
            }
        });
    }
}

/// Whether a file can be written, synced and removed in `dir`.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    let probe = dir.join(".ready-probe");
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"ready").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| format!("{}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_that_cannot_take_a_file_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        writable(dir.path()).expect("a temp dir is writable");
        assert!(
            !dir.path().join(".ready-probe").exists(),
            "the probe is removed"
        );
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = writable(&file).unwrap_err();
        assert!(err.contains("not-a-dir"), "{err}");
        assert!(writable(&dir.path().join("missing")).is_err());
    }
}
