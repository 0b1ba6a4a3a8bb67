//! The one writer of the audit log, with group commit.
//!
//! Requests hand their record to a bounded channel and wait. The writer, on its own
//! thread (redb's commit blocks on fsync), takes everything queued up to a batch
//! limit, chains the records, writes them in one transaction, commits durably, and
//! only then answers each request. One fsync thus serves many concurrent requests,
//! and a request is never answered before its record is on disk. When a commit
//! fails, every request in the batch gets the error and the head does not move.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use lienthong_proto::v1::AuditRecord;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Signer;
use super::record::{hash, timestamp};
use super::store::{Head, Store};
use crate::Error;
use crate::clock::now_micros;

/// What the writer is asked to do.
pub(super) enum Command {
    /// Append a record; answer its sequence number once durable.
    Append(Box<AuditRecord>, oneshot::Sender<Result<u64, Error>>),
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
) {
    let mut records = Vec::with_capacity(settings.max_batch);
    let mut replies = Vec::with_capacity(settings.max_batch);
    while let Some(first) = rx.blocking_recv() {
        let mut tick = false;
        let mut close = None;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(record, reply) => {
                    records.push(*record);
                    replies.push(reply);
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
        for r in &mut records {
            new_head.seq += 1;
            new_head.at = new_head.at.max(now);
            r.seq = new_head.seq;
            r.at = Some(timestamp(new_head.at));
            r.prev_hash = new_head.hash.to_vec();
            new_head.hash = hash(&new_head.hash, r);
            r.hash = new_head.hash.to_vec();
        }
        let due = new_head.seq - new_head.checkpoint >= settings.checkpoint_every
            || ((tick || close.is_some()) && new_head.seq > new_head.checkpoint);
        let checkpoint = due.then(|| signer.sign(new_head.seq, &new_head.hash, new_head.at));
        if !records.is_empty() || checkpoint.is_some() {
            let started = std::time::Instant::now();
            match store.append(&records, checkpoint.as_ref()) {
                Ok(()) => {
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
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = records.len(), "audit commit failed; the requests in it are refused");
                    records.clear();
                    stats.metrics.failures.inc();
                    stats.last_failure.store(now_micros(), Ordering::Relaxed);
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(Error::Audit(e.to_string())));
                    }
                }
            }
        }
        if let Some(done) = close {
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
