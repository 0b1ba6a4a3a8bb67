//! The tamper-evident audit log: one record per request, granted or not.
//!
//! Invariants:
//! - a record is durable (the ledger's [`Writer`] has committed it) before the
//!   response it describes is sent; if it cannot be written, the request fails and
//!   nothing is released;
//! - records form a hash chain (`hash = SHA-256(prev_hash ‖ canonical record)`), so
//!   a record changed, removed, reordered or slipped in breaks it at its sequence
//!   number ([`chain`] completes each record inside the writer's transaction);
//! - every `checkpoint_every` records, every `checkpoint_interval` and at shutdown
//!   the head is signed (Ed25519), so a cut tail or a rewritten chain shows.
//!
//! Where the records are kept is the ledger's business (`lienthong-ledger`); this
//! module owns what they mean. The layout of the records and checkpoints is in
//! `docs/AUDIT.md`.

pub mod archive;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod prove;
pub mod query;
pub mod record;
pub mod signed_note;
pub mod verify;
pub mod witnesses;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lienthong_ledger::embedded::Embedded;
use lienthong_ledger::{Applied, Change, Store, Walk, Writer};
use lienthong_proto::v1::{AuditRecord, VerifyAuditResponse};

pub use checkpoint::Signer;
pub use lienthong_ledger::{Head, Item};

use crate::Error;

/// When checkpoints are signed, and how large a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Sign a checkpoint after this many records.
    pub checkpoint_every: u64,
    /// Requests per commit at most.
    pub max_batch: usize,
}

/// The audit log of a running gateway.
pub struct Log {
    /// For readers (queries, verification, export).
    store: Arc<dyn Store>,
    /// The ledger's one writer, shared with the dossiers.
    writer: Arc<Writer>,
    /// Signs checkpoints and export seals.
    signer: Arc<Signer>,
    /// The disk under the data dir: nothing is recorded while it is full.
    disk: std::sync::OnceLock<Arc<crate::disk::Disk>>,
    /// Held while archiving or expiring: one run at a time.
    archiving: tokio::sync::Mutex<()>,
    /// Held shared by readers of archives and live store together (queries, whole
    /// verification), and exclusively by each removal of archived records: a
    /// reader never misses records moved while it reads, and waits at most for
    /// one short removal.
    readers: Arc<tokio::sync::RwLock<()>>,
    /// How this log is archived.
    plan: std::sync::OnceLock<archive::Plan>,
    /// Its witnesses.
    witnesses: std::sync::OnceLock<witnesses::Witnesses>,
    /// When it was opened (µs since the Unix epoch).
    opened: i64,
}

impl Log {
    /// Opens an embedded ledger at `path` with a writer of its own (tests and
    /// benchmarks); must run inside a tokio runtime.
    pub fn open(
        path: &Path,
        signer: Signer,
        settings: Settings,
        checkpoint_interval: Duration,
    ) -> Result<Log, Error> {
        let store: Arc<dyn Store> = Embedded::open(path).map_err(Error::audit)?;
        Log::with_store(store, signer, settings, checkpoint_interval)
    }

    /// The log in `store` with a writer of its own (tests and benchmarks); must run
    /// inside a tokio runtime.
    pub fn with_store(
        store: Arc<dyn Store>,
        signer: Signer,
        settings: Settings,
        checkpoint_interval: Duration,
    ) -> Result<Log, Error> {
        let signer = Arc::new(signer);
        let writer = Writer::start(
            store.clone(),
            Box::new(chain::Chain::new(signer.clone(), settings.checkpoint_every)),
            lienthong_ledger::Settings {
                max_batch: settings.max_batch,
            },
            Arc::new(()),
        )
        .map_err(Error::audit)?;
        Ok(Log::on(
            store,
            Arc::new(writer),
            signer,
            checkpoint_interval,
        ))
    }

