//! The one writer of the ledger, with group commit.
//!
//! Requests hand their work (an audit record, a dossier change, both, or a delivery
//! outcome) to a bounded channel and wait. The writer, on its own thread (a commit
//! blocks on the disk's sync), takes everything queued up to a batch limit, commits
//! it in one transaction of the [`Store`], and only then answers each request. One
//! sync thus serves many concurrent requests, and nothing is acknowledged before it
//! is durable. When a commit fails, every request in the batch gets the error.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lienthong_proto::v1::AuditRecord;
use tokio::sync::{mpsc, oneshot};

use crate::{Applied, Batch, Change, Entry, Error, Outcome, Seal, Store, now_micros};

/// Told about every commit, for metrics.
pub trait Observe: Send + Sync + 'static {
    /// A commit of `records` records took `took`, from the batch's first request
    /// taken to the commit done.
    fn committed(&self, records: usize, took: Duration);
    /// A commit failed; every request in it was refused.
    fn failed(&self);
}

impl Observe for () {
    fn committed(&self, _: usize, _: Duration) {}
    fn failed(&self) {}
}

/// How large a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests per commit at most.
    pub max_batch: usize,
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub struct Stats {
    /// Audit records made durable.
    pub records: AtomicU64,
    /// Commits made.
    pub commits: AtomicU64,
    /// When a commit last failed (µs since the epoch; 0: never).
    pub last_failure: AtomicI64,
}

/// What an append became.
#[derive(Debug)]
pub struct Appended {
    /// The record's sequence number (0 without a record).
    pub seq: u64,
    /// The change's result, when there was one.
    pub applied: Option<Applied>,
}

/// Requests waiting for the writer at most; further ones wait to enqueue.
const QUEUE: usize = 8192;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// What the writer is asked to do.
enum Command {
    /// A record, a change, or both; answered once durable.
    Append(Box<(Option<AuditRecord>, Option<Change>, Reply<Appended>)>),
    /// A delivery outcome; answered once committed.
    Deliver(Box<(Entry, Outcome, Reply<()>)>),
    /// Sign a checkpoint if records came since the last one (the timer's tick).
    Checkpoint,
    /// Sign a final checkpoint, close the store and stop.
    Close(oneshot::Sender<()>),
}

