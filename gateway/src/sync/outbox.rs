//! Dossiers and their outbox, in the ledger, written by one thread with group
//! commit.
//!
//! Invariants:
//! - a dossier change and its outbox entry commit in the same transaction, durably,
//!   before the caller hears of it: an acknowledged change is never lost and never
//!   left undelivered;
//! - revisions of a dossier go 1, 2, 3 … and its outbox entries carry them in that
//!   order; a change names the revision it was made from (optimistic concurrency),
//!   and follows the status machine of [`lienthong_proto::dossier_status`].

use std::sync::Arc;

use lienthong_proto::dossier_status;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Dossier, DossierStatus, SyncState, SyncStatus};
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::clock::now_micros;

const DOSSIERS: TableDefinition<&str, &[u8]> = TableDefinition::new("dossiers");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// The last outbox sequence number given: entries leave the outbox, their numbers
/// are never given again (a reader resumes after the highest it saw).
const SEQ: TableDefinition<&str, u64> = TableDefinition::new("outbox_seq");
/// Entries the portal refused for good: seq → the outbox value's length (4 bytes,
/// big-endian), the outbox value, the portal's reason.
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_dead");

/// Changes waiting for the writer at most.
const QUEUE: usize = 8192;
/// Changes per commit at most.
const MAX_BATCH: usize = 1024;

/// A change to the dossiers.
#[derive(Debug, Clone)]
pub enum Change {
    /// A dossier received in the province (validated at the edge).
    Submit(Box<Dossier>),
    /// A status change.
    Update {
        /// Which dossier.
        code: String,
        /// To what.
        status: DossierStatus,
        /// The revision the caller last saw.
        expected_revision: u64,
        /// When it happened.
        at: Timestamp,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Submitted twice.
    #[error("dossier {0} already exists")]
    Exists(String),
    /// No such dossier.
    #[error("no dossier {0}")]
    NotFound(String),
    /// Someone changed it since the caller looked.
    #[error("dossier {code} is at revision {current}, not {expected}: read it again")]
    StaleRevision {
        /// Which dossier.
        code: String,
        /// The revision the caller expected.
        expected: u64,
        /// The revision it has.
        current: u64,
    },
    /// The status machine does not allow it.
    #[error("dossier {code} cannot go from {} ({}) to {} ({})", *.from as i32, dossier_status::vietnamese(*.from), *.to as i32, dossier_status::vietnamese(*.to))]
    IllegalTransition {
        /// Which dossier.
        code: String,
        /// Its status.
        from: DossierStatus,
        /// The status asked for.
        to: DossierStatus,
    },
}

/// One entry of the outbox: a dossier as it was at one revision, to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its place in the outbox.
    pub seq: u64,
    /// When it was queued (µs since the Unix epoch).
    pub queued_at: i64,
    /// The dossier at that revision (without its sync state).
    pub dossier: Dossier,
}

impl Entry {
    /// The dossier's code.
    pub fn code(&self) -> &str {
        &self.dossier.dossier_code
    }

