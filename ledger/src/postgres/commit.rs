//! One group commit on PostgreSQL: the head row locked, the batch's dossiers read
//! once, deliveries and changes applied in order in memory ([`crate::dossier`]
//! decides), the records sealed after the locked head, and everything written with
//! one statement per table. A commit whose connection broke after it was sent is
//! resolved by the server's word on that transaction.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use deadpool_postgres::Transaction;
use lienthong_proto::v1::{AuditRecord, Dossier};
use prost::Message;
use tokio_postgres::types::ToSql;

use super::{Postgres, db};
use crate::dossier::{self, Outcome};
use crate::merkle::Frontier;
use crate::{Batch, Committed, Entry, Error, Seal};

/// What a commit writes, gathered while the batch is applied.
#[derive(Default)]
struct Writes {
    /// Dossiers as they end the batch.
    dossiers: HashMap<String, Dossier>,
    /// Outbox entries delivered or dead.
    gone: Vec<i64>,
    /// Dead letters: the entry and the portal's reason.
    dead: Vec<(Entry, String)>,
    /// New outbox entries: code and snapshot, in order.
    queued: Vec<(String, Dossier)>,
}

/// See [`crate::Store::commit`]: by the fast path when it can
/// ([`super::fast`]), else under the head's lock.
pub(super) async fn commit(
    pg: &Postgres,
    batch: &mut Batch,
    seal: &mut (dyn Seal + Send),
) -> Result<Committed, Error> {
    let (committed, tree) = match super::fast::commit(pg, batch, seal).await? {
        Some(done) => done,
        None => locked(pg, batch, seal).await?,
    };
    *pg.last.lock().expect("last head") = Some((committed.head, tree));
    Ok(committed)
}

/// A commit under the head's lock: any batch, from any replica.
async fn locked(
    pg: &Postgres,
    batch: &mut Batch,
    seal: &mut (dyn Seal + Send),
) -> Result<(Committed, Frontier), Error> {
    let mut client = pg.client().await?;
    let txn = client.transaction().await.map_err(db("begin a commit"))?;
    // The transaction's id (to ask after it if its COMMIT is cut off) and the lock
    // on the head, in one round trip.
    let lock = txn
        .prepare_cached(
            "SELECT pg_current_xact_id()::text, seq, hash, at_micros, checkpoint, tree_size, tree
             FROM audit_head FOR UPDATE",
        )
        .await
        .map_err(db("lock the audit head"))?;
    let row = txn
        .query_one(&lock, &[])
        .await
        .map_err(db("lock the audit head"))?;
    let xid: String = row.get(0);
    let (mut head, mut tree) = super::tree::head(&row, 1)?;
    let mut current = load(&txn, batch).await?;
    let mut writes = Writes::default();
    let now = crate::now_micros();
    for (entry, outcome) in &batch.deliveries {
        let Some(Some(stored)) = current.get_mut(entry.code()) else {
            continue;
        };
        match outcome {
            Outcome::Delivered => writes.gone.push(entry.seq as i64),
            Outcome::Retry { .. } => {}
            Outcome::Dead { reason } => {
                writes.gone.push(entry.seq as i64);
                writes.dead.push((entry.clone(), reason.clone()));
            }
        }
        dossier::delivered(stored, entry, outcome);
        writes
            .dossiers
            .insert(entry.code().to_owned(), stored.clone());
    }
    let mut applied = Vec::with_capacity(batch.changes.len());
    for (record, change) in &batch.changes {
        let code = change.code().to_owned();
        let result = dossier::next(change, current.get(&code).cloned().flatten(), now);
        if let Ok(next) = &result {
            current.insert(code.clone(), Some(next.clone()));
            writes.dossiers.insert(code.clone(), next.clone());
            writes.queued.push((code, dossier::snapshot(next)));
        }
        if let Some(r) = record.and_then(|i| batch.records.get_mut(i)) {
            seal.complete(r, &result);
        }
        applied.push(result);
    }
    let mut made = Vec::new();
    let checkpoint = crate::seal::seal_into(
        seal,
        &mut head,
        &mut tree,
        &mut made,
        &mut batch.records,
        batch.checkpoint,
    )?;
    if let Some(c) = &checkpoint {
        head.checkpoint = c.seq;
    }
    let committed = Committed {
        applied,
        checkpoint,
        head,
        deferred: false,
    };
    if batch.records.is_empty() && committed.checkpoint.is_none() && writes.dossiers.is_empty() {
        txn.rollback().await.map_err(db("end a commit"))?;
        return Ok((committed, tree));
    }
    // The writes go out pipelined (one round trip for all of them); each still
    // answers for itself, and the COMMIT is sent only if all of them succeeded.
    let checkpointed = async {
        if let Some(c) = &committed.checkpoint {
            cached(
                &txn,
                "INSERT INTO audit_checkpoints (seq, checkpoint) VALUES ($1, $2)",
                &[&(c.seq as i64), &c.encode_to_vec()],
            )
            .await
            .map_err(db("store a checkpoint"))?;
        }
        Ok::<(), Error>(())
    };
    let (hash, seq, checkpointed_at) = (
        head.hash.as_slice(),
        head.seq as i64,
        head.checkpoint as i64,
    );
    let moved = async {
        cached(
            &txn,
            "UPDATE audit_head SET seq = $1, hash = $2, at_micros = $3, checkpoint = $4",
            &[&seq, &hash, &head.at, &checkpointed_at],
        )
        .await
        .map_err(db("move the audit head"))
    };
    tokio::try_join!(
        write(&txn, &writes),
        insert_records(&txn, &batch.records),
        super::tree::grow(&txn, &made, &tree),
        checkpointed,
        moved
    )?;
    match txn.commit().await {
        Ok(()) => Ok((committed, tree)),
        Err(e) => {
            drop(client);
            resolve(pg, &xid, e).await.map(|()| (committed, tree))
        }
    }
}

