//! Removing what was archived from the PostgreSQL ledger, a short transaction at a
//! time so that the replicas' appends hardly wait.

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

/// See [`crate::Store::audit_remove`]. The head row is not locked: the records
/// removed are all below the head, which appends never touch.
pub(super) async fn remove(client: &Client, upto: u64, limit: usize) -> Result<u64, Error> {
    let row = client
        .query_one(
            "WITH doomed AS (
               SELECT seq FROM audit_records
                WHERE seq <= $1 AND seq < (SELECT seq FROM audit_head)
                ORDER BY seq LIMIT $2),
             gone AS (
               DELETE FROM audit_records WHERE seq IN (SELECT seq FROM doomed)
               RETURNING seq),
             signed AS (
               DELETE FROM audit_checkpoints
                WHERE seq <= (SELECT coalesce(max(seq), 0) FROM doomed))
             SELECT count(*) FROM gone",
            &[&(upto.min(i64::MAX as u64) as i64), &(limit as i64)],
        )
        .await
        .map_err(db("remove archived records"))?;
    Ok(row.get::<_, i64>(0) as u64)
}
