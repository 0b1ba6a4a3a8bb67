//! The audit tables of the embedded ledger.
//!
//! `audit`: seq → the record (protobuf); `audit_checkpoints`: seq → the checkpoint
//! signed at that record. Records are appended by the writer, and removed from the
//! front only once archived.

use lienthong_proto::v1::{AuditRecord, Checkpoint};
use prost::Message;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::Context;
use crate::{Error, Head, Page};

pub(super) const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
pub(super) const CHECKPOINTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("audit_checkpoints");

pub(super) fn decode_record(bytes: &[u8]) -> Result<AuditRecord, Error> {
    AuditRecord::decode(bytes).map_err(|e| Error::corrupt("audit record", e))
}

fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint, Error> {
    Checkpoint::decode(bytes).map_err(|e| Error::corrupt("checkpoint", e))
}

fn micros(r: &AuditRecord) -> i64 {
    r.at.as_ref()
        .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// Where the log ends, as stored.
pub(super) fn head(txn: &ReadTransaction) -> Result<Head, Error> {
    let records = txn.open_table(RECORDS).ctx("read the audit head")?;
    let checkpoints = txn.open_table(CHECKPOINTS).ctx("read the audit head")?;
    let checkpoint = checkpoints
        .last()
        .ctx("read the audit head")?
        .map_or(0, |(k, _)| k.value());
    let Some((_, last)) = records.last().ctx("read the audit head")? else {
        return Ok(Head {
            checkpoint,
            ..Head::default()
        });
    };
    let r = decode_record(last.value())?;
    let hash = <[u8; 32]>::try_from(r.hash.as_slice())
        .map_err(|_| Error::Corrupt(format!("audit record {} has no valid hash", r.seq)))?;
    Ok(Head {
        seq: r.seq,
        hash,
        at: micros(&r),
        checkpoint,
        ..Head::default()
    })
}

/// Writes `records` and `checkpoint` in `txn`.
pub(super) fn insert(
    txn: &WriteTransaction,
    records: &[AuditRecord],
    checkpoint: Option<&Checkpoint>,
) -> Result<(), Error> {
    let mut table = txn.open_table(RECORDS).ctx("append audit records")?;
    let mut buf = Vec::with_capacity(512);
    for r in records {
        buf.clear();
        r.encode(&mut buf).expect("a Vec grows");
        table
            .insert(r.seq, buf.as_slice())
            .ctx("append audit records")?;
    }
    drop(table);
    super::subjects::index(txn, records)?;
    if let Some(c) = checkpoint {
        txn.open_table(CHECKPOINTS)
            .ctx("append audit records")?
            .insert(c.seq, c.encode_to_vec().as_slice())
            .ctx("append audit records")?;
    }
    Ok(())
}

/// The first checkpoint signed at or after the record `seq`: the one that covers it.
pub(super) fn covering(txn: &ReadTransaction, seq: u64) -> Result<Option<Checkpoint>, Error> {
    let table = txn.open_table(CHECKPOINTS).ctx("read a checkpoint")?;
    let first = table.range(seq..).ctx("read a checkpoint")?.next();
    first
        .map(|entry| {
            let (_, v) = entry.ctx("read a checkpoint")?;
            decode_checkpoint(v.value())
        })
        .transpose()
}

/// The record `seq`, if present.
pub(super) fn record(txn: &ReadTransaction, seq: u64) -> Result<Option<AuditRecord>, Error> {
    let table = txn.open_table(RECORDS).ctx("read an audit record")?;
    let value = table.get(seq).ctx("read an audit record")?;
    value.map(|v| decode_record(v.value())).transpose()
}

/// See [`crate::Store::audit_page`].
pub(super) fn page(txn: &ReadTransaction, from: u64, to: u64, limit: usize) -> Result<Page, Error> {
    let to = if to == 0 { u64::MAX } else { to };
    let records = txn.open_table(RECORDS).ctx("read the audit log")?;
    let checkpoints = txn.open_table(CHECKPOINTS).ctx("read the audit log")?;
    let mut page: Vec<AuditRecord> = Vec::with_capacity(limit.min(4096));
    for entry in records.range(from..=to).ctx("read the audit log")? {
        let (_, v) = entry.ctx("read the audit log")?;
        page.push(decode_record(v.value())?);
        if page.len() == limit {
            break;
        }
    }
    let (next, upto) = crate::walk::bounds(&page, limit, to);
    let mut signed = Vec::new();
    for entry in checkpoints.range(from..=upto).ctx("read the audit log")? {
        let (_, v) = entry.ctx("read the audit log")?;
        signed.push(decode_checkpoint(v.value())?);
    }
    Ok(crate::walk::assemble(page, signed, next))
}

/// See [`crate::Store::audit_first`].
pub(super) fn first(txn: &ReadTransaction, head: u64) -> Result<u64, Error> {
    let records = txn.open_table(RECORDS).ctx("read the audit log")?;
    let first = records.first().ctx("read the audit log")?;
    Ok(first.map_or(head + 1, |(k, _)| k.value()))
}

/// See [`crate::Store::audit_remove`]: removes in `txn` up to `limit` records
/// numbered at most `upto` and below `head`, with their checkpoints, keeping
/// their Merkle leaves.
pub(super) fn remove(
    txn: &WriteTransaction,
    upto: u64,
    head: u64,
    limit: usize,
) -> Result<u64, Error> {
    const CTX: &str = "remove archived records";
    let first = txn
        .open_table(RECORDS)
        .ctx(CTX)?
        .first()
        .ctx(CTX)?
        .map(|(k, _)| k.value());
    let Some(first) = first else {
        return Ok(0);
    };
    let last = upto
        .min(head.saturating_sub(1))
        .min(first.saturating_add(limit as u64).saturating_sub(1));
    if last < first {
        return Ok(0);
    }
    super::tree::keep_leaves(txn, first, last)?;
    super::subjects::unindex(txn, first, last)?;
    let mut records = txn.open_table(RECORDS).ctx(CTX)?;
    let mut gone = 0u64;
    records
        .retain_in(first..=last, |_, _| {
            gone += 1;
            false
        })
        .ctx(CTX)?;
    txn.open_table(CHECKPOINTS)
        .ctx(CTX)?
        .retain_in(..=last, |_, _| false)
        .ctx(CTX)?;
    Ok(gone)
}

/// See [`crate::Store::audit_seq_at`]: records from `first` to `head`.
pub(super) fn seq_at(
    txn: &ReadTransaction,
    micros_at: i64,
    first: u64,
    head: u64,
) -> Result<u64, Error> {
    let (mut lo, mut hi) = (first.max(1), head + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = record(txn, mid)?.map_or(i64::MAX, |r| micros(&r));
        if at < micros_at {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}
