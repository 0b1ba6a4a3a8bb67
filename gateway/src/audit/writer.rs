//! The one writer of the audit log, with group commit.
//!
//! Requests hand their record to a bounded channel and wait. The writer, on its own
//! thread (redb's commit blocks on fsync), takes everything queued up to a batch
//! limit, chains the records, writes them in one transaction, commits durably, and
//! only then answers each request. One fsync thus serves many concurrent requests,
//! and a request is never answered before its record is on disk. When a commit
//! fails, every request in the batch gets the error and the head does not move.
//!
//! A batch of records alone (no effect, no other write, no checkpoint due) is
//! committed to redb without a sync and made durable by one frame of the
//! [`Journal`]; any other batch is a durable redb commit, which also covers the
//! records before it, and the journal starts again.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use lienthong_proto::v1::AuditRecord;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Signer;
use super::journal::Journal;
use super::record::{hash, timestamp};
use super::store::{Head, Store};
use crate::Error;
use crate::clock::now_micros;

/// Work done in the same transaction as a record, before it is chained: it may
/// write other tables of the ledger and complete the record (its outcome). If it
/// fails, the whole batch fails and nothing of it is written.
pub type Effect =
    Box<dyn FnOnce(&redb::WriteTransaction, &mut AuditRecord) -> Result<(), Error> + Send>;

/// Other work on the ledger, without a record, batched into the next commit.
pub type Write = Box<dyn FnOnce(&redb::WriteTransaction) -> Result<(), Error> + Send>;

/// What the writer is asked to do.
pub(super) enum Command {
    /// Run `Write` in the next transaction; answer once it is committed.
    Write(Write, oneshot::Sender<Result<(), Error>>),
    /// Append a record (after its effect, if any); answer its sequence number once
    /// durable.
    Append(
        Box<AuditRecord>,
        Option<Effect>,
        oneshot::Sender<Result<u64, Error>>,
    ),
    /// Sign a checkpoint if records came since the last one (the timer's tick).
    Checkpoint,
    /// Sign a final checkpoint and stop.
    Close(oneshot::Sender<()>),
}

/// When checkpoints are signed, and how large a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Sign a checkpoint after this many records.
    pub checkpoint_every: u64,
    /// Records per commit at most.
    pub max_batch: usize,
}

/// Counters of the writer's work.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records made durable.
    pub records: AtomicU64,
    /// Commits made.
    pub commits: AtomicU64,
    /// When a commit last failed (µs since the epoch; 0: never).
    pub last_failure: AtomicI64,
    /// Batch sizes and flush times, for `/metrics`.
    pub metrics: crate::metrics::AuditMetrics,
}

/// Runs the writer until [`Command::Close`] or until every sender is gone.
pub(super) fn run(
    store: Arc<Store>,
    signer: Arc<Signer>,
    settings: Settings,
    mut head: Head,
    stats: Arc<Stats>,
    mut rx: mpsc::Receiver<Command>,
    mut journal: Journal,
) {
    let mut records = Vec::with_capacity(settings.max_batch);
    let mut effects: Vec<Option<Effect>> = Vec::with_capacity(settings.max_batch);
    let mut replies = Vec::with_capacity(settings.max_batch);
    let mut writes: Vec<Write> = Vec::new();
    let mut written = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut tick = false;
        let mut close = None;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(record, effect, reply) => {
                    records.push(*record);
                    effects.push(effect);
                    replies.push(reply);
                }
                Command::Write(write, reply) => {
                    writes.push(write);
                    written.push(reply);
                }
                Command::Checkpoint => tick = true,
                Command::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if records.len() < settings.max_batch {
                next = rx.try_recv().ok();
            }
        }

        let now = now_micros();
        let mut new_head = head;
        let due = |h: &Head| {
            h.seq - h.checkpoint >= settings.checkpoint_every
                || ((tick || close.is_some()) && h.seq > h.checkpoint)
        };
        let work = !records.is_empty() || !writes.is_empty() || due(&head);
        if work {
            let started = std::time::Instant::now();
            let plain = writes.is_empty()
                && effects.iter().all(Option::is_none)
                && !due(&Head {
                    seq: head.seq + records.len() as u64,
                    ..head
                });
            let effects = std::mem::take(&mut effects);
            let batch_writes = std::mem::take(&mut writes);
            // Inside the transaction: other writes, then effects (they complete
            // their records), then the chain over the records as they will be stored.
            let prepared = store.append_with(&mut records, !plain, |txn, records| {
                for write in batch_writes {
                    write(txn)?;
                }
                for (r, effect) in records.iter_mut().zip(effects) {
                    if let Some(effect) = effect {
                        effect(txn, r)?;
                    }
                }
                for r in records.iter_mut() {
                    new_head.seq += 1;
                    new_head.at = new_head.at.max(now);
                    r.seq = new_head.seq;
                    r.at = Some(timestamp(new_head.at));
                    r.prev_hash = new_head.hash.to_vec();
                    new_head.hash = hash(&new_head.hash, r);
                    r.hash = new_head.hash.to_vec();
                }
                Ok(due(&new_head).then(|| signer.sign(new_head.seq, &new_head.hash, new_head.at)))
            });
            let prepared = prepared.and_then(|checkpoint| {
                let settled = if plain {
                    durable(&store, &mut journal, &records)
                } else {
                    journal.restart();
                    Ok(())
                };
                if settled.is_err() {
                    // The records are in redb but maybe not on disk; their requests
                    // are refused, and the head moves past them so that no later
                    // record takes their numbers.
                    head = new_head;
                }
                settled.map(|()| checkpoint)
            });
            match prepared {
                Ok(checkpoint) => {
                    if checkpoint.is_some() {
                        new_head.checkpoint = new_head.seq;
                    }
                    head = new_head;
                    stats
                        .records
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                    stats.commits.fetch_add(1, Ordering::Relaxed);
                    stats.metrics.batch.observe(records.len() as f64);
                    stats.metrics.flush.observe(started.elapsed().as_secs_f64());
                    for (r, reply) in records.drain(..).zip(replies.drain(..)) {
                        let _ = reply.send(Ok(r.seq));
                    }
                    for reply in written.drain(..) {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = records.len(), "audit commit failed; the requests in it are refused");
                    records.clear();
                    stats.metrics.failures.inc();
                    stats.last_failure.store(now_micros(), Ordering::Relaxed);
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(Error::Audit(e.to_string())));
                    }
                    for reply in written.drain(..) {
                        let _ = reply.send(Err(Error::Ledger(e.to_string())));
                    }
                }
            }
        }
        if let Some(done) = close {
            // The last commit was durable and covered the journal: nothing in it
            // is to be replayed.
            if journal.used() == 0
                && let Err(e) = journal.clear()
            {
                tracing::warn!(error = %e, "the audit journal was not cleared at close");
            }
            let _ = done.send(());
            break;
        }
    }
    tracing::info!(
        head = head.seq,
        checkpoint = head.checkpoint,
        "audit writer stopped"
    );
}

/// Makes records committed without a sync durable: in one journal frame or, when
/// the journal is full or fails, by a durable commit, after which it restarts.
fn durable(store: &Store, journal: &mut Journal, records: &[AuditRecord]) -> Result<(), Error> {
    match journal.append(records) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the audit journal failed; the ledger takes the batch durably")
        }
    }
    store.settle()?;
    journal.restart();
    Ok(())
}
