//! The fast path of a group commit on PostgreSQL: a batch of audit records alone,
//! from the replica that wrote the last batch, in one statement and one round trip.
//!
//! The records are sealed after the head this replica last committed, and one
//! statement moves the head on *only if it is still there*
//! (`UPDATE audit_head … WHERE seq = last`) and inserts the records only if it
//! moved. Run on its own, it is its own transaction. If another replica wrote in
//! between, the update meets the newer row and matches nothing, so nothing is
//! written. The batch then takes the locked path, sealed again after the real
//! head. A statement whose connection breaks is settled by what the server holds:
//! the batch's first record, byte for byte, or not.

use std::time::Duration;

use prost::Message;

use super::commit::micros;
use super::{Postgres, db};
use crate::merkle::Frontier;
use crate::{Batch, Committed, Error, Seal};

/// The statement; the marker lets the tests' proxy find its commit point.
pub(crate) const STATEMENT: &str = "/* lienthong:commit */
WITH head AS (
  UPDATE audit_head SET seq = $6, hash = $7, at_micros = $8, tree_size = $6, tree = $10
  WHERE seq = $5 RETURNING 1
), appended AS (
  INSERT INTO audit_records (seq, at_micros, request_id, record, subject)
  SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::bytea[], $9::text[])
  WHERE EXISTS (SELECT 1 FROM head)
  RETURNING 1
), grown AS (
  INSERT INTO audit_tiles AS t (level, idx, hashes)
  SELECT * FROM unnest($11::int2[], $12::int8[], $13::bytea[])
  WHERE EXISTS (SELECT 1 FROM head)
  ON CONFLICT (level, idx) DO UPDATE SET hashes = t.hashes || EXCLUDED.hashes
)
SELECT count(*) FROM appended";

/// How long the head must stay untouched and unlocked before a statement cut off
/// is taken as never run.
const QUIET: Duration = Duration::from_secs(2);

/// Commits `batch` by the fast path when it can: `None` when the batch is not
/// records alone, this replica did not write the last batch, a checkpoint falls
/// due, or another replica wrote first.
pub(super) async fn commit(
    pg: &Postgres,
    batch: &mut Batch,
    seal: &mut (dyn Seal + Send),
) -> Result<Option<(Committed, Frontier)>, Error> {
    if batch.records.is_empty() || !batch.changes.is_empty() || !batch.deliveries.is_empty() {
        return Ok(None);
    }
    let Some((mut head, mut tree)) = pg.last.lock().expect("last head").clone() else {
        return Ok(None);
    };
    let last = head.seq;
    let mut made = Vec::new();
    let due = crate::seal::seal_into(
        seal,
        &mut head,
        &mut tree,
        &mut made,
        &mut batch.records,
        batch.checkpoint,
    )?;
    if due.is_some() {
        // The locked path signs it, after the head it reads.
        return Ok(None);
    }
    let (levels, indexes, hashes) = super::tree::columns(&made);
    let edge = tree.encode();
    let records = &batch.records;
    let seqs: Vec<i64> = records.iter().map(|r| r.seq as i64).collect();
    let at: Vec<i64> = records.iter().map(micros).collect();
    let ids: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    let values: Vec<Vec<u8>> = records.iter().map(Message::encode_to_vec).collect();
    let subjects = super::commit::subjects(records);
    let client = pg.client().await?;
    let statement = client
        .prepare_cached(STATEMENT)
        .await
        .map_err(db("append audit records"))?;
    let (seq, hash) = (head.seq as i64, head.hash.as_slice());
    let ran = client
        .query_one(
            &statement,
            &[
                &seqs,
                &at,
                &ids,
                &values,
                &(last as i64),
                &seq,
                &hash,
                &head.at,
                &subjects,
                &edge,
                &levels,
                &indexes,
                &hashes,
            ],
        )
        .await;
    let committed = Committed {
        applied: Vec::new(),
        checkpoint: None,
        head,
        deferred: false,
    };
    match ran {
        Ok(row) if row.get::<_, i64>(0) == records.len() as i64 => Ok(Some((committed, tree))),
        Ok(_) => Ok(None),
        Err(e) if e.as_db_error().is_some() => Err(db("append audit records")(e)),
        Err(e) => {
            drop(client);
            settle(pg, records[0].seq, &values[0], last, e).await?;
            Ok(Some((committed, tree)))
        }
    }
}

/// Whether the statement whose connection broke with `error` committed: the
/// server holds record `seq` as `encoded` (it did); another record there, or a head
/// moved past `last` without it (it did not); the head still at `last` and free of
/// any lock for [`QUIET`] on end (it did not: a statement that ran would hold the
/// lock, one that committed would have moved the head, and a statement still on
/// its way to the server after that long is taken as lost). Asked until the
/// store's bound.
async fn settle(
    pg: &Postgres,
    seq: u64,
    encoded: &[u8],
    last: u64,
    error: tokio_postgres::Error,
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + pg.resolve_for;
    let mut untouched: Option<tokio::time::Instant> = None;
    loop {
        match look(pg, seq, last).await {
            Ok(Look::Committed(stored)) if stored == encoded => {
                tracing::warn!(%error, "the connection broke during a commit; the server committed it");
                return Ok(());
            }
            Ok(Look::Committed(_) | Look::Passed) => return Err(db("commit")(error)),
            Ok(Look::Untouched) => {
                let since = *untouched.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= QUIET {
                    return Err(db("commit")(error));
                }
            }
            Ok(Look::Locked) => untouched = None,
            Err(e) => tracing::warn!(error = %e, "cannot yet ask whether a commit took"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Unavailable(format!(
                "commit: {error}; whether it took is not known yet (record {seq})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the server shows of a cut-off fast commit.
enum Look {
    /// Record `seq` is there, as these bytes.
    Committed(Vec<u8>),
    /// It is not, and the head has moved past `last`: another commit took the place.
    Passed,
    /// The head is at `last` and nobody holds its lock.
    Untouched,
    /// The head is locked: a commit, perhaps the one asked about, is under way.
    Locked,
}

/// Looks once. The record and the head are read in one snapshot; only then is the
/// head's lock tried (a locking read sees the newest row, newer than the snapshot).
async fn look(pg: &Postgres, seq: u64, last: u64) -> Result<Look, Error> {
    let client = pg.client().await?;
    let row = client
        .query_one(
            "SELECT (SELECT record FROM audit_records WHERE seq = $1),
                    (SELECT seq FROM audit_head)",
            &[&(seq as i64)],
        )
        .await
        .map_err(db("ask whether a commit took"))?;
    if let Some(stored) = row.get::<_, Option<Vec<u8>>>(0) {
        return Ok(Look::Committed(stored));
    }
    if row.get::<_, i64>(1) as u64 > last {
        return Ok(Look::Passed);
    }
    let free = client
        .query_opt("SELECT seq FROM audit_head FOR UPDATE SKIP LOCKED", &[])
        .await
        .map_err(db("ask whether a commit took"))?;
    Ok(match free {
        Some(row) if row.get::<_, i64>(0) as u64 == last => Look::Untouched,
        // Moved on since the snapshot: the next look tells which way.
        Some(_) => Look::Locked,
        None => Look::Locked,
    })
}