    /// The log in `store`, written by `writer` (whose seal is a [`chain::Chain`] of
    /// `signer`); asks for a checkpoint every `checkpoint_interval`. Must run inside
    /// a tokio runtime.
    pub fn on(
        store: Arc<dyn Store>,
        writer: Arc<Writer>,
        signer: Arc<Signer>,
        checkpoint_interval: Duration,
    ) -> Log {
        let ticker = Arc::downgrade(&writer);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(checkpoint_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(writer) = ticker.upgrade() else {
                    break;
                };
                if !writer.checkpoint().await {
                    break;
                }
            }
        });
        Log {
            store,
            writer,
            signer,
            disk: std::sync::OnceLock::new(),
            archiving: tokio::sync::Mutex::new(()),
            readers: Arc::default(),
            plan: std::sync::OnceLock::new(),
            witnesses: std::sync::OnceLock::new(),
            opened: crate::clock::now_micros(),
        }
    }

    /// Checks that the last record matches its hash, and says where the log ends.
    pub async fn check_head(&self) -> Result<(), Error> {
        let head = self.store.audit_head().await.map_err(Error::audit)?;
        if let Some(last) = self
            .store
            .audit_record(head.seq)
            .await
            .map_err(Error::audit)?
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
        Ok(())
    }

    /// Refuses to record while `disk` is full (set once, at start).
    pub fn watch_disk(&self, disk: Arc<crate::disk::Disk>) {
        let _ = self.disk.set(disk);
    }

    /// The reason nothing may be recorded now, if there is one.
    fn room(&self) -> Result<(), Error> {
        match self.disk.get().and_then(|d| d.refusal()) {
            Some(why) => Err(Error::DiskFull(why)),
            None => Ok(()),
        }
    }

    /// Appends `record` (its seq, time and hashes are set by the writer) and returns
    /// its sequence number once it is durable.
    pub async fn append(&self, record: AuditRecord) -> Result<u64, Error> {
        self.room()?;
        let appended = self
            .writer
            .append(Some(record), None)
            .await
            .map_err(Error::audit)?;
        Ok(appended.seq)
    }

    /// Appends `record` with a dossier `change` in one transaction: the change is
    /// durable exactly when its record is, and the record says what the change
    /// became. Returns the record's number and the change's result.
    pub async fn append_change(
        &self,
        record: AuditRecord,
        change: Change,
    ) -> Result<(u64, Applied), Error> {
        self.room()?;
        let appended = self
            .writer
            .append(Some(record), Some(change))
            .await
            .map_err(Error::audit)?;
        let applied = appended
            .applied
            .ok_or_else(|| Error::Audit("the change was not applied".into()))?;
        Ok((appended.seq, applied))
    }

    /// Signs a last checkpoint and stops the writer; appends after this fail.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// True while the writer runs and no commit failed in the last `within`.
    pub fn appending(&self, within: Duration) -> bool {
        self.writer.healthy(within)
    }

    /// The store, for readers.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The writer's counters.
    pub fn stats(&self) -> &lienthong_ledger::Stats {
        self.writer.stats()
    }

    /// The raw public key that verifies this log's checkpoints.
    pub fn public_key(&self) -> &[u8] {
        self.signer.public_key()
    }

    /// The key that signs checkpoints and export seals.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Verifies records `from..=to` (0 = start / head) and the checkpoints in them;
    /// the whole log, archives included, when both are 0.
    pub async fn verify(&self, from: u64, to: u64) -> Result<VerifyAuditResponse, Error> {
        // Not while archived records are removed: that would look like gaps.
        let _quiet = self.quiet().await;
        verify_store(
            self.store.clone(),
            self.public_key(),
            from,
            to,
            self.archives(),
        )
        .await
    }

    /// Holds removals of archived records off until dropped: a reader of
    /// archives and live store together would otherwise miss the records moved
    /// while it reads.
    pub async fn quiet(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.readers.clone().read_owned().await
    }

    /// Waits until no reader of archives and live store reads, and holds them off
    /// until dropped (one removal of archived records).
    pub(crate) async fn removing(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.readers.write().await
    }

    /// Keeps the cosignatures of `witnesses` (set once, at start).
    pub fn witnessed_by(&self, witnesses: witnesses::Witnesses) {
        let _ = self.witnesses.set(witnesses);
    }

    /// Its witnesses (none unless configured).
    pub fn witnesses(&self) -> &witnesses::Witnesses {
        static NONE: std::sync::OnceLock<witnesses::Witnesses> = std::sync::OnceLock::new();
        self.witnesses
            .get()
            .unwrap_or_else(|| NONE.get_or_init(witnesses::Witnesses::default))
    }

    /// How its witnesses keep up, when it has any.
    pub async fn witnessed(&self) -> Result<Option<witnesses::Witnessed>, Error> {
        self.witnesses()
            .keeping_up(&*self.store, self.opened)
            .await
            .map_err(Error::audit)
    }

    /// Archives this log as `plan` says (set once, at start).
    pub fn archive_as(&self, plan: archive::Plan) {
        let _ = self.plan.set(plan);
    }

    /// How this log is archived, if it is.
    pub fn plan(&self) -> Option<&archive::Plan> {
        self.plan.get()
    }

    /// Where this log's archives are, if it has any.
    pub fn archives(&self) -> Option<&Path> {
        self.plan.get().map(|p| p.settings.dir.as_path())
    }
}

/// Verifies records `from..=to` of `store` against the trusted public key `key`:
/// with both 0, the whole log, the archives in `archives` first (see
/// [`archive::check`]); otherwise that range of the live store.
pub async fn verify_store(
    store: Arc<dyn Store>,
    key: &[u8],
    from: u64,
    to: u64,
    archives: Option<&Path>,
) -> Result<VerifyAuditResponse, Error> {
    if from == 0 && to == 0 {
        return archive::check::check(store, archives, key).await;
    }
    let first = store.audit_first().await.map_err(Error::audit)?;
    let from = from.max(first);
    let mut v = verify::Verifier::new(key, from);
    Walk::new(store, from, to)
        .each(|item| match item {
            Item::Record(r) => v.record(&r),
            Item::Checkpoint(c) => v.checkpoint(&c),
        })
        .await
        .map_err(Error::audit)?;
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
