//! The sync worker: delivers the outbox to the portal, in order per dossier, shoulder
//! to shoulder with the other replicas on the same ledger.
//!
//! The worker claims dossiers from the store for a lease ([`Store::claim`]) and is
//! given the first waiting entry of each; only that head is ever in flight, so a
//! later revision never overtakes an earlier one, while different dossiers proceed
//! in parallel (at most `concurrency` at once), up to `batch` of them in one call
//! of the portal; each item of a batch settles on its own outcome. Claims are renewed every third of a
//! lease; a replica that dies holds its dossiers until its lease runs out, and then
//! another takes them. A failure that may pass (network, timeout, portal errors,
//! refused credentials) is retried after an exponential backoff with jitter; a
//! permanent refusal moves the entry to the dead letters and holds the dossier's
//! later revisions back until an operator acts. Delivered entries leave the outbox.
//!
//! [`Store::claim`]: lienthong_ledger::Store::claim

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::portal::NationalPortal;
use lienthong_adapters::{Error, Fault};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lienthong_ledger::{Entry, Outcome};

use super::Dossiers;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deliveries in flight at most (each to a different dossier).
    pub concurrency: usize,
    /// Dossiers in one call of the portal at most.
    pub batch: usize,
    /// The first retry waits about this long; each further one twice as long.
    pub backoff_base: Duration,
    /// No retry waits longer.
    pub backoff_max: Duration,
    /// This worker's name in the claims it holds (unique among the replicas).
    pub owner: String,
    /// How long a claim holds without renewal: how long a dead replica's dossiers
    /// wait before another takes them.
    pub lease: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 16,
            batch: 20,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            owner: "worker".into(),
            lease: Duration::from_secs(15),
        }
    }
}

/// The wait before retry number `attempts` (1-based): exponential, capped, with
/// jitter in [50 %, 100 %] so that many dossiers failing together do not retry in step.
pub fn backoff(settings: &Settings, attempts: u32, jitter: f64) -> Duration {
    let exp = settings
        .backoff_base
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    exp.min(settings.backoff_max)
        .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A number in [0, 1) that differs between calls.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos.wrapping_mul(2_654_435_761) >> 8) / f64::from(1u32 << 24)
}

/// What the worker knows of the dossiers it holds.
#[derive(Default)]
struct Held {
    /// Dossiers with a delivery in flight.
    in_flight: HashSet<String>,
    /// Dossiers whose head failed: attempts so far.
    attempts: HashMap<String, u32>,
    /// Dossiers waiting to retry, and when.
    waiting: HashMap<String, Instant>,
}

/// The worker.
pub struct Worker {
    dossiers: Arc<Dossiers>,
    portal: Arc<dyn NationalPortal>,
    settings: Settings,
}

impl Worker {
    /// A worker delivering the outbox of `dossiers` to `portal`.
    pub fn new(
        dossiers: Arc<Dossiers>,
        portal: Arc<dyn NationalPortal>,
        settings: Settings,
    ) -> Worker {
        Worker {
            dossiers,
            portal,
            settings,
        }
    }

