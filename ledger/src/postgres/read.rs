//! Reads of the PostgreSQL ledger: the audit log, the dossiers, the outbox, the
//! inbound dossiers. Each is one statement on a pooled connection; none locks.

use lienthong_proto::v1::{AuditRecord, Checkpoint, Dossier};
use prost::Message;
use tokio_postgres::{Client, Row};

use super::db;
use crate::{Depth, Entry, Error, Filter, Head, Page};

fn decode<M: Message + Default>(what: &str, bytes: &[u8]) -> Result<M, Error> {
    M::decode(bytes).map_err(|e| Error::corrupt(what, e))
}

/// An outbox (or dead letter) row `seq, queued_at, dossier` as an entry.
pub(super) fn entry(row: &Row) -> Result<Entry, Error> {
    let seq: i64 = row.get(0);
    Ok(Entry {
        seq: seq as u64,
        queued_at: row.get(1),
        dossier: decode(&format!("outbox entry {seq}"), row.get::<_, &[u8]>(2))?,
    })
}

/// See [`crate::Store::audit_head`].
pub(super) async fn head(client: &Client) -> Result<Head, Error> {
    let row = client
        .query_one(
            "SELECT seq, hash, at_micros, checkpoint, tree_size, tree FROM audit_head",
            &[],
        )
        .await
        .map_err(db("read the audit head"))?;
    Ok(super::tree::head(&row, 0)?.0)
}

/// See [`crate::Store::audit_page`].
///
/// Records and checkpoints are read in one snapshot (a repeatable-read, read-only
/// transaction): replicas append while a page is read, and a checkpoint committed
/// between the two reads would otherwise look like a cut tail.
pub(super) async fn page(
    client: &mut Client,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Page, Error> {
    let to = if to == 0 { i64::MAX as u64 } else { to };
    let client = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db("read the audit log"))?;
    let mut records = Vec::with_capacity(limit.min(4096));
    for row in client
        .query(
            "SELECT record FROM audit_records WHERE seq BETWEEN $1 AND $2 ORDER BY seq LIMIT $3",
            &[&(from as i64), &(to as i64), &(limit as i64)],
        )
        .await
        .map_err(db("read the audit log"))?
    {
        records.push(decode::<AuditRecord>("audit record", row.get(0))?);
    }
    let (next, upto) = crate::walk::bounds(&records, limit, to);
    let mut signed = Vec::new();
    for row in client
        .query(
            "SELECT checkpoint FROM audit_checkpoints WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
            &[&(from as i64), &(upto.min(i64::MAX as u64) as i64)],
        )
        .await
        .map_err(db("read the audit log"))?
    {
        signed.push(decode::<Checkpoint>("checkpoint", row.get(0))?);
    }
    client.commit().await.map_err(db("read the audit log"))?;
    Ok(crate::walk::assemble(records, signed, next))
}

/// See [`crate::Store::audit_record`].
pub(super) async fn record(client: &Client, seq: u64) -> Result<Option<AuditRecord>, Error> {
    client
        .query_opt(
            "SELECT record FROM audit_records WHERE seq = $1",
            &[&(seq as i64)],
        )
        .await
        .map_err(db("read an audit record"))?
        .map(|row| decode("audit record", row.get(0)))
        .transpose()
}