/// The writer of a running gateway.
pub struct Writer {
    tx: mpsc::Sender<Command>,
    stats: Arc<Stats>,
    /// Joined on close.
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer of `store`; `seal` completes its records. Must run inside
    /// a tokio runtime (the store's futures run on it).
    pub fn start(
        store: Arc<dyn Store>,
        seal: Box<dyn Seal>,
        settings: Settings,
        observe: Arc<dyn Observe>,
    ) -> Result<Writer, Error> {
        let runtime = tokio::runtime::Handle::current();
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                Run {
                    store,
                    seal,
                    settings,
                    observe,
                    stats: counters,
                    runtime,
                }
                .run(rx)
            })
            .map_err(|e| Error::unavailable("start the ledger writer", e))?;
        Ok(Writer {
            tx,
            stats,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Commits `record` (completed by the seal) and `change` together; answers once
    /// both are durable.
    pub async fn append(
        &self,
        record: Option<AuditRecord>,
        change: Option<Change>,
    ) -> Result<Appended, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Append(Box::new((record, change, reply))))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Records how a delivery went, in the next commit.
    pub async fn deliver(&self, entry: Entry, outcome: Outcome) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Deliver(Box::new((entry, outcome, reply))))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Asks for a checkpoint if records came since the last one; false once the
    /// writer has stopped.
    pub async fn checkpoint(&self) -> bool {
        self.tx.send(Command::Checkpoint).await.is_ok()
    }

    /// Commits what is queued with a final checkpoint, closes the store and stops;
    /// appends after this fail with [`Error::Closed`].
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Command::Close(done)).await.is_ok() {
            let _ = finished.await;
        }
        let thread = self.thread.lock().expect("writer handle").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// True while the writer runs and no commit failed in the last `within`.
    pub fn healthy(&self, within: Duration) -> bool {
        let failed = self.stats.last_failure.load(Ordering::Relaxed);
        let recent = failed > 0 && now_micros().saturating_sub(failed) < within.as_micros() as i64;
        !self.tx.is_closed() && !recent
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// The writer thread's state.
struct Run {
    store: Arc<dyn Store>,
    seal: Box<dyn Seal>,
    settings: Settings,
    observe: Arc<dyn Observe>,
    stats: Arc<Stats>,
    runtime: tokio::runtime::Handle,
}

/// Who waits for what in a batch: the indices of their record and change.
enum Waiter {
    Append(Option<usize>, Option<usize>, Reply<Appended>),
    Deliver(Reply<()>),
}

impl Run {
    /// Hands the store the records of a commit to index (see [`Store::index`]).
    fn index(&self, records: Vec<AuditRecord>) {
        if let Err(e) = self.store.index(records) {
            tracing::error!(error = %e, "the ledger could not take durable records to index");
            self.observe.failed();
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut waiters = Vec::with_capacity(self.settings.max_batch);
        while let Some(first) = rx.blocking_recv() {
            let mut batch = Batch::default();
            let mut close = None;
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(command) = next.take() {
                match command {
                    Command::Append(append) => {
                        let (record, change, reply) = *append;
                        let r = record.map(|r| {
                            batch.records.push(r);
                            batch.records.len() - 1
                        });
                        let c = change.map(|c| {
                            batch.changes.push((r, c));
                            batch.changes.len() - 1
                        });
                        waiters.push(Waiter::Append(r, c, reply));
                    }
                    Command::Deliver(deliver) => {
                        let (entry, outcome, reply) = *deliver;
                        batch.deliveries.push((entry, outcome));
                        waiters.push(Waiter::Deliver(reply));
                    }
                    Command::Checkpoint => batch.checkpoint = true,
                    Command::Close(done) => {
                        batch.checkpoint = true;
                        close = Some(done);
                        break;
                    }
                }
                taken += 1;
                if taken < self.settings.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(batch, &mut waiters);
            if let Some(done) = close {
                if let Err(e) = self.runtime.block_on(self.store.close()) {
                    tracing::warn!(error = %e, "the ledger did not close cleanly");
                }
                let _ = done.send(());
                break;
            }
        }
        tracing::info!("ledger writer stopped");
    }

    fn commit(&mut self, mut batch: Batch, waiters: &mut Vec<Waiter>) {
        if batch.is_empty() && !batch.checkpoint {
            return;
        }
        let started = Instant::now();
        let committed = self
            .runtime
            .block_on(self.store.commit(&mut batch, &mut *self.seal));
        match committed {
            Ok(committed) => {
                let records = batch.records.len();
                self.stats
                    .records
                    .fetch_add(records as u64, Ordering::Relaxed);
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.observe.committed(records, started.elapsed());
                let mut applied: Vec<Option<Applied>> =
                    committed.applied.into_iter().map(Some).collect();
                for waiter in waiters.drain(..) {
                    match waiter {
                        Waiter::Append(r, c, reply) => {
                            let _ = reply.send(Ok(Appended {
                                seq: r.map_or(0, |i| batch.records[i].seq),
                                applied: c.and_then(|i| applied[i].take()),
                            }));
                        }
                        Waiter::Deliver(reply) => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
                // The requests are answered; what the commit left for the store's
                // readers goes to the store, which writes it off this thread.
                if committed.deferred {
                    self.index(std::mem::take(&mut batch.records));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.records.len(), changes = batch.changes.len(), "ledger commit failed; the requests in it are refused");
                self.observe.failed();
                self.stats
                    .last_failure
                    .store(now_micros(), Ordering::Relaxed);
                for waiter in waiters.drain(..) {
                    match waiter {
                        Waiter::Append(.., reply) => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        Waiter::Deliver(reply) => {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
    }
}
