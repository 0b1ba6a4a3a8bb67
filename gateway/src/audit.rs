//! The tamper-evident audit log: one record per request, granted or not.
//!
//! Invariants:
//! - a record is durable (committed to redb and fsynced, or in the journal beside
//!   it, see [`journal`]) before the response it describes is sent; if it cannot
//!   be written, the request fails and nothing is released;
//! - records form a hash chain (`hash = SHA-256(prev_hash ‖ canonical record)`), so
//!   a record changed, removed, reordered or slipped in breaks it at its sequence
//!   number;
//! - every `checkpoint_every` records, every `checkpoint_interval` and at shutdown
//!   the head is signed (Ed25519), so a cut tail or a rewritten chain shows.
//!
//! The layout of the records and checkpoints is in `docs/AUDIT.md`.

pub mod checkpoint;
pub mod export;
pub mod journal;
pub mod query;
pub mod record;
pub mod store;
pub mod verify;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lienthong_proto::v1::{AuditRecord, VerifyAuditResponse};
use tokio::sync::{mpsc, oneshot};

pub use checkpoint::Signer;
pub use store::{Head, Item, Store};
pub use writer::{Effect, Settings, Stats, Write};

use crate::Error;
use writer::Command;

/// Requests waiting for the writer at most; further ones wait to enqueue.
const QUEUE: usize = 8192;

/// The audit log of a running gateway.
pub struct Log {
    /// To the writer thread.
    tx: mpsc::Sender<Command>,
    /// For readers (queries, verification, export).
    store: Arc<Store>,
    /// Signs checkpoints and export seals.
    signer: Arc<Signer>,
    /// The writer's counters.
    stats: Arc<Stats>,
    /// Joined on close.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Log {
    /// Opens the ledger at `path` and starts its writer; must run inside a tokio
    /// runtime (the checkpoint timer is a task).
    pub fn open(
        path: &Path,
        signer: Signer,
        settings: Settings,
        checkpoint_interval: Duration,
    ) -> Result<Log, Error> {
        Log::on(
            crate::ledger::open(path)?,
            &journal::path_of(path),
            signer,
            settings,
            checkpoint_interval,
        )
    }

    /// The log in a ledger opened by [`crate::ledger::open`] (which replays its
    /// journal), with its writer started; `journal` is the ledger's.
    pub fn on(
        db: Arc<redb::Database>,
        journal: &Path,
        signer: Signer,
        settings: Settings,
        checkpoint_interval: Duration,
    ) -> Result<Log, Error> {
        let store = Arc::new(Store::on(db)?);
        let head = store.head()?;
        let journal = journal::Journal::open(journal)?;
        if let Some(last) = store.record(head.seq)?
            && record::hash(&last.prev_hash, &last)[..] != last.hash[..]
        {
            // Serve anyway: refusing every request would stop the counters, and the
            // damage is already on record for `audit verify` to locate.
            tracing::error!(
                seq = head.seq,
                "the last audit record does not match its hash; run `lienthong audit verify`"
            );
        }
        tracing::info!(
            head = head.seq,
            checkpoint = head.checkpoint,
            "audit log open"
        );
        let signer = Arc::new(signer);
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = {
            let (store, signer, stats) = (store.clone(), signer.clone(), stats.clone());
            std::thread::Builder::new()
                .name("audit-writer".into())
                .spawn(move || writer::run(store, signer, settings, head, stats, rx, journal))
                .map_err(|e| Error::Audit(format!("start writer: {e}")))?
        };
        let ticker = tx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(checkpoint_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                if ticker.send(Command::Checkpoint).await.is_err() {
                    break;
                }
            }
        });
        Ok(Log {
            tx,
            store,
            signer,
            stats,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Appends `record` (its seq, time and hashes are set by the writer) and returns
    /// its sequence number once it is durable.
    pub async fn append(&self, record: AuditRecord) -> Result<u64, Error> {
        self.append_with(record, None).await
    }

    /// Appends `record` after `effect` has run in the same transaction (see
    /// [`Effect`]): what the effect writes is durable exactly when the record is.
    pub async fn append_with(
        &self,
        record: AuditRecord,
        effect: Option<Effect>,
    ) -> Result<u64, Error> {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Audit("the audit log is closed".into());
        self.tx
            .send(Command::Append(Box::new(record), effect, reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Runs `write` in the writer's next transaction (with whatever records it
    /// commits) and returns once that is committed: the ledger's other writers
    /// share its commits instead of contending for redb's one write lock.
    pub async fn write(&self, write: Write) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Ledger("the ledger writer has stopped".into());
        self.tx
            .send(Command::Write(write, reply))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Signs a last checkpoint and stops the writer; appends after this fail.
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Command::Close(done)).await.is_ok() {
            let _ = finished.await;
        }
        let writer = self.writer.lock().expect("writer handle").take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// True while the writer runs and no commit failed in the last `within`.
    pub fn appending(&self, within: Duration) -> bool {
        let failed = self
            .stats
            .last_failure
            .load(std::sync::atomic::Ordering::Relaxed);
        let recent = failed > 0
            && crate::clock::now_micros().saturating_sub(failed) < within.as_micros() as i64;
        !self.tx.is_closed() && !recent
    }

    /// The store, for readers.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The raw public key that verifies this log's checkpoints.
    pub fn public_key(&self) -> &[u8] {
        self.signer.public_key()
    }

    /// The key that signs checkpoints and export seals.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Verifies records `from..=to` (0 = start / head) and the checkpoints in them.
    pub async fn verify(&self, from: u64, to: u64) -> Result<VerifyAuditResponse, Error> {
        let store = self.store.clone();
        let key = self.public_key().to_vec();
        tokio::task::spawn_blocking(move || verify_store(&store, &key, from, to))
            .await
            .map_err(|e| Error::Audit(format!("verify: {e}")))?
    }
}

/// Verifies records `from..=to` of `store` against the trusted public key `key`.
pub fn verify_store(
    store: &Store,
    key: &[u8],
    from: u64,
    to: u64,
) -> Result<VerifyAuditResponse, Error> {
    let mut v = verify::Verifier::new(key, from);
    store.walk(from, to, |item| match item {
        Item::Record(r) => v.record(&r),
        Item::Checkpoint(c) => v.checkpoint(&c),
    })?;
    Ok(v.finish(false))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Bytes of a hex string (either case); `None` if it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
