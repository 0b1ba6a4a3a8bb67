//! The inbound tables of the embedded ledger: dossiers from the portal's feed,
//! numbered in arrival order, their codes (kept unique), and the portal's cursor.

use lienthong_proto::v1::Dossier;
use prost::Message;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::Context;
use crate::Error;

pub(super) const INBOUND: TableDefinition<u64, &[u8]> = TableDefinition::new("inbound");
pub(super) const CODES: TableDefinition<&str, u64> = TableDefinition::new("inbound_codes");
pub(super) const META: TableDefinition<&str, &str> = TableDefinition::new("inbound_meta");
const PORTAL_CURSOR: &str = "portal_cursor";

/// The portal's cursor after the last dossier stored ("" before any).
pub(super) fn cursor(txn: &ReadTransaction) -> Result<String, Error> {
    let table = txn.open_table(META).ctx("read the portal cursor")?;
    let value = table.get(PORTAL_CURSOR).ctx("read the portal cursor")?;
    Ok(value.map(|v| v.value().to_owned()).unwrap_or_default())
}

/// The last inbound number given.
pub(super) fn head(txn: &ReadTransaction) -> Result<u64, Error> {
    let table = txn.open_table(INBOUND).ctx("read the inbound head")?;
    Ok(table
        .last()
        .ctx("read the inbound head")?
        .map_or(0, |(k, _)| k.value()))
}

/// Stores the new dossiers of `dossiers` and `cursor` in `txn`; how many were new,
/// and the head after them.
pub(super) fn store(
    txn: &WriteTransaction,
    dossiers: &[Dossier],
    cursor: &str,
) -> Result<(usize, u64), Error> {
    let mut inbound = txn.open_table(INBOUND).ctx("store inbound dossiers")?;
    let mut codes = txn.open_table(CODES).ctx("store inbound dossiers")?;
    let mut meta = txn.open_table(META).ctx("store inbound dossiers")?;
    let mut head = inbound
        .last()
        .ctx("store inbound dossiers")?
        .map_or(0, |(k, _)| k.value());
    let mut new = 0;
    for d in dossiers {
        if codes
            .get(d.dossier_code.as_str())
            .ctx("store inbound dossiers")?
            .is_some()
        {
            continue;
        }
        head += 1;
        inbound
            .insert(head, d.encode_to_vec().as_slice())
            .ctx("store inbound dossiers")?;
        codes
            .insert(d.dossier_code.as_str(), head)
            .ctx("store inbound dossiers")?;
        new += 1;
    }
    meta.insert(PORTAL_CURSOR, cursor)
        .ctx("store inbound dossiers")?;
    Ok((new, head))
}

/// Up to `limit` inbound dossiers numbered after `after`.
pub(super) fn after(
    txn: &ReadTransaction,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, Dossier)>, Error> {
    let table = txn.open_table(INBOUND).ctx("read inbound dossiers")?;
    let mut out = Vec::new();
    for item in table
        .range(after.saturating_add(1)..)
        .ctx("read inbound dossiers")?
    {
        let (k, v) = item.ctx("read inbound dossiers")?;
        let d = Dossier::decode(v.value())
            .map_err(|x| Error::corrupt(&format!("inbound dossier {}", k.value()), x))?;
        out.push((k.value(), d));
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}
