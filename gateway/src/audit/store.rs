//! The audit tables in redb (`ledger.redb` under the data dir).
//!
//! `audit`: seq → the record (protobuf), `audit_checkpoints`: seq → the checkpoint
//! signed at that record. Records are only ever appended, by the one writer; every
//! commit is durable (redb fsyncs it) before any request it carries is answered.
//! Readers run beside the writer on their own snapshots.

use std::path::Path;
use std::sync::Arc;

use lienthong_proto::v1::{AuditRecord, Checkpoint};
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::record::{GENESIS, micros};
use crate::Error;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_checkpoints");

/// Records read per snapshot while walking the log.
const PAGE: usize = 512;

/// Where the log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last record's sequence number; 0 when empty.
    pub seq: u64,
    /// Its hash ([`GENESIS`] when empty).
    pub hash: [u8; 32],
    /// Its time, in microseconds.
    pub at: i64,
    /// The last record covered by a signed checkpoint.
    pub checkpoint: u64,
}

/// One item of a walk: what an export holds and a verification reads.
// Items are moved one at a time through a walk, never stored in bulk: boxing the
// larger variant would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Item {
    /// A record.
    Record(AuditRecord),
    /// A checkpoint, right after the record it signs.
    Checkpoint(Checkpoint),
}

/// The audit tables of one ledger file.
pub struct Store {
    db: Arc<Database>,
}

fn err(context: &'static str) -> impl Fn(redb::Error) -> Error {
    move |e| Error::Audit(format!("{context}: {e}"))
}