    /// The revision to deliver.
    pub fn revision(&self) -> u64 {
        self.dossier.revision
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The portal holds the revision (new or a redelivery).
    Delivered,
    /// It failed in a way that may pass later.
    Retry {
        /// Attempts so far.
        attempts: u32,
        /// Why.
        error: String,
    },
    /// The portal refused it for good: it goes to the dead letters with the reason.
    Dead {
        /// The portal's reason.
        reason: String,
    },
}

/// An outbox value: when it was queued (8 bytes, big-endian µs), then the snapshot.
fn encode_entry(queued_at: i64, snapshot: &Dossier) -> Vec<u8> {
    let mut v = queued_at.to_be_bytes().to_vec();
    snapshot.encode(&mut v).expect("a Vec grows");
    v
}

fn decode_entry(seq: u64, value: &[u8]) -> Option<Entry> {
    let queued_at = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let dossier = Dossier::decode(value.get(8..)?).ok()?;
    Some(Entry {
        seq,
        queued_at,
        dossier,
    })
}

fn decode_dead(seq: u64, value: &[u8]) -> Option<(Entry, String)> {
    let len = u32::from_be_bytes(value.get(..4)?.try_into().ok()?) as usize;
    let entry = decode_entry(seq, value.get(4..4 + len)?)?;
    let reason = String::from_utf8_lossy(value.get(4 + len..)?).into_owned();
    Some((entry, reason))
}

fn err(context: &'static str) -> impl Fn(redb::Error) -> Error {
    move |e| Error::Ledger(format!("dossier ledger {context}: {e}"))
}

type Reply = oneshot::Sender<Result<Result<Dossier, Refusal>, Error>>;

/// What the writer is asked to do.
enum Command {
    Apply(Box<(Change, Reply)>),
    /// Finish what is queued before, then stop.
    Close,
}

/// The dossiers and their outbox.
pub struct Outbox {
    db: Arc<Database>,
    /// Woken after every commit that added entries.
    changed: Arc<tokio::sync::Notify>,
    tx: mpsc::Sender<Command>,
    /// Joined on close.
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The audit writer, once delivery marks share its commits.
    shared_writer: std::sync::OnceLock<Arc<crate::audit::Log>>,
}

impl Outbox {
    /// The dossier tables of an open ledger (made if missing), with their writer.
    pub fn on(db: Arc<Database>) -> Result<Outbox, Error> {
        let e = err("create tables");
        let txn = db.begin_write().map_err(|x| e(x.into()))?;
        txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
        txn.open_table(OUTBOX).map_err(|x| e(x.into()))?;
        txn.open_table(DEAD).map_err(|x| e(x.into()))?;
        txn.open_table(SEQ).map_err(|x| e(x.into()))?;
        txn.commit().map_err(|x| e(x.into()))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer_db = db.clone();
        let changed = Arc::new(tokio::sync::Notify::new());
        let notify = changed.clone();
        let writer = std::thread::Builder::new()
            .name("dossier-writer".into())
            .spawn(move || write(&writer_db, rx, &notify))
            .map_err(|x| Error::Ledger(format!("start dossier writer: {x}")))?;
        Ok(Outbox {
            db,
            changed,
            tx,
            writer: std::sync::Mutex::new(Some(writer)),
            shared_writer: std::sync::OnceLock::new(),
        })
    }

    /// Resolves once entries were added since the last time it resolved.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Wakes the worker: entries were committed by another writer (see [`apply_in`]).
    pub fn notify(&self) {
        self.changed.notify_one();
    }

