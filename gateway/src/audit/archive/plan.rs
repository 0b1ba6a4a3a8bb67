//! When and how much a gateway archives: its plan from the configuration, a run
//! (expiry, audit records, closed dossiers), and the schedule that runs it on the
//! replica holding the archiver's lease.

use std::time::Duration;

use super::{Actor, Note, Settings, archive, dossiers};
use crate::Error;
use crate::audit::Log;

/// The archiving a gateway does: where, how, and what stays online.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How archives are made.
    pub settings: Settings,
    /// How much of the log stays in the live store.
    pub keep_online: Duration,
    /// How long archives are kept; none: forever.
    pub retention: Option<Duration>,
}

impl Plan {
    /// The plan of `config`.
    pub fn of(config: &crate::config::Config) -> Plan {
        let a = &config.audit.archive;
        Plan {
            settings: Settings {
                dir: config.archive_dir(),
                per_file: a.per_file,
                pace: a.pace,
            },
            keep_online: a.keep_online,
            retention: a.retention,
        }
    }

    /// With `expire`, deletes the archives past the retention; then archives the
    /// records appended before `before` (default: `keep_online` ago), and the
    /// closed dossiers received before it.
    pub async fn run(
        &self,
        log: &Log,
        before: Option<i64>,
        expire: bool,
        by: &Actor,
    ) -> Result<Ran, Error> {
        let now = crate::clock::now_micros();
        let expired = match (expire, self.retention) {
            (false, _) => Vec::new(),
            (true, None) => {
                return Err(Error::Audit(
                    "no retention is configured (audit.archive.retention): nothing may expire"
                        .into(),
                ));
            }
            (true, Some(keep)) => {
                let edge = now.saturating_sub(crate::clock::micros(keep));
                super::expire(log, &self.settings.dir, edge, by).await?
            }
        };
        let before =
            before.unwrap_or_else(|| now.saturating_sub(crate::clock::micros(self.keep_online)));
        let archived = archive(log, &self.settings, before, by).await?;
        let dossiers = dossiers::archive(log, &self.settings.dir, before, by).await?;
        Ok(Ran {
            archived,
            expired,
            dossiers,
        })
    }
}

/// What an archiving run did.
#[derive(Debug, Default)]
pub struct Ran {
    /// The archives written, in log order.
    pub archived: Vec<Note>,
    /// The archives deleted at the end of their retention.
    pub expired: Vec<Note>,
    /// Closed dossiers moved to archive files.
    pub dossiers: u64,
}

/// The lease that lets one replica archive on the schedule.
pub const LEASE: &str = "audit-archiver";

/// Runs `plan` every `every` (and once at start) until `shutdown`, on the replica
/// `replica` while it holds the archiver's lease: archives what is older than
/// `keep_online`, and expires archives past the retention when one is set. A
/// failed run is logged and tried again at the next.
pub fn schedule(
    log: std::sync::Arc<Log>,
    every: Duration,
    replica: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    crate::clock::every(every, shutdown, move || {
        let (log, replica) = (log.clone(), replica.clone());
        async move {
            let Some(plan) = log.plan().cloned() else {
                return;
            };
            match log.store().lease(LEASE, &replica, every).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "the archiver's lease cannot be taken");
                    return;
                }
            }
            let by = Actor {
                purpose: "schedule".into(),
                ..Actor::default()
            };
            match plan.run(&log, None, plan.retention.is_some(), &by).await {
                Ok(ran)
                    if !ran.archived.is_empty() || !ran.expired.is_empty() || ran.dossiers > 0 =>
                {
                    tracing::info!(
                        archived = ran.archived.len(),
                        expired = ran.expired.len(),
                        dossiers = ran.dossiers,
                        "scheduled archiving done"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "scheduled audit archiving failed"),
            }
        }
    });
}