/// The stored dossiers the batch touches (`None` for a code not held).
async fn load(
    txn: &Transaction<'_>,
    batch: &Batch,
) -> Result<HashMap<String, Option<Dossier>>, Error> {
    let codes: BTreeSet<&str> = batch
        .deliveries
        .iter()
        .map(|(e, _)| e.code())
        .chain(batch.changes.iter().map(|(_, c)| c.code()))
        .collect();
    let mut current: HashMap<String, Option<Dossier>> =
        codes.iter().map(|c| ((*c).to_owned(), None)).collect();
    if codes.is_empty() {
        return Ok(current);
    }
    let codes: Vec<&str> = codes.into_iter().collect();
    let read = txn
        .prepare_cached("SELECT code, dossier FROM dossiers WHERE code = ANY($1)")
        .await
        .map_err(db("read dossiers"))?;
    for row in txn
        .query(&read, &[&codes])
        .await
        .map_err(db("read dossiers"))?
    {
        let code: String = row.get(0);
        let d = Dossier::decode(row.get::<_, &[u8]>(1))
            .map_err(|e| Error::corrupt(&format!("dossier {code}"), e))?;
        current.insert(code, Some(d));
    }
    Ok(current)
}

/// Writes the dossiers, the outbox and the dead letters the batch changed.
async fn write(txn: &Transaction<'_>, w: &Writes) -> Result<(), Error> {
    if !w.dossiers.is_empty() {
        let codes: Vec<&str> = w.dossiers.keys().map(String::as_str).collect();
        let values: Vec<Vec<u8>> = w.dossiers.values().map(Message::encode_to_vec).collect();
        // A stub's facts stay those of the dossier it stands for.
        let (months, facts): (Vec<Option<i32>>, Vec<Option<Vec<u8>>>) = w
            .dossiers
            .values()
            .map(|d| match d.archived_in.is_empty() {
                true => (
                    Some(dossier::month_of(d) as i32),
                    Some(dossier::facts(d).encode_to_vec()),
                ),
                false => (None, None),
            })
            .unzip();
        cached(
            txn,
            "INSERT INTO dossiers (code, dossier, month, facts)
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::int[], $4::bytea[])
             ON CONFLICT (code) DO UPDATE SET dossier = EXCLUDED.dossier,
               month = coalesce(EXCLUDED.month, dossiers.month),
               facts = coalesce(EXCLUDED.facts, dossiers.facts)",
            &[&codes, &values, &months, &facts],
        )
        .await
        .map_err(db("write dossiers"))?;
    }
    if !w.gone.is_empty() {
        cached(txn, "DELETE FROM outbox WHERE seq = ANY($1)", &[&w.gone])
            .await
            .map_err(db("record deliveries"))?;
    }
    if !w.dead.is_empty() {
        let seqs: Vec<i64> = w.dead.iter().map(|(e, _)| e.seq as i64).collect();
        let codes: Vec<&str> = w.dead.iter().map(|(e, _)| e.code()).collect();
        let queued: Vec<i64> = w.dead.iter().map(|(e, _)| e.queued_at).collect();
        let values: Vec<Vec<u8>> = w
            .dead
            .iter()
            .map(|(e, _)| e.dossier.encode_to_vec())
            .collect();
        let reasons: Vec<&str> = w.dead.iter().map(|(_, r)| r.as_str()).collect();
        cached(
            txn,
            "INSERT INTO outbox_dead (seq, code, queued_at, dossier, reason)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::bytea[], $5::text[])
             ON CONFLICT (seq) DO NOTHING",
            &[&seqs, &codes, &queued, &values, &reasons],
        )
        .await
        .map_err(db("record dead letters"))?;
    }
    if !w.queued.is_empty() {
        let now = crate::now_micros();
        let (codes, values): (Vec<&str>, Vec<Vec<u8>>) = w
            .queued
            .iter()
            .map(|(c, d)| (c.as_str(), d.encode_to_vec()))
            .unzip();
        // Numbered in the order the changes were made (the function scan yields
        // the array in order); one writer at a time holds the head, so the numbers
        // are also in commit order across replicas.
        cached(
            txn,
            "INSERT INTO outbox (seq, code, queued_at, dossier)
             SELECT nextval('outbox_seq'), code, $3, dossier
             FROM unnest($1::text[], $2::bytea[]) AS q(code, dossier)",
            &[&codes, &values, &now],
        )
        .await
        .map_err(db("queue deliveries"))?;
    }
    Ok(())
}

