//! lienthong's durable state, behind one interface: the audit log, the dossiers
//! with their sync outbox and dead letters, and the dossiers that arrive from the
//! national portal.
//!
//! [`Store`] is that interface; [`embedded`] implements it on one redb file (the
//! default: nothing to install). Nothing outside this crate names a storage engine.
//! Every write of a running gateway goes through one [`Writer`], which groups
//! concurrent requests into one transaction: audit records, the dossier changes they
//! describe, delivery outcomes, and the signed checkpoint that may close them.
//!
//! Invariants every store keeps, and that `tests/store.rs` checks on each:
//! - what [`Store::commit`] returns `Ok` for is durable: a crash after it loses none
//!   of it; a commit that fails leaves nothing of its batch;
//! - audit records are only appended, numbered 1, 2, 3 … without gaps;
//! - a dossier's revisions go 1, 2, 3 …, each change follows the status machine and
//!   names the revision it was made from ([`dossier::next`]); its outbox entry
//!   commits with it, and outbox numbers are never given twice.
//!
//! What a record *means* (its canonical bytes, the hash chain, the checkpoints'
//! signatures) is not this crate's business: the gateway's audit module completes
//! records through a [`Seal`] inside the transaction.
//!
//! Depends on the contract (`lienthong-proto`) only. It is the only crate that may
//! name a storage engine (a test in `integration-tests/tests/layout.rs` keeps it so).

#![forbid(unsafe_code)]

pub mod dossier;
pub mod embedded;
mod error;
#[cfg(feature = "forge")]
pub mod forge;
pub mod merkle;
pub mod postgres;
mod seal;
mod walk;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::Month;
use lienthong_proto::v1::{AuditRecord, Checkpoint, Dossier};

pub use dossier::{Applied, Change, Entry, Filter, Outcome, Refusal};
pub use error::Error;
pub use seal::{Seal, Unsealed};
pub use walk::Walk;
pub use writer::{Appended, Observe, Settings, Stats, Writer};

/// Where the audit log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last record's sequence number; 0 when empty.
    pub seq: u64,
    /// Its hash (zeros when empty).
    pub hash: [u8; 32],
    /// Its time, in microseconds since the Unix epoch.
    pub at: i64,
    /// The last record covered by a signed checkpoint.
    pub checkpoint: u64,
    /// The root of the Merkle tree over the records `1..=seq` ([`merkle`]: record
    /// `n` is the entry `n - 1`, and its leaf hash is that of the record's hash).
    pub root: merkle::Hash,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            seq: 0,
            hash: [0; 32],
            at: 0,
            checkpoint: 0,
            root: merkle::empty_root(),
        }
    }
}

/// One item of the audit log in order: what an export holds and a verification
/// reads.
// Items are moved one at a time through a walk, never stored in bulk: boxing the
// larger variant would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A record.
    Record(AuditRecord),
    /// A checkpoint, right after the record it signs.
    Checkpoint(Checkpoint),
}

/// A page of the audit log (see [`Store::audit_page`]).
#[derive(Debug, Default)]
pub struct Page {
    /// Records and checkpoints, in order.
    pub items: Vec<Item>,
    /// Where the next page starts, when there may be one.
    pub next: Option<u64>,
}

/// One group commit: records to append, the dossier changes and delivery outcomes
/// that commit with them, and whether a checkpoint is asked for.
#[derive(Debug, Default)]
pub struct Batch {
    /// Audit records, in order; their sequence numbers, times and hashes are set by
    /// the [`Seal`] inside the transaction.
    pub records: Vec<AuditRecord>,
    /// Dossier changes, applied in order, each with the index in `records` of the
    /// record that describes it.
    pub changes: Vec<(Option<usize>, Change)>,
    /// Delivery outcomes to record.
    pub deliveries: Vec<(Entry, Outcome)>,
    /// Ask the seal for a checkpoint even if none is due (the timer, a close).
    pub checkpoint: bool,
}

impl Batch {
    /// True when there is nothing to write unless a checkpoint is due.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.changes.is_empty() && self.deliveries.is_empty()
    }
}

/// What a commit did.
#[derive(Debug)]
pub struct Committed {
    /// Each change's result, in the batch's order.
    pub applied: Vec<Applied>,
    /// The checkpoint stored with the records, if one was due.
    pub checkpoint: Option<Checkpoint>,
    /// The log's head after the commit.
    pub head: Head,
    /// The records are durable, but readers find them only once given to
    /// [`Store::index`].
    pub deferred: bool,
}

/// The outbox at a glance, for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Entries waiting for delivery.
    pub waiting: u64,
    /// When the oldest waiting entry was queued (µs since the Unix epoch).
    pub oldest: Option<i64>,
    /// Dead letters waiting for an operator.
    pub dead: u64,
}

