//! Reading the log for inspectors: filtered queries and sealed exports, the same
//! whether `AuditService` serves them or the CLI reads a stopped gateway's ledger.

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{AuditRecord, QueryAuditRequest};

use super::record::micros;
use super::{Item, Signer, Store};
use crate::Error;

/// Records `from_seq..=to_seq` (0 = open) narrowed to times `[from, to)`; records
/// are appended in time order, so a time bound is a sequence bound.
pub fn range(
    store: &Store,
    from_seq: u64,
    to_seq: u64,
    from: Option<&Timestamp>,
    to: Option<&Timestamp>,
) -> Result<(u64, u64), Error> {
    let mut lo = from_seq.max(1);
    let mut hi = if to_seq == 0 {
        store.head()?.seq
    } else {
        to_seq
    };
    if let Some(f) = from {
        lo = lo.max(store.seq_at(micros(Some(f)))?);
    }
    if let Some(t) = to {
        hi = hi.min(store.seq_at(micros(Some(t)))?.saturating_sub(1));
    }
    Ok((lo, hi))
}

/// Hands `f` each record up to `upto` (0: the head) matching every filter of `req`,
/// in order, until the limit or until `f` returns false.
pub fn query(
    store: &Store,
    req: &QueryAuditRequest,
    upto: u64,
    mut f: impl FnMut(AuditRecord) -> bool,
) -> Result<(), Error> {
    let (lo, hi) = range(
        store,
        req.after_seq.saturating_add(1),
        upto,
        req.from.as_ref(),
        req.to.as_ref(),
    )?;
    let mut sent = 0u32;
    store.walk(lo, hi.max(lo), |item| {
        let Item::Record(r) = item else { return true };
        if r.seq > hi {
            return false;
        }
        let matches = (req.subject_personal_id.is_empty()
            || r.subject_personal_id == req.subject_personal_id)
            && (req.agency_code.is_empty() || r.agency_code == req.agency_code)
            && (req.operation.is_empty() || r.operation == req.operation);
        if !matches {
            return true;
        }
        sent += 1;
        f(r) && (req.limit == 0 || sent < req.limit)
    })
}

/// Hands `f` records `lo..=hi` with the checkpoints among them, then a checkpoint
/// that `signer` signs now over the last record (the seal an export ends with).
pub fn export(
    store: &Store,
    signer: &Signer,
    lo: u64,
    hi: u64,
    mut f: impl FnMut(Item) -> bool,
) -> Result<(), Error> {
    let mut last = None;
    let mut going = true;
    store.walk(lo, hi.max(lo), |item| {
        if let Item::Record(r) = &item {
            if r.seq > hi {
                return false;
            }
            last = Some((r.seq, r.hash.clone()));
        }
        going = f(item);
        going
    })?;
    if let Some((seq, hash)) = last.filter(|_| going) {
        f(Item::Checkpoint(signer.sign(
            seq,
            &hash,
            crate::clock::now_micros(),
        )));
    }
    Ok(())
}
