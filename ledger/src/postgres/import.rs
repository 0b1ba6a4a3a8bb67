//! Moving a ledger into PostgreSQL: everything another store holds — the audit
//! chain with its signed checkpoints, the dossiers, the outbox with its numbers,
//! the dead letters, the inbound dossiers and the portal's cursor — copied as it
//! is, in one transaction, into a database that holds nothing yet. Records keep
//! their numbers, hashes and signatures, so the chain verifies as before.

use deadpool_postgres::Transaction;
use lienthong_proto::Month;
use lienthong_proto::v1::Dossier;
use prost::Message;

use super::commit::insert_records;
use super::{Postgres, db};
use crate::{Entry, Error, Filter, Item, Store, dossier};

/// Rows read from the source per round trip.
const PAGE: usize = 2_000;

/// What an import copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Audit records.
    pub records: u64,
    /// Signed checkpoints.
    pub checkpoints: u64,
    /// Dossiers.
    pub dossiers: u64,
    /// Outbox entries waiting for delivery.
    pub outbox: u64,
    /// Dead letters.
    pub dead: u64,
    /// Inbound dossiers.
    pub inbound: u64,
}

impl Postgres {
    /// Copies everything `from` holds into this database, which must hold nothing
    /// (no record, dossier, outbox entry or inbound dossier): nothing is merged.
    /// All or nothing: a failure leaves the database as it was.
    pub async fn import(&self, from: &dyn Store) -> Result<Imported, Error> {
        let mut client = self.client().await?;
        let txn = client.transaction().await.map_err(db("begin the import"))?;
        let empty: bool = txn
            .query_one(
                "SELECT (SELECT seq FROM audit_head FOR UPDATE) = 0
                   AND NOT EXISTS (SELECT 1 FROM audit_checkpoints)
                   AND NOT EXISTS (SELECT 1 FROM dossiers)
                   AND NOT EXISTS (SELECT 1 FROM outbox)
                   AND NOT EXISTS (SELECT 1 FROM outbox_dead)
                   AND NOT EXISTS (SELECT 1 FROM inbound)",
                &[],
            )
            .await
            .map_err(db("look at the target"))?
            .get(0);
        if !empty {
            return Err(Error::Refused(format!(
                "{} already holds a ledger; an import goes into an empty one only",
                self.describe()
            )));
        }
        let mut done = Imported::default();
        audit(&txn, from, &mut done).await?;
        dossiers(&txn, from, &mut done).await?;
        outbox(&txn, from, &mut done).await?;
        inbound(&txn, from, &mut done).await?;
        txn.commit().await.map_err(db("commit the import"))?;
        Ok(done)
    }
}

/// The chain, its checkpoints and its head.
async fn audit(txn: &Transaction<'_>, from: &dyn Store, done: &mut Imported) -> Result<(), Error> {
    let mut next = Some(0);
    while let Some(at) = next {
        let page = from.audit_page(at, 0, PAGE).await?;
        let mut records = Vec::new();
        for item in page.items {
            match item {
                Item::Record(r) => records.push(r),
                Item::Checkpoint(c) => {
                    txn.execute(
                        "INSERT INTO audit_checkpoints (seq, checkpoint) VALUES ($1, $2)",
                        &[&(c.seq as i64), &c.encode_to_vec()],
                    )
                    .await
                    .map_err(db("copy a checkpoint"))?;
                    done.checkpoints += 1;
                }
            }
        }
        done.records += records.len() as u64;
        insert_records(txn, &records).await?;
        next = page.next;
    }
    let head = from.audit_head().await?;
    txn.execute(
        "UPDATE audit_head SET seq = $1, hash = $2, at_micros = $3, checkpoint = $4",
        &[
            &(head.seq as i64),
            &head.hash.as_slice(),
            &head.at,
            &(head.checkpoint as i64),
        ],
    )
    .await
    .map_err(db("copy the audit head"))?;
    super::tree::complete(txn).await?;
    Ok(())
}