/// The records' subjects for the subject index (NULL for a record about no one).
pub(super) fn subjects(records: &[AuditRecord]) -> Vec<Option<&str>> {
    records
        .iter()
        .map(|r| Some(r.subject_personal_id.as_str()).filter(|s| !s.is_empty()))
        .collect()
}

/// Appends sealed `records` in one statement.
pub(super) async fn insert_records(
    txn: &Transaction<'_>,
    records: &[AuditRecord],
) -> Result<(), Error> {
    if records.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = records.iter().map(|r| r.seq as i64).collect();
    let at: Vec<i64> = records.iter().map(micros).collect();
    let ids: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    let values: Vec<Vec<u8>> = records.iter().map(Message::encode_to_vec).collect();
    cached(
        txn,
        "INSERT INTO audit_records (seq, at_micros, request_id, record, subject)
         SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::bytea[], $5::text[])",
        &[&seqs, &at, &ids, &values, &subjects(records)],
    )
    .await
    .map_err(db("append audit records"))?;
    Ok(())
}

/// Runs `sql` as a statement prepared once per connection (a round trip saved on
/// every later commit).
pub(super) async fn cached(
    txn: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = txn.prepare_cached(sql).await?;
    txn.execute(&statement, params).await
}

/// A record's time in µs since the epoch.
pub(super) fn micros(r: &AuditRecord) -> i64 {
    r.at.as_ref()
        .map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// Whether the transaction `xid`, whose commit failed with `error` on its way,
/// committed: asked of the server (on another connection) until it says, within
/// the store's bound. Only a definite "committed" is a success.
async fn resolve(pg: &Postgres, xid: &str, error: tokio_postgres::Error) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + pg.resolve_for;
    let mut wait = Duration::from_millis(50);
    loop {
        let status = async {
            let client = pg.client().await?;
            let row = client
                .query_one("SELECT pg_xact_status($1::text::xid8)::text", &[&xid])
                .await
                .map_err(db("ask whether a commit took"))?;
            Ok::<_, Error>(row.get::<_, Option<String>>(0))
        }
        .await;
        match status {
            Ok(Some(s)) if s == "committed" => {
                tracing::warn!(%error, "the connection broke during a commit; the server committed it");
                return Ok(());
            }
            Ok(Some(s)) if s == "in progress" => {}
            Ok(_) => return Err(db("commit")(error)),
            Err(e) => tracing::warn!(error = %e, "cannot yet ask whether a commit took"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Unavailable(format!(
                "commit: {error}; whether it took is not known yet (transaction {xid})"
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}