    /// Commits what is queued and stops the writer; changes after this fail.
    pub async fn close(&self) {
        let _ = self.tx.send(Command::Close).await;
        let writer = self.writer.lock().expect("writer handle").take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// Applies `change`; `Ok(Ok(dossier))` once it and its outbox entry are durable.
    pub async fn apply(&self, change: Change) -> Result<Result<Dossier, Refusal>, Error> {
        let (reply, answer) = oneshot::channel();
        let closed = || Error::Ledger("the dossier writer has stopped".into());
        self.tx
            .send(Command::Apply(Box::new((change, reply))))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// The dossier `code`, if held.
    pub fn get(&self, code: &str) -> Result<Option<Dossier>, Error> {
        let e = err("read");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
        let value = table.get(code).map_err(|x| e(x.into()))?;
        value
            .map(|v| {
                Dossier::decode(v.value())
                    .map_err(|x| Error::Ledger(format!("dossier {code}: {x}")))
            })
            .transpose()
    }

    /// Records how the delivery of `entry` went: delivered entries leave the
    /// outbox, dead ones move to the dead letters, and the dossier's sync state says
    /// so. Not fsynced on its own: if a crash loses it, the entry is delivered again
    /// and the portal, which deduplicates by (dossier, revision), ignores it.
    pub fn mark(&self, entry: &Entry, outcome: &Outcome) -> Result<(), Error> {
        let e = err("mark");
        let mut txn = self.db.begin_write().map_err(|x| e(x.into()))?;
        txn.set_durability(redb::Durability::None)
            .map_err(|x| Error::Ledger(format!("mark: {x}")))?;
        mark_in(&txn, entry, outcome)?;
        txn.commit().map_err(|x| e(x.into()))
    }

    /// Sends later delivery marks through the audit writer, into its commits.
    pub fn share_commits(&self, log: Arc<crate::audit::Log>) {
        let _ = self.shared_writer.set(log);
    }

    /// Records how a delivery went: in the audit writer's next commit when the
    /// commits are shared (no write transaction of its own), else on its own.
    pub async fn record_delivery(
        self: &Arc<Self>,
        entry: Entry,
        outcome: Outcome,
    ) -> Result<(), Error> {
        if let Some(log) = self.shared_writer.get() {
            return log
                .write(Box::new(move |txn| mark_in(txn, &entry, &outcome)))
                .await;
        }
        let outbox = self.clone();
        tokio::task::spawn_blocking(move || outbox.mark(&entry, &outcome))
            .await
            .map_err(|x| Error::Ledger(format!("mark: {x}")))?
    }
}

/// [`Outbox::mark`] inside `txn`.
fn mark_in(txn: &redb::WriteTransaction, entry: &Entry, outcome: &Outcome) -> Result<(), Error> {
    let e = err("mark");
    {
        let mut outbox = txn.open_table(OUTBOX).map_err(|x| e(x.into()))?;
        let mut dead = txn.open_table(DEAD).map_err(|x| e(x.into()))?;
        let mut dossiers = txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
        let current = dossiers
            .get(entry.code())
            .map_err(|x| e(x.into()))?
            .and_then(|v| Dossier::decode(v.value()).ok());
        let Some(mut dossier) = current else {
            return Ok(());
        };
        let mut sync = dossier.sync.take().unwrap_or_default();
        match outcome {
            Outcome::Delivered => {
                outbox.remove(entry.seq).map_err(|x| e(x.into()))?;
                sync.last_delivered_revision = sync.last_delivered_revision.max(entry.revision());
                sync.attempts = 0;
                sync.last_error.clear();
                sync.status = if sync.last_delivered_revision >= dossier.revision {
                    SyncStatus::Delivered
                } else {
                    SyncStatus::Pending
                } as i32;
            }
            Outcome::Retry { attempts, error } => {
                sync.attempts = *attempts;
                sync.last_error.clone_from(error);
            }
            Outcome::Dead { reason } => {
                outbox.remove(entry.seq).map_err(|x| e(x.into()))?;
                let kept = encode_entry(entry.queued_at, &entry.dossier);
                let mut value = (kept.len() as u32).to_be_bytes().to_vec();
                value.extend_from_slice(&kept);
                value.extend_from_slice(reason.as_bytes());
                dead.insert(entry.seq, value.as_slice())
                    .map_err(|x| e(x.into()))?;
                sync.status = SyncStatus::Dead as i32;
                sync.last_error.clone_from(reason);
            }
        }
        dossier.sync = Some(sync);
        dossiers
            .insert(entry.code(), dossier.encode_to_vec().as_slice())
            .map_err(|x| e(x.into()))?;
    }
    Ok(())
}

impl Outbox {
    /// Up to `limit` dossiers after the code `after`, in code order, that `keep`
    /// accepts; and whether more may follow.
    pub fn list(
        &self,
        after: &str,
        limit: usize,
        mut keep: impl FnMut(&Dossier) -> bool,
    ) -> Result<(Vec<Dossier>, bool), Error> {
        let e = err("list");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        let range = table
            .range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map_err(|x| e(x.into()))?;
        for item in range {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            let Ok(d) = Dossier::decode(v.value()) else {
                continue;
            };
            if !keep(&d) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(d);
        }
        Ok((out, false))
    }

    /// How many entries wait in the outbox, and when the oldest was queued (µs).
    pub fn depth(&self) -> Result<(u64, Option<i64>), Error> {
        let e = err("depth");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(OUTBOX).map_err(|x| e(x.into()))?;
        let len = redb::ReadableTableMetadata::len(&table).map_err(|x| e(x.into()))?;
        let oldest = table
            .first()
            .map_err(|x| e(x.into()))?
            .and_then(|(k, v)| decode_entry(k.value(), v.value()))
            .map(|entry| entry.queued_at);
        Ok((len, oldest))
    }

    /// How many dead letters wait for an operator.
    pub fn dead_count(&self) -> Result<u64, Error> {
        let e = err("dead letters");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(DEAD).map_err(|x| e(x.into()))?;
        redb::ReadableTableMetadata::len(&table).map_err(|x| e(x.into()))
    }

    /// The dead letters: entries the portal refused for good, with its reason.
    pub fn dead_letters(&self) -> Result<Vec<(Entry, String)>, Error> {
        let e = err("dead letters");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(DEAD).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|x| e(x.into()))? {
            let (k, v) = item.map_err(|x| e(x.into()))?;
            if let Some(dead) = decode_dead(k.value(), v.value()) {
                out.push(dead);
            }
        }
        Ok(out)
    }

    /// Puts dead letters (of `code`, or all) back in the outbox, after everything
    /// queued, each dossier's held-back entries behind its dead one, in order; the
    /// dossiers go back to pending. Returns how many entries were requeued.
    pub fn retry_dead(&self, code: Option<&str>) -> Result<u64, Error> {
        let e = err("retry");
        let txn = self.db.begin_write().map_err(|x| e(x.into()))?;
        let mut requeued = 0;
        {
            let mut dead = txn.open_table(DEAD).map_err(|x| e(x.into()))?;
            let mut outbox = txn.open_table(OUTBOX).map_err(|x| e(x.into()))?;
            let mut dossiers = txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
            let mut counter = txn.open_table(SEQ).map_err(|x| e(x.into()))?;
            let mut seq = counter
                .get("last")
                .map_err(|x| e(x.into()))?
                .map_or(0, |v| v.value());
            let mut letters = Vec::new();
            for item in dead.iter().map_err(|x| e(x.into()))? {
                let (k, v) = item.map_err(|x| e(x.into()))?;
                if let Some((entry, _)) = decode_dead(k.value(), v.value())
                    && code.is_none_or(|c| c == entry.code())
                {
                    letters.push(entry);
                }
            }
            // Per dossier: its dead entries, then what waits behind them (one pass over
            // the outbox for all of them).
            let mut held: std::collections::BTreeMap<String, Vec<Entry>> =
                std::collections::BTreeMap::new();
            for letter in letters {
                held.entry(letter.code().to_owned())
                    .or_default()
                    .push(letter);
            }
            for item in outbox.iter().map_err(|x| e(x.into()))? {
                let (k, v) = item.map_err(|x| e(x.into()))?;
                if let Some(entry) = decode_entry(k.value(), v.value())
                    && let Some(entries) = held.get_mut(entry.code())
                {
                    entries.push(entry);
                }
            }
            for (code, mut entries) in held {
                entries.sort_by_key(Entry::revision);
                for entry in entries {
                    dead.remove(entry.seq).map_err(|x| e(x.into()))?;
                    outbox.remove(entry.seq).map_err(|x| e(x.into()))?;
                    seq += 1;
                    outbox
                        .insert(
                            seq,
                            encode_entry(entry.queued_at, &entry.dossier).as_slice(),
                        )
                        .map_err(|x| e(x.into()))?;
                    requeued += 1;
                }
                let current = dossiers
                    .get(code.as_str())
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| Dossier::decode(v.value()).ok());
                if let Some(mut d) = current {
                    let mut sync = d.sync.take().unwrap_or_default();
                    sync.status = SyncStatus::Pending as i32;
                    sync.attempts = 0;
                    sync.last_error.clear();
                    d.sync = Some(sync);
                    dossiers
                        .insert(code.as_str(), d.encode_to_vec().as_slice())
                        .map_err(|x| e(x.into()))?;
                }
            }
            counter.insert("last", seq).map_err(|x| e(x.into()))?;
        }
        txn.commit().map_err(|x| e(x.into()))?;
        if requeued > 0 {
            self.changed.notify_one();
        }
        Ok(requeued)
    }

