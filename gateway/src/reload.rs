//! Picking up a rotated certificate, a new CRL or a changed policy without a restart.
//!
//! On SIGHUP, and when one of the files changes (polled every
//! `reload.watch_interval`), the TLS material (server certificate and key, CA, CRL)
//! and the policy file are read again. Each is checked whole before it replaces the
//! one in force; a file that does not load is logged and counted, and the old one
//! stays. New handshakes use the new TLS configuration; connections already open
//! keep theirs, but their next request is refused if the new CRL lists their
//! certificate. Requests in flight finish under the policy they started with.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, ReloadLabels};
use crate::policy::Policy;
use crate::tls::Trust;
use lienthong_pki::Paths;

/// A value replaced whole while readers hold the one they took.
pub struct Current<T>(RwLock<Arc<T>>);

impl<T> Current<T> {
    /// Starts with `value`.
    pub fn new(value: T) -> Current<T> {
        Current(RwLock::new(Arc::new(value)))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        self.0.read().expect("current value lock").clone()
    }

    /// Puts `value` in force.
    pub fn set(&self, value: T) {
        *self.0.write().expect("current value lock") = Arc::new(value);
    }
}

/// What a reload did, per component.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The TLS material: `Some(Ok)` reloaded, `Some(Err)` kept the old (why).
    pub tls: Option<Result<(), String>>,
    /// The policy file, likewise (`None`: the embedded dev policy, nothing to reload).
    pub policy: Option<Result<(), String>>,
}

/// Reloads the TLS material and the policy file.
pub struct Reloader {
    paths: Paths,
    agency_uri_prefix: String,
    policy_file: Option<PathBuf>,
    /// What handshakes and the revocation check use.
    pub trust: Arc<Current<Trust>>,
    /// What handlers decide with.
    pub policy: Arc<Current<Policy>>,
    metrics: Arc<Metrics>,
    /// The files' modification times and sizes when last read.
    seen: Mutex<Vec<Stamp>>,
}

type Stamp = Option<(SystemTime, u64)>;

impl Reloader {
    /// Loads both for the first time; a failure here stops start-up.
    pub fn load(
        paths: Paths,
        agency_uri_prefix: &str,
        policy: &crate::config::PolicyConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Reloader, crate::Error> {
        let trust = Trust::load(&paths, agency_uri_prefix)?;
        // With the policy off there is no file to reload.
        let policy_file = policy.file.clone().filter(|_| policy.enabled);
        let policy = Policy::configured(policy)?;
        let reloader = Reloader {
            paths,
            agency_uri_prefix: agency_uri_prefix.to_owned(),
            policy_file,
            trust: Arc::new(Current::new(trust)),
            policy: Arc::new(Current::new(policy)),
            metrics,
            seen: Mutex::new(Vec::new()),
        };
        *reloader.seen.lock().expect("stamps") = reloader.stamps();
        Ok(reloader)
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.paths.server_cert(),
            self.paths.server_key(),
            self.paths.ca_cert(),
            self.paths.crl(),
        ];
        files.extend(self.policy_file.clone());
        files
    }

    fn stamps(&self) -> Vec<Stamp> {
        self.files()
            .iter()
            .map(|f| {
                let m = std::fs::metadata(f).ok()?;
                Some((m.modified().ok()?, m.len()))
            })
            .collect()
    }

    /// True if a file changed since it was last read (and notes the change).
    fn changed(&self) -> bool {
        let now = self.stamps();
        let mut seen = self.seen.lock().expect("stamps");
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }

    /// Reads everything again; what loads goes in force, what does not is logged.
    pub fn reload(&self) -> Outcome {
        let trust = Trust::load(&self.paths, &self.agency_uri_prefix);
        let tls = self.swap("tls", trust, &self.trust);
        let policy = self.policy_file.as_ref().map(|path| {
            self.swap(
                "policy",
                Policy::load(path).map_err(crate::Error::from),
                &self.policy,
            )
        });
        // What was just read is what is now "seen".
        *self.seen.lock().expect("stamps") = self.stamps();
        Outcome {
            tls: Some(tls),
            policy,
        }
    }

    /// Puts `loaded` in force, or logs why the one in force stays; counts either.
    fn swap<T>(
        &self,
        component: &'static str,
        loaded: Result<T, crate::Error>,
        current: &Current<T>,
    ) -> Result<(), String> {
        let ok = loaded.is_ok();
        self.metrics
            .reloads
            .get_or_create(&ReloadLabels {
                component,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        match loaded {
            Ok(value) => {
                current.set(value);
                tracing::info!(component, "{component} reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(component, error = %e, "{component} reload failed; the previous one stays in force");
                Err(e.to_string())
            }
        }
    }

    /// Reloads on SIGHUP and, every `watch` (unless zero), when a file changed;
    /// until `shutdown`.
    pub fn spawn(self: Arc<Self>, watch: Duration, shutdown: CancellationToken) {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = (!watch.is_zero()).then(|| {
                let mut t = tokio::time::interval(watch);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            loop {
                let hangup = async {
                    #[cfg(unix)]
                    if let Some(hup) = hup.as_mut() {
                        return hup.recv().await;
                    }
                    std::future::pending().await
                };
                let poll = async {
                    match tick.as_mut() {
                        Some(t) => t.tick().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = hangup => {
                        tracing::info!("SIGHUP: reloading certificates, CRL and policy");
                        let this = self.clone();
                        let _ = tokio::task::spawn_blocking(move || this.reload()).await;
                    }
                    _ = poll => {
                        let this = self.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            if this.changed() {
                                tracing::info!("a certificate, CRL or policy file changed; reloading");
                                this.reload();
                            }
                        })
                        .await;
                    }
                }
            }
        });
    }
}
