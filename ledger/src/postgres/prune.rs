//! Removing what was archived from the PostgreSQL ledger, a short transaction at a
//! time so that the replicas' appends hardly wait.

use lienthong_proto::v1::Dossier;
use prost::Message;
use tokio_postgres::Client;

use super::db;
use crate::Error;

/// See [`crate::Store::audit_first`].
pub(super) async fn first(client: &Client) -> Result<u64, Error> {
    let row = client
        .query_one(
            "SELECT coalesce((SELECT min(seq) FROM audit_records),
                             (SELECT seq + 1 FROM audit_head))",
            &[],
        )
        .await
        .map_err(db("read the audit log"))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Taken by removals alone, so that two do not keep the same leaves at once
/// ("lienthong-prune" in ASCII, cut to a number).
const REMOVING: i64 = 0x6c69_656e_7072_756e;

/// See [`crate::Store::audit_remove`]: in one transaction, which keeps the
/// removed records' Merkle leaves as level-0 tiles ([`super::tree`]). Appends do
/// not wait for it: the records removed are all below the head, which appends
/// never touch, and appends write no level-0 tile.
pub(super) async fn remove(client: &mut Client, upto: u64, limit: usize) -> Result<u64, Error> {
    const CTX: &str = "remove archived records";
    let txn = client.transaction().await.map_err(db(CTX))?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&REMOVING])
        .await
        .map_err(db(CTX))?;
    let doomed = txn
        .query(
            "SELECT seq, record FROM audit_records
              WHERE seq <= $1 AND seq < (SELECT seq FROM audit_head)
              ORDER BY seq LIMIT $2",
            &[&(upto.min(i64::MAX as u64) as i64), &(limit as i64)],
        )
        .await
        .map_err(db(CTX))?;
    let (Some(first), Some(last)) = (doomed.first(), doomed.last()) else {
        return Ok(0);
    };
    let (first, last) = (first.get::<_, i64>(0), last.get::<_, i64>(0));
    if (last - first + 1) as usize != doomed.len() {
        return Err(Error::Corrupt(format!(
            "the audit log lacks records between {first} and {last}"
        )));
    }
    super::tree::keep_leaves(&txn, &doomed).await?;
    let row = txn
        .query_one(
            "WITH gone AS (
               DELETE FROM audit_records WHERE seq BETWEEN $1 AND $2 RETURNING seq),
             signed AS (
               DELETE FROM audit_checkpoints WHERE seq <= $2)
             SELECT count(*) FROM gone",
            &[&first, &last],
        )
        .await
        .map_err(db(CTX))?;
    txn.commit().await.map_err(db(CTX))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// See [`crate::Store::retire_dossiers`]: in one transaction that locks the
/// audit head first, as every dossier change does, so that no change slips in
/// between the check and the replacement.
pub(super) async fn retire(client: &mut Client, stubs: &[Dossier]) -> Result<u64, Error> {
    let txn = client.transaction().await.map_err(db("archive dossiers"))?;
    txn.execute("SELECT 1 FROM audit_head FOR UPDATE", &[])
        .await
        .map_err(db("archive dossiers"))?;
    let codes: Vec<&str> = stubs.iter().map(|s| s.dossier_code.as_str()).collect();
    let rows = txn
        .query(
            "SELECT code, dossier FROM dossiers WHERE code = ANY($1)",
            &[&codes],
        )
        .await
        .map_err(db("archive dossiers"))?;
    let (mut retired, mut values) = (Vec::new(), Vec::new());
    for row in rows {
        let code: &str = row.get(0);
        let current = Dossier::decode(row.get::<_, &[u8]>(1))
            .map_err(|e| Error::corrupt(&format!("dossier {code}"), e))?;
        if let Some(stub) = stubs.iter().find(|s| s.dossier_code == code)
            && crate::dossier::retirable(&current, stub)
        {
            retired.push(code.to_owned());
            values.push(stub.encode_to_vec());
        }
    }
    txn.execute(
        "UPDATE dossiers SET dossier = v.dossier
           FROM unnest($1::text[], $2::bytea[]) AS v(code, dossier)
          WHERE dossiers.code = v.code",
        &[&retired, &values],
    )
    .await
    .map_err(db("archive dossiers"))?;
    txn.commit().await.map_err(db("archive dossiers"))?;
    Ok(retired.len() as u64)
}