    /// Up to `limit` outbox entries after `after`, in order.
    pub fn pending(&self, after: u64, limit: usize) -> Result<Vec<Entry>, Error> {
        let e = err("read outbox");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(OUTBOX).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in table
            .range(after.saturating_add(1)..)
            .map_err(|x| e(x.into()))?
        {
            let (k, v) = item.map_err(|x| e(x.into()))?;
            if let Some(entry) = decode_entry(k.value(), v.value()) {
                out.push(entry);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}

/// The writer: batches of changes, one durable commit each.
fn write(db: &Database, mut rx: mpsc::Receiver<Command>, changed: &tokio::sync::Notify) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closing = false;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Apply(applied) => batch.push(*applied),
                Command::Close => {
                    closing = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if batch.is_empty() {
            if closing {
                break;
            }
            continue;
        }
        match commit(db, &batch) {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
                changed.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "dossier commit failed; the changes in it are refused");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(Error::Ledger(e.to_string())));
                }
            }
        }
        if closing {
            break;
        }
    }
}

/// Applies a batch in one transaction; each change sees the ones before it.
fn commit(
    db: &Database,
    batch: &[(Change, Reply)],
) -> Result<Vec<Result<Dossier, Refusal>>, Error> {
    let e = err("write");
    let txn = db.begin_write().map_err(|x| e(x.into()))?;
    let results = batch
        .iter()
        .map(|(change, _)| apply_in(&txn, change))
        .collect::<Result<Vec<_>, _>>()?;
    txn.commit().map_err(|x| e(x.into()))?;
    Ok(results)
}

