//! The sync worker: delivers the outbox to the portal, in order per dossier.
//!
//! Entries are loaded from the outbox into one queue per dossier; only a queue's
//! head is ever in flight, so a later revision never overtakes an earlier one, while
//! different dossiers proceed in parallel (at most `concurrency` at once). A failure
//! that may pass (network, timeout, portal errors, refused credentials) is retried
//! after an exponential backoff with jitter; a permanent refusal moves the entry to
//! the dead letters and holds the dossier's later revisions back until an operator
//! acts. Delivered entries leave the outbox.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::Fault;
use lienthong_adapters::portal::NationalPortal;
use lienthong_adapters::portal::schema::HoSo;
use lienthong_proto::v1::SyncStatus;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lienthong_ledger::{Entry, Outcome};

use super::Dossiers;

/// How the worker paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Deliveries in flight at most (each to a different dossier).
    pub concurrency: usize,
    /// The first retry waits about this long; each further one twice as long.
    pub backoff_base: Duration,
    /// No retry waits longer.
    pub backoff_max: Duration,
    /// Entries held in memory at most; the rest wait in the outbox.
    pub max_loaded: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 16,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            max_loaded: 50_000,
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

/// What the worker holds about the dossiers it delivers.
#[derive(Default)]
struct Queues {
    /// Loaded entries per dossier, in order.
    entries: HashMap<String, VecDeque<Entry>>,
    /// Dossiers whose head may go now.
    ready: VecDeque<String>,
    /// Dossiers whose head failed: attempts so far.
    attempts: HashMap<String, u32>,
    /// Dossiers waiting to retry, and when.
    waiting: HashMap<String, Instant>,
    /// Dossiers with a delivery in flight.
    in_flight: HashSet<String>,
    /// Dossiers held back by a dead letter.
    dead: HashSet<String>,
    /// The highest outbox sequence number loaded.
    after: u64,
    loaded: usize,
}

impl Queues {
    fn add(&mut self, entry: Entry) {
        self.after = self.after.max(entry.seq);
        let code = entry.code().to_owned();
        if self.dead.contains(&code) {
            return;
        }
        let queue = self.entries.entry(code.clone()).or_default();
        queue.push_back(entry);
        self.loaded += 1;
        if queue.len() == 1 && !self.in_flight.contains(&code) && !self.waiting.contains_key(&code)
        {
            self.ready.push_back(code);
        }
    }

    fn head(&self, code: &str) -> Option<Entry> {
        self.entries.get(code).and_then(|q| q.front().cloned())
    }

    fn pop(&mut self, code: &str) {
        if let Some(q) = self.entries.get_mut(code) {
            q.pop_front();
            self.loaded -= 1;
            if q.is_empty() {
                self.entries.remove(code);
            } else {
                self.ready.push_back(code.to_owned());
            }
        }
    }
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

    /// Delivers until `shutdown`, then lets the deliveries in flight finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut q = Queues::default();
        let (done_tx, mut done_rx) =
            mpsc::channel::<(Entry, Outcome)>(self.settings.concurrency.max(1));
        let mut more = true;
        loop {
            if more && q.loaded < self.settings.max_loaded {
                more = self.load(&mut q).await;
            }
            let now = Instant::now();
            let due: Vec<String> = q
                .waiting
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(code, _)| code.clone())
                .collect();
            for code in due {
                q.waiting.remove(&code);
                q.ready.push_back(code);
            }
            while q.in_flight.len() < self.settings.concurrency {
                let Some(code) = q.ready.pop_front() else {
                    break;
                };
                let Some(entry) = q.head(&code) else { continue };
                if !q.in_flight.insert(code.clone()) {
                    continue;
                }
                let attempts = q.attempts.get(&code).copied().unwrap_or(0);
                let (portal, dossiers, done) =
                    (self.portal.clone(), self.dossiers.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let outcome = deliver(&*portal, &entry, attempts).await;
                    let marked = dossiers
                        .writer
                        .deliver(entry.clone(), outcome.clone())
                        .await;
                    if let Err(e) = marked {
                        tracing::error!(error = %e, "could not record a delivery; it will be repeated");
                    }
                    let _ = done.send((entry, outcome)).await;
                });
            }
            let next_due = q.waiting.values().min().copied();
            let nap = next_due.map_or(Duration::from_secs(1), |at| {
                at.saturating_duration_since(now)
            });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some((entry, outcome)) = done_rx.recv() => {
                    self.settle(&mut q, &entry, outcome);
                    while let Ok((entry, outcome)) = done_rx.try_recv() {
                        self.settle(&mut q, &entry, outcome);
                    }
                }
                () = self.dossiers.changed() => more = true,
                () = tokio::time::sleep(nap.max(Duration::from_millis(5))) => {}
            }
        }
        drop(done_tx);
        while !q.in_flight.is_empty() {
            match done_rx.recv().await {
                Some((entry, _)) => {
                    q.in_flight.remove(entry.code());
                }
                None => break,
            }
        }
    }

    /// Loads entries added since the last load; false when the outbox had no more.
    async fn load(&self, q: &mut Queues) -> bool {
        let page = 4096;
        let loaded = async {
            let store = &self.dossiers.store;
            let entries = store.outbox(q.after, page).await?;
            // Which dossiers are held back by a dead letter, and which are not (any
            // more: an operator requeued them).
            let mut dead = Vec::new();
            let mut alive = Vec::new();
            let mut checked = HashSet::new();
            for e in &entries {
                if checked.insert(e.code().to_owned())
                    && let Some(d) = store.dossier(e.code()).await?
                {
                    if d.sync.is_some_and(|s| s.status == SyncStatus::Dead as i32) {
                        dead.push(e.code().to_owned());
                    } else {
                        alive.push(e.code().to_owned());
                    }
                }
            }
            Ok::<_, lienthong_ledger::Error>((entries, dead, alive))
        }
        .await;
        match loaded {
            Ok((entries, dead, alive)) => {
                let full = entries.len() == page;
                for code in &alive {
                    q.dead.remove(code);
                }
                q.dead.extend(dead);
                for e in entries {
                    q.add(e);
                }
                full
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the outbox");
                false
            }
        }
    }

    fn settle(&self, q: &mut Queues, entry: &Entry, outcome: Outcome) {
        let code = entry.code().to_owned();
        q.in_flight.remove(&code);
        match outcome {
            Outcome::Delivered => {
                q.attempts.remove(&code);
                q.pop(&code);
            }
            Outcome::Retry { attempts, error } => {
                let wait = backoff(&self.settings, attempts, jitter());
                tracing::warn!(dossier = %code, revision = entry.revision(), attempts, ?wait, %error, "delivery failed; will retry");
                q.attempts.insert(code.clone(), attempts);
                q.waiting.insert(code, Instant::now() + wait);
            }
            Outcome::Dead { reason } => {
                tracing::error!(dossier = %code, revision = entry.revision(), %reason, "the portal refused an update for good; dossier held back (lienthong sync retry --dead)");
                q.attempts.remove(&code);
                if let Some(held) = q.entries.remove(&code) {
                    q.loaded -= held.len();
                }
                q.dead.insert(code);
            }
        }
    }
}

/// Delivers one entry; how it went.
async fn deliver(portal: &dyn NationalPortal, entry: &Entry, attempts: u32) -> Outcome {
    match portal.push(&HoSo::from(&entry.dossier)).await {
        Ok(_) => Outcome::Delivered,
        Err(e) if e.fault() == Fault::Caller => Outcome::Dead {
            reason: e.to_string(),
        },
        Err(e) => Outcome::Retry {
            attempts: attempts + 1,
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