    /// Delivers until `shutdown`, then lets the deliveries in flight finish and lets
    /// go of its claims, so that another replica may take them at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut held = Held::default();
        let (done_tx, mut done_rx) = mpsc::channel::<Settled>(self.settings.concurrency.max(1));
        let renew = (self.settings.lease / 3).max(Duration::from_millis(10));
        let mut claim_now = true;
        let mut last_claim = Instant::now();
        let mut heads = Vec::new();
        loop {
            let now = Instant::now();
            if claim_now || now >= last_claim + renew {
                heads = self.claim(&held).await;
                last_claim = now;
                claim_now = false;
            }
            held.waiting.retain(|_, at| *at > now);
            let mut ready = Vec::new();
            for entry in &heads {
                if held.in_flight.len() >= self.settings.concurrency {
                    break;
                }
                let code = entry.code();
                if held.waiting.contains_key(code) || !held.in_flight.insert(code.to_owned()) {
                    continue;
                }
                let attempts = held.attempts.get(code).copied().unwrap_or(0);
                ready.push((entry.clone(), attempts));
            }
            for batch in ready.chunks(self.settings.batch.max(1)) {
                let (portal, dossiers, done, batch) = (
                    self.portal.clone(),
                    self.dossiers.clone(),
                    done_tx.clone(),
                    batch.to_vec(),
                );
                tokio::spawn(async move {
                    for (entry, outcome, wait) in deliver(&*portal, batch).await {
                        let (dossiers, done) = (dossiers.clone(), done.clone());
                        // Each item is recorded on its own; the writer groups them.
                        tokio::spawn(async move {
                            let marked = dossiers
                                .writer
                                .deliver(entry.clone(), outcome.clone())
                                .await;
                            if let Err(e) = marked {
                                tracing::error!(error = %e, "could not record a delivery; it will be repeated");
                            }
                            let _ = done.send((entry, outcome, wait)).await;
                        });
                    }
                });
            }
            let next = held
                .waiting
                .values()
                .min()
                .copied()
                .unwrap_or(last_claim + renew)
                .min(last_claim + renew);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some((entry, outcome, wait)) = done_rx.recv() => {
                    self.settle(&mut held, &entry, outcome, wait);
                    while let Ok((entry, outcome, wait)) = done_rx.try_recv() {
                        self.settle(&mut held, &entry, outcome, wait);
                    }
                    claim_now = true;
                }
                () = self.dossiers.changed() => claim_now = true,
                () = tokio::time::sleep_until(next.max(now + Duration::from_millis(5))) => {
                    // A retry that fell due goes with the heads claimed last.
                }
            }
        }
        drop(done_tx);
        while !held.in_flight.is_empty() {
            match done_rx.recv().await {
                Some((entry, ..)) => {
                    held.in_flight.remove(entry.code());
                }
                None => break,
            }
        }
        if let Err(e) = self.dossiers.store.release(&self.settings.owner).await {
            tracing::warn!(error = %e, "could not let go of the outbox claims; they lapse with their lease");
        }
    }

    /// Renews and takes claims; the heads of the dossiers held. Room is left for the
    /// dossiers waiting to retry, so that they do not crowd out the others.
    async fn claim(&self, held: &Held) -> Vec<Entry> {
        let limit =
            self.settings.concurrency + held.waiting.len().min(self.settings.concurrency * 3);
        match self
            .dossiers
            .store
            .claim(&self.settings.owner, self.settings.lease, limit)
            .await
        {
            Ok(heads) => heads,
            Err(e) => {
                // Nothing new starts without a fresh claim: the lease may lapse while
                // the ledger is away, and another replica may take the dossiers.
                tracing::error!(error = %e, "could not claim outbox work");
                Vec::new()
            }
        }
    }

    /// Takes note of how a delivery went; a retry waits its backoff, or as long as
    /// the portal asked (`wait`) if longer.
    fn settle(&self, held: &mut Held, entry: &Entry, outcome: Outcome, wait: Option<Duration>) {
        let code = entry.code().to_owned();
        held.in_flight.remove(&code);
        match outcome {
            Outcome::Delivered => {
                held.attempts.remove(&code);
            }
            Outcome::Retry { attempts, error } => {
                let wait =
                    backoff(&self.settings, attempts, jitter()).max(wait.unwrap_or_default());
                tracing::warn!(dossier = %code, revision = entry.revision(), attempts, ?wait, %error, "delivery failed; will retry");
                held.attempts.insert(code.clone(), attempts);
                held.waiting.insert(code, Instant::now() + wait);
            }
            Outcome::Dead { reason } => {
                tracing::error!(dossier = %code, revision = entry.revision(), %reason, "the portal refused an update for good; dossier held back (lienthong sync retry --dead)");
                held.attempts.remove(&code);
            }
        }
    }
}

/// A delivery's entry, its outcome, and how long the portal asked to wait.
type Settled = (Entry, Outcome, Option<Duration>);

/// Delivers a batch of entries (each with its attempts so far); how each went.
async fn deliver(portal: &dyn NationalPortal, batch: Vec<(Entry, u32)>) -> Vec<Settled> {
    let dossiers: Vec<_> = batch.iter().map(|(e, _)| e.dossier.clone()).collect();
    let results = match portal.push(&dossiers).await {
        Ok(results) if results.len() == batch.len() => {
            results.into_iter().map(|r| r.map(|_| ())).collect()
        }
        Ok(results) => vec![
            Err(Error::bad(
                portal.name(),
                lienthong_adapters::BadResponse::WrongRecord,
                format!("{} outcomes for {} dossiers", results.len(), batch.len()),
            ));
            batch.len()
        ],
        Err(e) => vec![Err(e); batch.len()],
    };
    batch
        .into_iter()
        .zip(results)
        .map(|((entry, attempts), result)| {
            let wait = result.as_ref().err().and_then(Error::retry_after);
            let outcome = match result {
                Ok(()) => Outcome::Delivered,
                Err(e) if e.fault() == Fault::Caller => Outcome::Dead {
                    reason: e.to_string(),
                },
                Err(e) => Outcome::Retry {
                    attempts: attempts + 1,
                    error: e.to_string(),
                },
            };
            (entry, outcome, wait)
        })
        .collect()
}

#[cfg(test)]
mod tests;
