//! The dossier tables of the embedded ledger: the dossiers, their outbox, its
//! sequence counter and the dead letters. What a change or an outcome does is
//! decided in [`crate::dossier`]; this file keeps the bytes.

use std::collections::BTreeMap;

use lienthong_proto::v1::Dossier;
use prost::Message;
use redb::{
    ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use super::{Context, facts};
use crate::dossier::{self, Applied, Change, Entry, Filter, Outcome};
use crate::{Depth, Error};

pub(super) const DOSSIERS: TableDefinition<&str, &[u8]> = TableDefinition::new("dossiers");
pub(super) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// The last outbox sequence number given: entries leave the outbox, their numbers
/// are never given again (a reader resumes after the highest it saw).
pub(super) const SEQ: TableDefinition<&str, u64> = TableDefinition::new("outbox_seq");
/// Entries the portal refused for good: seq → the outbox value's length (4 bytes,
/// big-endian), the outbox value, the portal's reason.
pub(super) const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_dead");

/// An outbox value: when it was queued (8 bytes, big-endian µs), then the snapshot.
fn encode_entry(queued_at: i64, snapshot: &Dossier) -> Vec<u8> {
    let mut v = queued_at.to_be_bytes().to_vec();
    snapshot.encode(&mut v).expect("a Vec grows");
    v
}

pub(super) fn decode_entry(seq: u64, value: &[u8]) -> Option<Entry> {
    let queued_at = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let dossier = Dossier::decode(value.get(8..)?).ok()?;
    Some(Entry {
        seq,
        queued_at,
        dossier,
    })
}

pub(super) fn decode_dead(seq: u64, value: &[u8]) -> Option<(Entry, String)> {
    let len = u32::from_be_bytes(value.get(..4)?.try_into().ok()?) as usize;
    let entry = decode_entry(seq, value.get(4..4 + len)?)?;
    let reason = String::from_utf8_lossy(value.get(4 + len..)?).into_owned();
    Some((entry, reason))
}

pub(super) fn decode_dossier(code: &str, bytes: &[u8]) -> Result<Dossier, Error> {
    Dossier::decode(bytes).map_err(|e| Error::corrupt(&format!("dossier {code}"), e))
}

/// Applies `change` inside `txn`: the dossier and, unless the rules refuse it, its
/// outbox entry under the next sequence number.
pub(super) fn apply(txn: &WriteTransaction, change: &Change, now: i64) -> Result<Applied, Error> {
    let mut dossiers = txn.open_table(DOSSIERS).ctx("write a dossier")?;
    let code = change.code();
    let current = dossiers
        .get(code)
        .ctx("write a dossier")?
        .map(|v| decode_dossier(code, v.value()))
        .transpose()?;
    let next = match dossier::next(change, current, now) {
        Ok(d) => d,
        Err(refusal) => return Ok(Err(refusal)),
    };
    dossiers
        .insert(code, next.encode_to_vec().as_slice())
        .ctx("write a dossier")?;
    facts::keep(txn, &next)?;
    let mut counter = txn.open_table(SEQ).ctx("write a dossier")?;
    let seq = counter
        .get("last")
        .ctx("write a dossier")?
        .map_or(0, |v| v.value())
        + 1;
    counter.insert("last", seq).ctx("write a dossier")?;
    txn.open_table(OUTBOX)
        .ctx("write a dossier")?
        .insert(seq, encode_entry(now, &dossier::snapshot(&next)).as_slice())
        .ctx("write a dossier")?;
    Ok(Ok(next))
}

/// See [`crate::Store::retire_dossiers`], inside `txn`.
pub(super) fn retire(txn: &WriteTransaction, stubs: &[Dossier]) -> Result<u64, Error> {
    let mut dossiers = txn.open_table(DOSSIERS).ctx("archive dossiers")?;
    let mut retired = 0;
    for stub in stubs {
        let code = stub.dossier_code.as_str();
        let current = dossiers
            .get(code)
            .ctx("archive dossiers")?
            .map(|v| decode_dossier(code, v.value()))
            .transpose()?;
        if current.is_some_and(|d| dossier::retirable(&d, stub)) {
            dossiers
                .insert(code, stub.encode_to_vec().as_slice())
                .ctx("archive dossiers")?;
            retired += 1;
        }
    }
    Ok(retired)
}

/// Records how the delivery of `entry` went, inside `txn`.
pub(super) fn mark(txn: &WriteTransaction, entry: &Entry, outcome: &Outcome) -> Result<(), Error> {
    let mut outbox = txn.open_table(OUTBOX).ctx("record a delivery")?;
    let mut dossiers = txn.open_table(DOSSIERS).ctx("record a delivery")?;
    let current = dossiers
        .get(entry.code())
        .ctx("record a delivery")?
        .map(|v| decode_dossier(entry.code(), v.value()))
        .transpose()?;
    let Some(mut stored) = current else {
        return Ok(());
    };
    match outcome {
        Outcome::Delivered => {
            outbox.remove(entry.seq).ctx("record a delivery")?;
        }
        Outcome::Retry { .. } => {}
        Outcome::Dead { reason } => {
            outbox.remove(entry.seq).ctx("record a delivery")?;
            let kept = encode_entry(entry.queued_at, &entry.dossier);
            let mut value = (kept.len() as u32).to_be_bytes().to_vec();
            value.extend_from_slice(&kept);
            value.extend_from_slice(reason.as_bytes());
            txn.open_table(DEAD)
                .ctx("record a delivery")?
                .insert(entry.seq, value.as_slice())
                .ctx("record a delivery")?;
        }
    }
    dossier::delivered(&mut stored, entry, outcome);
    dossiers
        .insert(entry.code(), stored.encode_to_vec().as_slice())
        .ctx("record a delivery")?;
    // A stub's facts stay those of the dossier it stands for.
    if stored.archived_in.is_empty() {
        facts::keep(txn, &stored)?;
    }
    Ok(())
}

/// The dossier `code`, if held.
pub(super) fn get(txn: &ReadTransaction, code: &str) -> Result<Option<Dossier>, Error> {
    let table = txn.open_table(DOSSIERS).ctx("read a dossier")?;
    let value = table.get(code).ctx("read a dossier")?;
    value.map(|v| decode_dossier(code, v.value())).transpose()
}

/// See [`crate::Store::dossiers`].
pub(super) fn list(
    txn: &ReadTransaction,
    after: &str,
    limit: usize,
    filter: &Filter,
) -> Result<(Vec<Dossier>, bool), Error> {
    let table = txn.open_table(DOSSIERS).ctx("list dossiers")?;
    let mut out = Vec::new();
    let range = table
        .range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        .ctx("list dossiers")?;
    for item in range {
        let (k, v) = item.ctx("list dossiers")?;
        let d = decode_dossier(k.value(), v.value())?;
        if !filter.matches(&d) {
            continue;
        }
        if out.len() == limit {
            return Ok((out, true));
        }
        out.push(d);
    }
    Ok((out, false))
}

/// See [`crate::Store::outbox`].
pub(super) fn pending(
    txn: &ReadTransaction,
    after: u64,
    limit: usize,
) -> Result<Vec<Entry>, Error> {
    let table = txn.open_table(OUTBOX).ctx("read the outbox")?;
    let mut out = Vec::new();
    for item in table
        .range(after.saturating_add(1)..)
        .ctx("read the outbox")?
    {
        let (k, v) = item.ctx("read the outbox")?;
        let entry = decode_entry(k.value(), v.value())
            .ok_or_else(|| Error::Corrupt(format!("undecodable outbox entry {}", k.value())))?;
        out.push(entry);
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// See [`crate::Store::outbox_depth`].
pub(super) fn depth(txn: &ReadTransaction) -> Result<Depth, Error> {
    let table = txn.open_table(OUTBOX).ctx("read the outbox depth")?;
    let waiting = table.len().ctx("read the outbox depth")?;
    let oldest = table
        .first()
        .ctx("read the outbox depth")?
        .and_then(|(k, v)| decode_entry(k.value(), v.value()))
        .map(|entry| entry.queued_at);
    let dead = txn
        .open_table(DEAD)
        .ctx("read the outbox depth")?
        .len()
        .ctx("read the outbox depth")?;
    Ok(Depth {
        waiting,
        oldest,
        dead,
    })
}

/// See [`crate::Store::dead_letters`].
pub(super) fn dead_letters(txn: &ReadTransaction) -> Result<Vec<(Entry, String)>, Error> {
    let table = txn.open_table(DEAD).ctx("read the dead letters")?;
    let mut out = Vec::new();
    for item in table.iter().ctx("read the dead letters")? {
        let (k, v) = item.ctx("read the dead letters")?;
        let dead = decode_dead(k.value(), v.value())
            .ok_or_else(|| Error::Corrupt(format!("undecodable dead letter {}", k.value())))?;
        out.push(dead);
    }
    Ok(out)
}

/// See [`crate::Store::retry_dead`]; the caller commits `txn` durably.
pub(super) fn retry_dead(txn: &WriteTransaction, code: Option<&str>) -> Result<u64, Error> {
    let mut dead = txn.open_table(DEAD).ctx("requeue dead letters")?;
    let mut outbox = txn.open_table(OUTBOX).ctx("requeue dead letters")?;
    let mut dossiers = txn.open_table(DOSSIERS).ctx("requeue dead letters")?;
    let mut counter = txn.open_table(SEQ).ctx("requeue dead letters")?;
    let mut seq = counter
        .get("last")
        .ctx("requeue dead letters")?
        .map_or(0, |v| v.value());
    // Per dossier: its dead entries, then what waits behind them (one pass over the
    // outbox for all of them).
    let mut held: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for item in dead.iter().ctx("requeue dead letters")? {
        let (k, v) = item.ctx("requeue dead letters")?;
        if let Some((entry, _)) = decode_dead(k.value(), v.value())
            && code.is_none_or(|c| c == entry.code())
        {
            held.entry(entry.code().to_owned()).or_default().push(entry);
        }
    }
    for item in outbox.iter().ctx("requeue dead letters")? {
        let (k, v) = item.ctx("requeue dead letters")?;
        if let Some(entry) = decode_entry(k.value(), v.value())
            && let Some(entries) = held.get_mut(entry.code())
        {
            entries.push(entry);
        }
    }
    let mut requeued = 0;
    for (code, mut entries) in held {
        entries.sort_by_key(Entry::revision);
        for entry in entries {
            dead.remove(entry.seq).ctx("requeue dead letters")?;
            outbox.remove(entry.seq).ctx("requeue dead letters")?;
            seq += 1;
            outbox
                .insert(
                    seq,
                    encode_entry(entry.queued_at, &entry.dossier).as_slice(),
                )
                .ctx("requeue dead letters")?;
            requeued += 1;
        }
        let current = dossiers
            .get(code.as_str())
            .ctx("requeue dead letters")?
            .map(|v| decode_dossier(&code, v.value()))
            .transpose()?;
        if let Some(mut d) = current {
            dossier::requeued(&mut d);
            dossiers
                .insert(code.as_str(), d.encode_to_vec().as_slice())
                .ctx("requeue dead letters")?;
        }
    }
    counter.insert("last", seq).ctx("requeue dead letters")?;
    Ok(requeued)
}