/// Every dossier with its sync state.
async fn dossiers(
    txn: &Transaction<'_>,
    from: &dyn Store,
    done: &mut Imported,
) -> Result<(), Error> {
    let mut after = String::new();
    // Archived dossiers (stubs), by code, with the month they were received in.
    let mut stubs = std::collections::HashMap::new();
    loop {
        let (page, more) = from.dossiers(&after, PAGE, &Filter::default()).await?;
        let Some(last) = page.last() else { break };
        after = last.dossier_code.clone();
        let codes: Vec<&str> = page.iter().map(|d| d.dossier_code.as_str()).collect();
        let values: Vec<Vec<u8>> = page.iter().map(Message::encode_to_vec).collect();
        let months: Vec<i32> = page.iter().map(|d| dossier::month_of(d) as i32).collect();
        let facts: Vec<Vec<u8>> = page
            .iter()
            .map(|d| dossier::facts(d).encode_to_vec())
            .collect();
        txn.execute(
            "INSERT INTO dossiers (code, dossier, month, facts)
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::int[], $4::bytea[])",
            &[&codes, &values, &months, &facts],
        )
        .await
        .map_err(db("copy dossiers"))?;
        stubs.extend(page.iter().filter(|d| !d.archived_in.is_empty()).map(|d| {
            (
                d.dossier_code.clone(),
                Month::of(d.received_at.map_or(0, |t| t.seconds)),
            )
        }));
        done.dossiers += page.len() as u64;
        if !more {
            break;
        }
    }
    // An archived dossier's facts are the source's, kept from before its archiving.
    let months: std::collections::BTreeSet<Month> = stubs.values().copied().collect();
    for month in months {
        let mut kept = Vec::new();
        from.dossier_facts(month, &mut |d| {
            if stubs.contains_key(&d.dossier_code) {
                kept.push(d);
            }
        })
        .await?;
        for page in kept.chunks(PAGE) {
            let codes: Vec<&str> = page.iter().map(|d| d.dossier_code.as_str()).collect();
            let facts: Vec<Vec<u8>> = page.iter().map(Message::encode_to_vec).collect();
            txn.execute(
                "UPDATE dossiers SET facts = v.facts
                   FROM unnest($1::text[], $2::bytea[]) AS v(code, facts)
                  WHERE dossiers.code = v.code",
                &[&codes, &facts],
            )
            .await
            .map_err(db("copy the dossiers' facts"))?;
        }
    }
    Ok(())
}

/// The outbox and the dead letters, with their numbers; the next number after both.
async fn outbox(txn: &Transaction<'_>, from: &dyn Store, done: &mut Imported) -> Result<(), Error> {
    let mut highest = 0;
    let mut after = 0;
    loop {
        let page = from.outbox(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        highest = highest.max(after);
        insert_entries(txn, &page, None).await?;
        done.outbox += page.len() as u64;
    }
    let dead = from.dead_letters().await?;
    for chunk in dead.chunks(PAGE) {
        let entries: Vec<Entry> = chunk.iter().map(|(e, _)| e.clone()).collect();
        let reasons: Vec<&str> = chunk.iter().map(|(_, r)| r.as_str()).collect();
        highest = entries.iter().map(|e| e.seq).fold(highest, u64::max);
        insert_entries(txn, &entries, Some(&reasons)).await?;
        done.dead += chunk.len() as u64;
    }
    if highest > 0 {
        txn.execute("SELECT setval('outbox_seq', $1)", &[&(highest as i64)])
            .await
            .map_err(db("number the outbox"))?;
    }
    Ok(())
}

/// Outbox entries, or dead letters with their `reasons`.
async fn insert_entries(
    txn: &Transaction<'_>,
    entries: &[Entry],
    reasons: Option<&[&str]>,
) -> Result<(), Error> {
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq as i64).collect();
    let codes: Vec<&str> = entries.iter().map(Entry::code).collect();
    let queued: Vec<i64> = entries.iter().map(|e| e.queued_at).collect();
    let values: Vec<Vec<u8>> = entries.iter().map(|e| e.dossier.encode_to_vec()).collect();
    let written = match reasons {
        None => {
            txn.execute(
                "INSERT INTO outbox (seq, code, queued_at, dossier)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::bytea[])",
                &[&seqs, &codes, &queued, &values],
            )
            .await
        }
        Some(reasons) => {
            txn.execute(
                "INSERT INTO outbox_dead (seq, code, queued_at, dossier, reason)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::bytea[], $5::text[])",
                &[&seqs, &codes, &queued, &values, &reasons],
            )
            .await
        }
    };
    written.map_err(db("copy the outbox"))?;
    Ok(())
}

/// The inbound dossiers with their numbers, and the portal's cursor.
async fn inbound(
    txn: &Transaction<'_>,
    from: &dyn Store,
    done: &mut Imported,
) -> Result<(), Error> {
    let mut after = 0;
    loop {
        let page: Vec<(u64, Dossier)> = from.inbound(after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let seqs: Vec<i64> = page.iter().map(|(s, _)| *s as i64).collect();
        let codes: Vec<&str> = page.iter().map(|(_, d)| d.dossier_code.as_str()).collect();
        let values: Vec<Vec<u8>> = page.iter().map(|(_, d)| d.encode_to_vec()).collect();
        txn.execute(
            "INSERT INTO inbound (seq, code, dossier)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::bytea[])",
            &[&seqs, &codes, &values],
        )
        .await
        .map_err(db("copy inbound dossiers"))?;
        done.inbound += page.len() as u64;
    }
    let cursor = from.inbound_cursor().await?;
    let head = from.inbound_head().await?;
    txn.execute(
        "UPDATE inbound_meta SET cursor = $1, head = $2",
        &[&cursor, &(head as i64)],
    )
    .await
    .map_err(db("copy the portal's cursor"))?;
    Ok(())
}