/// See [`crate::Store::audit_by_subject`].
pub(super) async fn by_subject(
    client: &Client,
    subject: &str,
    seqs: std::ops::Range<u64>,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<AuditRecord>, Error> {
    let bound = |n: u64| n.min(i64::MAX as u64) as i64;
    let sql = match newest_first {
        true => {
            "SELECT record FROM audit_records WHERE subject = $1 AND seq >= $2 AND seq < $3
              ORDER BY subject DESC, seq DESC LIMIT $4"
        }
        false => {
            "SELECT record FROM audit_records WHERE subject = $1 AND seq >= $2 AND seq < $3
              ORDER BY subject, seq LIMIT $4"
        }
    };
    let params = [
        &subject as &(dyn tokio_postgres::types::ToSql + Sync),
        &bound(seqs.start),
        &bound(seqs.end),
        &(limit as i64),
    ];
    client
        .query(sql, &params)
        .await
        .map_err(db("read a subject's records"))?
        .iter()
        .map(|row| decode("audit record", row.get(0)))
        .collect()
}

/// See [`crate::Store::audit_checkpoint_covering`].
pub(super) async fn covering(client: &Client, seq: u64) -> Result<Option<Checkpoint>, Error> {
    client
        .query_opt(
            "SELECT checkpoint FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1",
            &[&(seq.min(i64::MAX as u64) as i64)],
        )
        .await
        .map_err(db("read a checkpoint"))?
        .map(|row| decode("checkpoint", row.get(0)))
        .transpose()
}

/// See [`crate::Store::audit_seq_at`].
pub(super) async fn seq_at(client: &Client, micros: i64) -> Result<u64, Error> {
    let row = client
        .query_one(
            "SELECT coalesce(
               (SELECT min(seq) FROM audit_records WHERE at_micros >= $1),
               (SELECT seq + 1 FROM audit_head))",
            &[&micros],
        )
        .await
        .map_err(db("find a time in the audit log"))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// See [`crate::Store::dossier`].
pub(super) async fn dossier(client: &Client, code: &str) -> Result<Option<Dossier>, Error> {
    client
        .query_opt("SELECT dossier FROM dossiers WHERE code = $1", &[&code])
        .await
        .map_err(db("read a dossier"))?
        .map(|row| decode(&format!("dossier {code}"), row.get(0)))
        .transpose()
}

/// See [`crate::Store::dossier_facts`]: one statement whose rows are read as they
/// come, in the order the database finds them (by the month's index or a scan,
/// whichever its statistics favour; no sort), in a transaction of its own whose
/// statement may outlast the pool's `statement_timeout`.
pub(super) async fn facts(
    client: &mut deadpool_postgres::Object,
    month: lienthong_proto::Month,
    each: &mut (dyn FnMut(Dossier) + Send),
) -> Result<u64, Error> {
    use futures_util::TryStreamExt;
    let txn = client
        .transaction()
        .await
        .map_err(db("read the dossiers' facts"))?;
    txn.batch_execute("SET LOCAL statement_timeout = '10min'")
        .await
        .map_err(db("read the dossiers' facts"))?;
    let statement = txn
        .prepare_cached("SELECT code, facts FROM dossiers WHERE month = $1 AND facts IS NOT NULL")
        .await
        .map_err(db("read the dossiers' facts"))?;
    let key = month.key() as i32;
    let rows = txn
        .query_raw(
            &statement,
            [&key as &(dyn tokio_postgres::types::ToSql + Sync)],
        )
        .await
        .map_err(db("read the dossiers' facts"))?;
    let mut rows = std::pin::pin!(rows);
    let mut seen = 0;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(db("read the dossiers' facts"))?
    {
        let code: &str = row.get(0);
        each(decode(&format!("facts of dossier {code}"), row.get(1))?);
        seen += 1;
    }
    txn.commit().await.map_err(db("read the dossiers' facts"))?;
    Ok(seen)
}

/// See [`crate::Store::dossiers`]: read in code order, a chunk at a time, until
/// `limit` match (and one more shows that more may follow).
pub(super) async fn dossiers(
    client: &Client,
    after: &str,
    limit: usize,
    filter: &Filter,
) -> Result<(Vec<Dossier>, bool), Error> {
    const CHUNK: i64 = 512;
    let mut out = Vec::new();
    let mut from = after.to_owned();
    loop {
        let rows = client
            .query(
                "SELECT code, dossier FROM dossiers WHERE code > $1 ORDER BY code LIMIT $2",
                &[&from, &CHUNK],
            )
            .await
            .map_err(db("list dossiers"))?;
        for row in &rows {
            let code: String = row.get(0);
            let d: Dossier = decode(&format!("dossier {code}"), row.get(1))?;
            from = code;
            if !filter.matches(&d) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(d);
        }
        if (rows.len() as i64) < CHUNK {
            return Ok((out, false));
        }
    }
}

/// See [`crate::Store::outbox`].
pub(super) async fn outbox(client: &Client, after: u64, limit: usize) -> Result<Vec<Entry>, Error> {
    client
        .query(
            "SELECT seq, queued_at, dossier FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &(limit as i64)],
        )
        .await
        .map_err(db("read the outbox"))?
        .iter()
        .map(entry)
        .collect()
}

/// See [`crate::Store::outbox_depth`].
pub(super) async fn depth(client: &Client) -> Result<Depth, Error> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM outbox), (SELECT min(queued_at) FROM outbox),
                    (SELECT count(*) FROM outbox_dead)",
            &[],
        )
        .await
        .map_err(db("read the outbox depth"))?;
    Ok(Depth {
        waiting: row.get::<_, i64>(0) as u64,
        oldest: row.get(1),
        dead: row.get::<_, i64>(2) as u64,
    })
}

/// See [`crate::Store::dead_letters`].
pub(super) async fn dead_letters(client: &Client) -> Result<Vec<(Entry, String)>, Error> {
    client
        .query(
            "SELECT seq, queued_at, dossier, reason FROM outbox_dead ORDER BY seq",
            &[],
        )
        .await
        .map_err(db("read the dead letters"))?
        .iter()
        .map(|row| Ok((entry(row)?, row.get(3))))
        .collect()
}

/// See [`crate::Store::inbound_cursor`].
pub(super) async fn inbound_cursor(client: &Client) -> Result<String, Error> {
    Ok(client
        .query_one("SELECT cursor FROM inbound_meta", &[])
        .await
        .map_err(db("read the portal cursor"))?
        .get(0))
}

/// See [`crate::Store::inbound_head`].
pub(super) async fn inbound_head(client: &Client) -> Result<u64, Error> {
    Ok(client
        .query_one("SELECT head FROM inbound_meta", &[])
        .await
        .map_err(db("read the inbound head"))?
        .get::<_, i64>(0) as u64)
}

/// See [`crate::Store::inbound`].
pub(super) async fn inbound(
    client: &Client,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, Dossier)>, Error> {
    client
        .query(
            "SELECT seq, dossier FROM inbound WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &(limit as i64)],
        )
        .await
        .map_err(db("read inbound dossiers"))?
        .iter()
        .map(|row| {
            let seq: i64 = row.get(0);
            Ok((
                seq as u64,
                decode(&format!("inbound dossier {seq}"), row.get(1))?,
            ))
        })
        .collect()
}