impl Store {
    /// Opens (or creates) the ledger at `path` and its audit tables.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Store::on(crate::ledger::open(path)?)
    }

    /// The audit tables of an open ledger (made if missing).
    pub fn on(db: Arc<Database>) -> Result<Store, Error> {
        let txn = db
            .begin_write()
            .map_err(|e| err("create tables")(e.into()))?;
        txn.open_table(RECORDS)
            .map_err(|e| err("create tables")(e.into()))?;
        txn.open_table(CHECKPOINTS)
            .map_err(|e| err("create tables")(e.into()))?;
        txn.commit().map_err(|e| err("create tables")(e.into()))?;
        Ok(Store { db })
    }

    /// Where the log ends now.
    pub fn head(&self) -> Result<Head, Error> {
        let e = err("read head");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let records = txn.open_table(RECORDS).map_err(|x| e(x.into()))?;
        let checkpoints = txn.open_table(CHECKPOINTS).map_err(|x| e(x.into()))?;
        let checkpoint = checkpoints
            .last()
            .map_err(|x| e(x.into()))?
            .map_or(0, |(k, _)| k.value());
        let Some((_, last)) = records.last().map_err(|x| e(x.into()))? else {
            return Ok(Head {
                seq: 0,
                hash: GENESIS,
                at: 0,
                checkpoint,
            });
        };
        let r = decode_record(last.value())?;
        let mut hash = [0; 32];
        if r.hash.len() != 32 {
            return Err(Error::Audit(format!("record {} has no valid hash", r.seq)));
        }
        hash.copy_from_slice(&r.hash);
        Ok(Head {
            seq: r.seq,
            hash,
            at: micros(r.at.as_ref()),
            checkpoint,
        })
    }

    /// Appends records (and a checkpoint) in one durable transaction.
    pub fn append(
        &self,
        records: &[AuditRecord],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<(), Error> {
        let mut records = records.to_vec();
        self.append_with(&mut records, true, |_, _| Ok(checkpoint.cloned()))
            .map(drop)
    }

    /// Appends `records` in one transaction after `prepare` has run in it: it may
    /// write other tables and complete the records, and returns the checkpoint to
    /// store with them, if any. Nothing is written if it fails. The commit is
    /// durable (fsynced) if `durable`; otherwise readers see it at once, and it
    /// becomes durable with the next durable commit ([`Store::settle`]): until
    /// then the journal holds it.
    pub fn append_with<F>(
        &self,
        records: &mut [AuditRecord],
        durable: bool,
        prepare: F,
    ) -> Result<Option<Checkpoint>, Error>
    where
        F: FnOnce(&redb::WriteTransaction, &mut [AuditRecord]) -> Result<Option<Checkpoint>, Error>,
    {
        let e = err("append");
        let mut txn = self.db.begin_write().map_err(|x| e(x.into()))?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|x| e(redb::Error::from(x)))?;
        }
        let checkpoint = prepare(&txn, records)?;
        let checkpoint = checkpoint.as_ref();
        {
            let mut table = txn.open_table(RECORDS).map_err(|x| e(x.into()))?;
            let mut buf = Vec::with_capacity(512);
            for r in records {
                buf.clear();
                r.encode(&mut buf).expect("a Vec grows");
                table
                    .insert(r.seq, buf.as_slice())
                    .map_err(|x| e(x.into()))?;
            }
            if let Some(c) = checkpoint {
                let mut table = txn.open_table(CHECKPOINTS).map_err(|x| e(x.into()))?;
                table
                    .insert(c.seq, c.encode_to_vec().as_slice())
                    .map_err(|x| e(x.into()))?;
            }
        }
        txn.commit().map_err(|x| e(x.into()))?;
        Ok(checkpoint.cloned())
    }

    /// Makes every commit before it durable, with one durable commit of nothing.
    pub fn settle(&self) -> Result<(), Error> {
        let e = err("settle");
        let txn = self.db.begin_write().map_err(|x| e(x.into()))?;
        txn.commit().map_err(|x| e(x.into()))
    }

    /// Up to `limit` records with a sequence number above `after`.
    pub fn records(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        let e = err("read records");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(RECORDS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for entry in table
            .range(after.saturating_add(1)..)
            .map_err(|x| e(x.into()))?
        {
            let (_, v) = entry.map_err(|x| e(x.into()))?;
            out.push(decode_record(v.value())?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// The record `seq`, if present.
    pub fn record(&self, seq: u64) -> Result<Option<AuditRecord>, Error> {
        let e = err("read record");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(RECORDS).map_err(|x| e(x.into()))?;
        let value = table.get(seq).map_err(|x| e(x.into()))?;
        value.map(|v| decode_record(v.value())).transpose()
    }

    /// Checkpoints signed at records `from..=to`, in order.
    pub fn checkpoints(&self, from: u64, to: u64) -> Result<Vec<Checkpoint>, Error> {
        let e = err("read checkpoints");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(CHECKPOINTS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for entry in table.range(from..=to).map_err(|x| e(x.into()))? {
            let (_, v) = entry.map_err(|x| e(x.into()))?;
            out.push(
                Checkpoint::decode(v.value())
                    .map_err(|x| Error::Audit(format!("checkpoint: {x}")))?,
            );
        }
        Ok(out)
    }

    /// The first sequence number whose record is at or after `micros` (records are
    /// appended in time order); one past the head when none is.
    pub fn seq_at(&self, micros_at: i64) -> Result<u64, Error> {
        let head = self.head()?.seq;
        let (mut lo, mut hi) = (1, head + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = self
                .record(mid)?
                .map_or(i64::MAX, |r| micros(r.at.as_ref()));
            if at < micros_at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Walks records `from..=to` with the checkpoints among them, each checkpoint
    /// right after the record it signs; with `to` = 0, to the head and then every
    /// checkpoint beyond it (so a cut tail shows). Stops when `f` returns false.
    pub fn walk(&self, from: u64, to: u64, mut f: impl FnMut(Item) -> bool) -> Result<(), Error> {
        let from = from.max(1);
        let mut checkpoints = self
            .checkpoints(from, if to == 0 { u64::MAX } else { to })?
            .into_iter()
            .peekable();
        let mut after = from - 1;
        loop {
            let page = self.records(after, PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in page {
                if to != 0 && r.seq > to {
                    break;
                }
                let seq = r.seq;
                // A checkpoint whose record never came (a gap) goes before the next one.
                while let Some(c) = checkpoints.next_if(|c| c.seq < seq) {
                    if !f(Item::Checkpoint(c)) {
                        return Ok(());
                    }
                }
                if !f(Item::Record(r)) {
                    return Ok(());
                }
                while let Some(c) = checkpoints.next_if(|c| c.seq == seq) {
                    if !f(Item::Checkpoint(c)) {
                        return Ok(());
                    }
                }
            }
            if to != 0 && after >= to {
                break;
            }
        }
        for c in checkpoints {
            if !f(Item::Checkpoint(c)) {
                break;
            }
        }
        Ok(())
    }
}

fn decode_record(bytes: &[u8]) -> Result<AuditRecord, Error> {
    AuditRecord::decode(bytes).map_err(|e| Error::Audit(format!("undecodable record: {e}")))
}
