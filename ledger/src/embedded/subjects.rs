//! The subject index of the embedded ledger: (personal ID as recorded, sequence
//! number) for every live record about a citizen, written in the transaction that
//! appends the record (so the journal's replay restores both) and removed with the
//! record when it is archived. A citizen's records are found without reading the
//! log.

use lienthong_proto::v1::AuditRecord;
use prost::Message;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::Context;
use super::audit::RECORDS;
use crate::Error;

/// (subject, seq) → nothing: the key is the index.
pub(super) const SUBJECTS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("audit_subjects");

/// Indexes `records` inside `txn`.
pub(super) fn index(txn: &WriteTransaction, records: &[AuditRecord]) -> Result<(), Error> {
    let mut table = txn.open_table(SUBJECTS).ctx("index audit records")?;
    for r in records.iter().filter(|r| !r.subject_personal_id.is_empty()) {
        table
            .insert((r.subject_personal_id.as_str(), r.seq), ())
            .ctx("index audit records")?;
    }
    Ok(())
}

/// Removes the entries of the records `first..=last` inside `txn`, before they go.
pub(super) fn unindex(txn: &WriteTransaction, first: u64, last: u64) -> Result<(), Error> {
    const CTX: &str = "remove archived records";
    let records = txn.open_table(RECORDS).ctx(CTX)?;
    let mut table = txn.open_table(SUBJECTS).ctx(CTX)?;
    for entry in records.range(first..=last).ctx(CTX)? {
        let (k, v) = entry.ctx(CTX)?;
        let r = AuditRecord::decode(v.value()).map_err(|e| Error::corrupt("audit record", e))?;
        if !r.subject_personal_id.is_empty() {
            table
                .remove((r.subject_personal_id.as_str(), k.value()))
                .ctx(CTX)?;
        }
    }
    Ok(())
}

/// Indexes every record held, inside `txn`: for a ledger from before the index.
pub(super) fn build(txn: &WriteTransaction) -> Result<u64, Error> {
    let records = txn.open_table(RECORDS).ctx("build the subject index")?;
    let mut table = txn.open_table(SUBJECTS).ctx("build the subject index")?;
    let mut built = 0;
    for entry in records.iter().ctx("build the subject index")? {
        let (k, v) = entry.ctx("build the subject index")?;
        let r = AuditRecord::decode(v.value()).map_err(|e| Error::corrupt("audit record", e))?;
        if !r.subject_personal_id.is_empty() {
            table
                .insert((r.subject_personal_id.as_str(), k.value()), ())
                .ctx("build the subject index")?;
            built += 1;
        }
    }
    Ok(built)
}

/// See [`crate::Store::audit_by_subject`].
pub(super) fn page(
    txn: &ReadTransaction,
    subject: &str,
    seqs: std::ops::Range<u64>,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<AuditRecord>, Error> {
    const CTX: &str = "read a subject's records";
    let table = txn.open_table(SUBJECTS).ctx(CTX)?;
    let records = txn.open_table(RECORDS).ctx(CTX)?;
    let mut out = Vec::new();
    let range = table
        .range((subject, seqs.start)..(subject, seqs.end))
        .ctx(CTX)?;
    let entries: Box<dyn Iterator<Item = _>> = match newest_first {
        true => Box::new(range.rev()),
        false => Box::new(range),
    };
    for entry in entries {
        let (k, _) = entry.ctx(CTX)?;
        let seq = k.value().1;
        // An entry without its record would be a bug; the record is what counts.
        if let Some(v) = records.get(seq).ctx(CTX)? {
            out.push(
                AuditRecord::decode(v.value()).map_err(|e| Error::corrupt("audit record", e))?,
            );
        }
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}