/// What one process sharing a store tells the others (and itself): on PostgreSQL
/// through `LISTEN`/`NOTIFY`, on the embedded store within the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Inbound dossiers were stored, numbered up to this.
    Inbound(u64),
    /// The cached records of this citizen are to be dropped ("" for every citizen).
    Purge(String),
}

/// Everything the gateway keeps durably. One implementation per engine; the gateway
/// holds an `Arc<dyn Store>` and never knows which.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which store this is, for logs and errors (never a secret).
    fn describe(&self) -> String;

    /// Commits `batch` in one transaction: the deliveries, then the changes (each
    /// sees the ones before it), then the records as `seal` completes them. Nothing
    /// of it is kept if it fails. Only the [`Writer`] calls it, from its own thread,
    /// one batch at a time; it may block that thread.
    async fn commit(
        &self,
        batch: &mut Batch,
        seal: &mut (dyn Seal + Send),
    ) -> Result<Committed, Error>;

    /// Hands the store the `records` of a commit that made them durable elsewhere
    /// ([`Committed::deferred`]: the embedded journal), to write where readers find
    /// them. The writer calls it after answering the commit's requests, before its
    /// next commit; the store writes them later, off the writer's thread, many
    /// batches at a time, and a reader meanwhile waits. When that write fails, the
    /// store keeps them and tries again. Nothing to do by default.
    fn index(&self, records: Vec<AuditRecord>) -> Result<(), Error> {
        let _ = records;
        Ok(())
    }

    /// Where the audit log ends now.
    async fn audit_head(&self) -> Result<Head, Error>;

    /// Up to `limit` records numbered `from..=to` (`to` = 0: to the end), each
    /// followed by the checkpoints signed at it. A checkpoint whose record is
    /// missing comes before the next record; on the page that ends the range, the
    /// checkpoints beyond its last record follow it (so a cut tail shows).
    async fn audit_page(&self, from: u64, to: u64, limit: usize) -> Result<Page, Error>;

    /// The first record the live log holds (those before it were archived and
    /// removed); one past the head when it holds none.
    async fn audit_first(&self) -> Result<u64, Error>;

    /// Removes up to `limit` of the oldest records numbered at most `upto`, with
    /// the checkpoints signed at them, once they are safely archived elsewhere.
    /// Never removes the last record (the chain continues from it). Returns how
    /// many records went; 0 when none is left to remove.
    async fn audit_remove(&self, upto: u64, limit: usize) -> Result<u64, Error>;

    /// The record `seq`, if present.
    async fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>, Error>;

    /// Up to `limit` records about `subject` (a personal ID, as recorded) numbered
    /// from `from` and below `below`, newest or oldest first, found through the
    /// subject index (kept in the commit that appends each record, and left with
    /// the records that are archived): the live log, without reading it.
    async fn audit_by_subject(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<AuditRecord>, Error>;

    /// The first checkpoint signed at or after the record `seq`, the one that
    /// covers it; none while the record is newer than the last checkpoint.
    async fn audit_checkpoint_covering(&self, seq: u64) -> Result<Option<Checkpoint>, Error>;

    /// The inclusion proof (RFC 9162) of the record `seq` in the Merkle tree of
    /// the first `size` records (record `n` is the tree's entry `n - 1`),
    /// innermost sibling first. Refused when `seq` is not in that tree or the
    /// tree is larger than the log's.
    async fn audit_inclusion(&self, seq: u64, size: u64) -> Result<Vec<merkle::Hash>, Error>;

    /// The consistency proof (RFC 9162) from the tree of the first `first`
    /// records to that of the first `second`, innermost first.
    async fn audit_consistency(&self, first: u64, second: u64) -> Result<Vec<merkle::Hash>, Error>;

    /// Keeps `line`, witness `witness`'s cosignature of the checkpoint signed at
    /// `seq` (replacing an earlier one of that witness for it), durably. The
    /// caller has checked it.
    async fn audit_cosign(&self, seq: u64, witness: &str, line: &str) -> Result<(), Error>;

    /// The cosignature lines kept for the checkpoint signed at `seq`, in witness
    /// name order.
    async fn audit_cosignatures(&self, seq: u64) -> Result<Vec<String>, Error>;

    /// The newest checkpoint cosigned by at least `quorum` witnesses, if any.
    async fn audit_cosigned(&self, quorum: usize) -> Result<Option<u64>, Error>;

    /// The first sequence number whose record is at or after `micros` (records are
    /// appended in time order); one past the head when there is none.
    async fn audit_seq_at(&self, micros: i64) -> Result<u64, Error>;

    /// The dossier `code`, if held.
    async fn dossier(&self, code: &str) -> Result<Option<Dossier>, Error>;

    /// Up to `limit` dossiers after the code `after`, in code order, that `filter`
    /// accepts; and whether more may follow.
    async fn dossiers(
        &self,
        after: &str,
        limit: usize,
        filter: &Filter,
    ) -> Result<(Vec<Dossier>, bool), Error>;

    /// Hands `each` the report fields ([`dossier::facts`]) of every dossier received
    /// in `month` (Vietnam time), in no set order, reading as it goes (a month may
    /// hold millions); returns how many. A dossier's facts outlive its archiving.
    async fn dossier_facts(
        &self,
        month: Month,
        each: &mut (dyn FnMut(Dossier) + Send),
    ) -> Result<u64, Error>;

    /// Replaces each dossier `stubs` names by its stub (a dossier with
    /// `archived_in` set) once its full record is archived: only while the dossier
    /// is closed (a final status, every revision delivered), at the stub's
    /// revision and not archived yet. Returns how many were replaced. The stub
    /// keeps the code taken and the revisions counting.
    async fn retire_dossiers(&self, stubs: &[Dossier]) -> Result<u64, Error>;

    /// Up to `limit` outbox entries numbered after `after`, in order.
    async fn outbox(&self, after: u64, limit: usize) -> Result<Vec<Entry>, Error>;

    /// How deep the outbox is.
    async fn outbox_depth(&self) -> Result<Depth, Error>;

    /// The dead letters: entries the portal refused for good, with its reason.
    async fn dead_letters(&self) -> Result<Vec<(Entry, String)>, Error>;

    /// Puts dead letters (of `code`, or all) back in the outbox, after everything
    /// queued, each dossier's held-back entries behind its dead one, in revision
    /// order; the dossiers go back to pending. Returns how many entries were
    /// requeued. Durable when it returns.
    async fn retry_dead(&self, code: Option<&str>) -> Result<u64, Error>;

    /// The portal's cursor after the last inbound dossier stored ("" before any).
    async fn inbound_cursor(&self) -> Result<String, Error>;

    /// Stores what one page of the portal's feed brought (new dossiers only) and the
    /// cursor after the page, durably and in one transaction; returns how many were
    /// new and the inbound head after it.
    async fn store_inbound(
        &self,
        dossiers: &[Dossier],
        cursor: &str,
    ) -> Result<(usize, u64), Error>;

    /// Up to `limit` inbound dossiers numbered after `after`.
    async fn inbound(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error>;

    /// The last inbound number given.
    async fn inbound_head(&self) -> Result<u64, Error>;

    /// Claims outbox work for `owner` until `lease` from now, by dossier (so that
    /// one dossier's revisions go out in order, from one process at a time): renews
    /// every dossier `owner` holds, takes dossiers no live owner holds, oldest
    /// waiting first, until it holds `limit`, and lets go of those with nothing left
    /// to deliver. A dossier held back by a dead letter is not claimed; a claim whose
    /// lease ran out (its owner died) may be taken. Returns the first waiting entry
    /// of every dossier `owner` holds, oldest first.
    async fn claim(&self, owner: &str, lease: Duration, limit: usize) -> Result<Vec<Entry>, Error>;

    /// Lets go of every dossier `owner` holds (a clean stop), so that others may take
    /// them at once.
    async fn release(&self, owner: &str) -> Result<(), Error>;

    /// Takes the lease `name` for `owner` until `lease` from now, or renews it;
    /// whether `owner` holds it (false while another live owner does).
    async fn lease(&self, name: &str, owner: &str, lease: Duration) -> Result<bool, Error>;

    /// Tells every process sharing this store, this one included, of `event`.
    /// Storing inbound dossiers announces itself.
    async fn announce(&self, event: Event) -> Result<(), Error>;

    /// The events announced from now on. A subscriber that falls behind may miss
    /// some (it is told it lagged); after a lost connection the store announces the
    /// inbound head again and catches up on purges.
    fn events(&self) -> tokio::sync::broadcast::Receiver<Event>;

    /// Whether the store answers now (for readiness).
    async fn ping(&self) -> Result<(), Error>;

    /// Makes everything committed durable and leaves nothing to recover at the next
    /// open (a clean stop). Reads still work afterwards.
    async fn close(&self) -> Result<(), Error>;
}

/// A shared store.
pub type Shared = Arc<dyn Store>;

/// The tree's entry index of the record `seq`; refused for 0 (no record has it).
pub(crate) fn entry_of(seq: u64) -> Result<u64, Error> {
    seq.checked_sub(1)
        .ok_or_else(|| Error::Refused("records are numbered from 1".into()))
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
