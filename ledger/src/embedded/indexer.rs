//! The embedded ledger's indexer: a thread of its own that writes the records the
//! journal made durable, with the Merkle tree's nodes over them, to redb, where
//! readers find them. The writer only hands them over: a write of a few hundred
//! records takes the better part of a millisecond, and when the writer made it,
//! every request that came meanwhile waited for it (a quarter of the writer's
//! time at 16 requests in flight; BENCHMARKS.md).
//!
//! redb takes one write transaction at a time. The indexer and the writer's
//! durable commits both take [`Shared::writing`] before redb's own lock, so a
//! durable commit finds every record answered before it either in redb or still
//! in [`Deferred`], writes the latter and covers both before the journal starts
//! again. What the indexer writes is not synced: the journal holds it durably
//! until a durable commit does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use lienthong_proto::v1::AuditRecord;
use redb::Database;

use super::{Context, audit, tree};
use crate::merkle::Node;
use crate::{Error, Head};

/// Deferred records are written to redb once this many gather…
const INDEX_BATCH: usize = 512;

/// … or the oldest has waited this long, or a reader waits for them. Redb's
/// commit costs the same for one record as for hundreds: the longer records
/// gather, the less each pays.
const INDEX_AFTER: Duration = Duration::from_millis(10);

/// After a failed write, how long the indexer waits before it tries again (a
/// lasting failure is not retried, and logged, thousands of times a second).
const RETRY: Duration = Duration::from_secs(1);

/// Records durable in the journal and not yet in redb.
pub(super) struct Deferred {
    /// Handed over by the writer, in order…
    records: Vec<AuditRecord>,
    /// … the tree's nodes over them…
    nodes: Vec<Node>,
    /// … and the head after the last of them.
    head: Head,
    /// When the oldest came.
    since: Instant,
    /// The nodes of the batch just framed in the journal, whose records the
    /// writer hands over next: kept apart, so that the indexer never writes
    /// nodes over records it does not write with them.
    pub(super) made: Vec<Node>,
    /// After a failed write: not tried again before this.
    retry_at: Option<Instant>,
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred {
            records: Vec::new(),
            nodes: Vec::new(),
            head: Head::default(),
            since: Instant::now(),
            made: Vec::new(),
            retry_at: None,
        }
    }
}

impl Deferred {
    /// Forgets them: they are in redb, or the journal gives them back.
    pub(super) fn clear(&mut self) {
        self.records.clear();
        self.nodes.clear();
        self.made.clear();
    }

    /// Writes all of them in `txn` (a durable commit's).
    pub(super) fn insert(&self, txn: &redb::WriteTransaction) -> Result<(), Error> {
        insert(txn, &self.records, &self.nodes)?;
        tree::insert(txn, &self.made)
    }

    /// Whether the indexer is to write them now (`asked`: a reader waits).
    fn due(&self, asked: bool) -> bool {
        !self.records.is_empty()
            && self.retry_at.is_none_or(|t| Instant::now() >= t)
            && (asked || self.records.len() >= INDEX_BATCH || self.since.elapsed() >= INDEX_AFTER)
    }
}

/// Writes `records` and the tree's `nodes` over them in `txn`.
fn insert(
    txn: &redb::WriteTransaction,
    records: &[AuditRecord],
    nodes: &[Node],
) -> Result<(), Error> {
    audit::insert(txn, records, None)?;
    tree::insert(txn, nodes)
}

/// What the ledger shares with its indexer thread.
pub(super) struct Shared {
    /// The open file; `None` only while it is reopened after an I/O error.
    pub(super) db: RwLock<Option<Arc<Database>>>,
    pub(super) deferred: Mutex<Deferred>,
    /// Wakes the indexer (with `deferred`).
    wake: Condvar,
    /// Held across each write of deferred records to redb: the indexer's, a
    /// durable commit's, a reopening's. Taken before redb's write lock.
    pub(super) writing: Mutex<()>,
    /// The head that readers see: every record up to it is in redb.
    pub(super) visible: tokio::sync::watch::Sender<Head>,
    /// A reader waits for the deferred records. Set without the lock, so that a
    /// reader on the async runtime never blocks: a wake-up the indexer misses
    /// delays the write by [`INDEX_AFTER`] at most.
    asked: AtomicBool,
    stop: AtomicBool,
}

