//! The dossiers' report fields ([`crate::dossier::facts`]), keyed by the month of
//! receipt and the code, so that a month's report reads one range of small values
//! rather than every dossier whole.

use lienthong_proto::Month;
use lienthong_proto::v1::Dossier;
use prost::Message;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::Context;
use super::dossiers::DOSSIERS;
use crate::Error;
use crate::dossier::{facts, month_of};

/// Facts read per read transaction.
pub(super) const PAGE: usize = 10_000;

/// (month of receipt as `yyyymm`, code) → the facts.
pub(super) const FACTS: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("dossier_facts");

/// Keeps the facts of `d` as it now is, inside `txn`.
pub(super) fn keep(txn: &WriteTransaction, d: &Dossier) -> Result<(), Error> {
    txn.open_table(FACTS)
        .ctx("write a dossier's facts")?
        .insert(
            (month_of(d), d.dossier_code.as_str()),
            facts(d).encode_to_vec().as_slice(),
        )
        .ctx("write a dossier's facts")?;
    Ok(())
}

/// Builds the facts of every dossier held, inside `txn`: for a ledger written
/// before they were kept. A stub's facts are what it kept (its channel and dates
/// went with the archive).
pub(super) fn build(txn: &WriteTransaction) -> Result<u64, Error> {
    let dossiers = txn.open_table(DOSSIERS).ctx("build the dossiers' facts")?;
    let mut built = 0;
    for item in dossiers.iter().ctx("build the dossiers' facts")? {
        let (k, v) = item.ctx("build the dossiers' facts")?;
        let d = Dossier::decode(v.value())
            .map_err(|e| Error::corrupt(&format!("dossier {}", k.value()), e))?;
        keep(txn, &d)?;
        built += 1;
    }
    Ok(built)
}

/// Up to `limit` facts of `month` after the code `after`, in code order; and
/// whether more may follow.
pub(super) fn page(
    txn: &ReadTransaction,
    month: Month,
    after: &str,
    limit: usize,
) -> Result<(Vec<Dossier>, bool), Error> {
    let table = txn.open_table(FACTS).ctx("read the dossiers' facts")?;
    let key = month.key();
    let range = table
        .range::<(u32, &str)>((
            std::ops::Bound::Excluded((key, after)),
            std::ops::Bound::Excluded((key + 1, "")),
        ))
        .ctx("read the dossiers' facts")?;
    let mut out = Vec::with_capacity(limit.min(4096));
    for item in range {
        let (k, v) = item.ctx("read the dossiers' facts")?;
        if out.len() == limit {
            return Ok((out, true));
        }
        let d = Dossier::decode(v.value())
            .map_err(|e| Error::corrupt(&format!("facts of dossier {}", k.value().1), e))?;
        out.push(d);
    }
    Ok((out, false))
}