/// Applies `change` inside `txn` (the caller commits): the dossier and, unless the
/// rules refuse it, its outbox entry under the next sequence number. The audit
/// writer calls this too, so that a change and its audit record share one commit.
pub fn apply_in(
    txn: &redb::WriteTransaction,
    change: &Change,
) -> Result<Result<Dossier, Refusal>, Error> {
    let e = err("write");
    let mut dossiers = txn.open_table(DOSSIERS).map_err(|x| e(x.into()))?;
    let code = match change {
        Change::Submit(d) => d.dossier_code.as_str(),
        Change::Update { code, .. } => code.as_str(),
    };
    let current = dossiers
        .get(code)
        .map_err(|x| e(x.into()))?
        .and_then(|v| Dossier::decode(v.value()).ok());
    let next = match next(change, current) {
        Ok(d) => d,
        Err(refusal) => return Ok(Err(refusal)),
    };
    dossiers
        .insert(code, next.encode_to_vec().as_slice())
        .map_err(|x| e(x.into()))?;
    let mut counter = txn.open_table(SEQ).map_err(|x| e(x.into()))?;
    let seq = counter
        .get("last")
        .map_err(|x| e(x.into()))?
        .map_or(0, |v| v.value())
        + 1;
    counter.insert("last", seq).map_err(|x| e(x.into()))?;
    let snapshot = Dossier {
        sync: None,
        ..next.clone()
    };
    txn.open_table(OUTBOX)
        .map_err(|x| e(x.into()))?
        .insert(seq, encode_entry(now_micros(), &snapshot).as_slice())
        .map_err(|x| e(x.into()))?;
    Ok(Ok(next))
}

/// The dossier after `change`, or why not.
fn next(change: &Change, current: Option<Dossier>) -> Result<Dossier, Refusal> {
    let pending = |last_delivered_revision| {
        Some(SyncState {
            status: SyncStatus::Pending as i32,
            attempts: 0,
            last_error: String::new(),
            last_delivered_revision,
        })
    };
    match (change, current) {
        (Change::Submit(d), Some(_)) => Err(Refusal::Exists(d.dossier_code.clone())),
        (Change::Submit(d), None) => Ok(Dossier {
            revision: 1,
            sync: pending(0),
            ..(**d).clone()
        }),
        (Change::Update { code, .. }, None) => Err(Refusal::NotFound(code.clone())),
        (
            Change::Update {
                code,
                status,
                expected_revision,
                at,
            },
            Some(d),
        ) => {
            if d.revision != *expected_revision {
                return Err(Refusal::StaleRevision {
                    code: code.clone(),
                    expected: *expected_revision,
                    current: d.revision,
                });
            }
            let from = DossierStatus::try_from(d.status).unwrap_or_default();
            if !dossier_status::allowed(from, *status) {
                return Err(Refusal::IllegalTransition {
                    code: code.clone(),
                    from,
                    to: *status,
                });
            }
            // A dossier held back by a dead letter stays so until an operator acts.
            let sync = match d.sync.clone() {
                Some(s) if s.status == SyncStatus::Dead as i32 => Some(s),
                s => pending(s.map_or(0, |s| s.last_delivered_revision)),
            };
            let mut next = Dossier {
                status: *status as i32,
                revision: d.revision + 1,
                sync,
                ..d
            };
            match status {
                DossierStatus::Processed
                | DossierStatus::Rejected
                | DossierStatus::Withdrawn
                | DossierStatus::Stopped => next.completed_at = Some(*at),
                DossierStatus::ResultReturned => next.returned_at = Some(*at),
                _ => {}
            }
            Ok(next)
        }
    }
}

#[cfg(test)]
mod tests;