impl Shared {
    pub(super) fn new(db: Database, head: Head) -> Shared {
        Shared {
            db: RwLock::new(Some(Arc::new(db))),
            deferred: Mutex::default(),
            wake: Condvar::new(),
            writing: Mutex::new(()),
            visible: tokio::sync::watch::Sender::new(head),
            asked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// The open file.
    pub(super) fn db(&self) -> Result<Arc<Database>, Error> {
        self.db
            .read()
            .expect("ledger handle")
            .clone()
            .ok_or_else(|| Error::Unavailable("the ledger is being reopened".into()))
    }

    /// Takes the `records` of the batch just framed in the journal (the writer
    /// calls it after answering them, before its next commit), with the nodes
    /// kept for them; `head` is the head after them. Wakes the indexer when
    /// they are due, or are the first to wait (it times the wait from them).
    pub(super) fn hand_over(&self, records: Vec<AuditRecord>, head: Head) {
        let mut deferred = self.deferred.lock().expect("deferred");
        let first = deferred.records.is_empty();
        if first {
            deferred.since = Instant::now();
        }
        deferred.records.extend(records);
        let made = std::mem::take(&mut deferred.made);
        deferred.nodes.extend(made);
        deferred.head = head;
        if first || deferred.due(self.asked.load(Ordering::SeqCst)) {
            self.wake.notify_one();
        }
    }

    /// A reader waits for the deferred records: the indexer writes them at once.
    pub(super) fn ask(&self) {
        self.asked.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Writes the records handed over so far to redb, without a sync, and shows
    /// them to readers. On failure they wait for the next try or durable commit.
    pub(super) fn write(&self) -> Result<(), Error> {
        let _writing = self.writing.lock().expect("writing");
        let (records, nodes, head) = {
            let mut deferred = self.deferred.lock().expect("deferred");
            self.asked.store(false, Ordering::SeqCst);
            let records = std::mem::take(&mut deferred.records);
            (records, std::mem::take(&mut deferred.nodes), deferred.head)
        };
        // Nodes come with the records they are over (see `hand_over`).
        if records.is_empty() {
            return Ok(());
        }
        let written = self.db().and_then(|db| {
            let mut txn = db.begin_write().ctx("index audit records")?;
            txn.set_durability(redb::Durability::None)
                .map_err(|x| Error::unavailable("index audit records", x))?;
            insert(&txn, &records, &nodes)?;
            txn.commit().ctx("index audit records")
        });
        let mut deferred = self.deferred.lock().expect("deferred");
        match written {
            Ok(()) => {
                deferred.retry_at = None;
                self.visible.send_replace(head);
                Ok(())
            }
            Err(e) => {
                // Back in front of what came meanwhile, for the next try.
                let (mut records, mut nodes) = (records, nodes);
                records.append(&mut deferred.records);
                nodes.append(&mut deferred.nodes);
                (deferred.records, deferred.nodes) = (records, nodes);
                deferred.retry_at = Some(Instant::now() + RETRY);
                Err(e)
            }
        }
    }

    /// The indexer thread: writes the deferred records when they are due, until
    /// [`Shared::stop`].
    fn run(&self) {
        let mut deferred = self.deferred.lock().expect("deferred");
        while !self.stop.load(Ordering::SeqCst) {
            if !deferred.due(self.asked.load(Ordering::SeqCst)) {
                // With nothing waiting, the first records handed over wake it.
                let wait = match deferred.retry_at {
                    _ if deferred.records.is_empty() => None,
                    Some(t) => Some(t.saturating_duration_since(Instant::now())),
                    None => Some(INDEX_AFTER.saturating_sub(deferred.since.elapsed())),
                };
                deferred = match wait {
                    None => self.wake.wait(deferred).expect("deferred"),
                    Some(wait) => self.wake.wait_timeout(deferred, wait).expect("deferred").0,
                };
                continue;
            }
            drop(deferred);
            if let Err(e) = self.write() {
                tracing::error!(error = %e, "the ledger could not index durable records; it tries again");
            }
            deferred = self.deferred.lock().expect("deferred");
        }
    }

    /// Stops the indexer thread (after the write it is making, if any).
    fn stop(&self) {
        let _deferred = self.deferred.lock().expect("deferred");
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }
}

/// The indexer thread, started by the first records handed over (a ledger opened
/// only to be read never starts one).
#[derive(Default)]
pub(super) struct Indexer(Mutex<Option<std::thread::JoinHandle<()>>>);

impl Indexer {
    /// Starts the thread over `shared` unless it runs.
    pub(super) fn ensure(&self, shared: &Arc<Shared>) -> Result<(), Error> {
        let mut thread = self.0.lock().expect("indexer");
        if thread.is_none() {
            let shared = shared.clone();
            let started = std::thread::Builder::new()
                .name("ledger-indexer".into())
                .spawn(move || shared.run())
                .map_err(|e| Error::unavailable("start the ledger's indexer", e))?;
            *thread = Some(started);
        }
        Ok(())
    }

    /// Stops the thread and waits for it.
    pub(super) fn stop(&self, shared: &Shared) {
        shared.stop();
        if let Some(thread) = self.0.lock().expect("indexer").take() {
            let _ = thread.join();
        }
    }
}
