//! Work shared between replicas on PostgreSQL: outbox claims and leases (whose
//! times are the database's clock, so replicas' clocks do not matter), requeued
//! dead letters, and the inbound feed.

use std::collections::BTreeMap;
use std::time::Duration;

use lienthong_proto::v1::Dossier;
use prost::Message;
use tokio_postgres::Client;

use super::db;
use super::read::entry;
use crate::{Entry, Error, dossier};

fn micros(d: Duration) -> i64 {
    d.as_micros().min(i64::MAX as u128) as i64
}

/// See [`crate::Store::claim`].
pub(super) async fn claim(
    client: &mut Client,
    owner: &str,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Entry>, Error> {
    let lease = micros(lease);
    let txn = client.transaction().await.map_err(db("claim deliveries"))?;
    // Let go of what is done or held back (and clear such claims of owners whose
    // lease ran out), then renew the rest.
    txn.execute(
        "DELETE FROM outbox_claims c WHERE (c.owner = $1 OR c.until_micros <= now_micros())
           AND (NOT EXISTS (SELECT 1 FROM outbox o WHERE o.code = c.code)
                OR EXISTS (SELECT 1 FROM outbox_dead d WHERE d.code = c.code))",
        &[&owner],
    )
    .await
    .map_err(db("claim deliveries"))?;
    let mut held: Vec<String> = txn
        .query(
            "UPDATE outbox_claims SET until_micros = now_micros() + $2 WHERE owner = $1
             RETURNING code",
            &[&owner, &lease],
        )
        .await
        .map_err(db("claim deliveries"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let budget = limit.saturating_sub(held.len()) as i64;
    if budget > 0 {
        // Heads only, oldest first, walking the outbox in order (and stopping once
        // `budget` are found) rather than grouping all of it.
        // Of two replicas after the same free dossier, the second's insert meets
        // the first's row and its update finds the lease live: only one gets it.
        let taken = txn
            .query(
                "WITH candidates AS (
                   SELECT o.code FROM outbox o
                   WHERE NOT EXISTS (SELECT 1 FROM outbox p WHERE p.code = o.code AND p.seq < o.seq)
                     AND NOT EXISTS (SELECT 1 FROM outbox_dead d WHERE d.code = o.code)
                     AND NOT EXISTS (SELECT 1 FROM outbox_claims c WHERE c.code = o.code
                                     AND (c.owner = $1 OR c.until_micros > now_micros()))
                   ORDER BY o.seq LIMIT $3)
                 INSERT INTO outbox_claims (code, owner, until_micros)
                 SELECT code, $1, now_micros() + $2 FROM candidates
                 ON CONFLICT (code) DO UPDATE
                   SET owner = EXCLUDED.owner, until_micros = EXCLUDED.until_micros
                   WHERE outbox_claims.until_micros <= now_micros()
                 RETURNING code",
                &[&owner, &lease, &budget],
            )
            .await
            .map_err(db("claim deliveries"))?;
        held.extend(taken.iter().map(|r| r.get::<_, String>(0)));
    }
    let mut heads = txn
        .query(
            "SELECT DISTINCT ON (code) seq, queued_at, dossier FROM outbox
             WHERE code = ANY($1) ORDER BY code, seq",
            &[&held],
        )
        .await
        .map_err(db("claim deliveries"))?
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?;
    txn.commit().await.map_err(db("claim deliveries"))?;
    heads.sort_by_key(|e| e.seq);
    Ok(heads)
}

/// See [`crate::Store::release`].
pub(super) async fn release(client: &Client, owner: &str) -> Result<(), Error> {
    client
        .execute("DELETE FROM outbox_claims WHERE owner = $1", &[&owner])
        .await
        .map_err(db("release claims"))?;
    client
        .execute("DELETE FROM leases WHERE owner = $1", &[&owner])
        .await
        .map_err(db("release leases"))?;
    Ok(())
}

/// See [`crate::Store::lease`].
pub(super) async fn lease(
    client: &Client,
    name: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let row = client
        .query_opt(
            "INSERT INTO leases (name, owner, until_micros) VALUES ($1, $2, now_micros() + $3)
             ON CONFLICT (name) DO UPDATE
               SET owner = EXCLUDED.owner, until_micros = EXCLUDED.until_micros
               WHERE leases.owner = EXCLUDED.owner OR leases.until_micros <= now_micros()
             RETURNING owner",
            &[&name, &owner, &micros(lease)],
        )
        .await
        .map_err(db("take a lease"))?;
    Ok(row.is_some())
}

/// See [`crate::Store::retry_dead`]: under the head's lock, like every dossier
/// write.
pub(super) async fn retry_dead(client: &mut Client, code: Option<&str>) -> Result<u64, Error> {
    let txn = client
        .transaction()
        .await
        .map_err(db("requeue dead letters"))?;
    txn.execute("SELECT 1 FROM audit_head FOR UPDATE", &[])
        .await
        .map_err(db("requeue dead letters"))?;
    let dead = txn
        .query(
            "DELETE FROM outbox_dead WHERE $1::text IS NULL OR code = $1
             RETURNING seq, queued_at, dossier",
            &[&code],
        )
        .await
        .map_err(db("requeue dead letters"))?;
    let mut held: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for row in &dead {
        let e = entry(row)?;
        held.entry(e.code().to_owned()).or_default().push(e);
    }
    let codes: Vec<&str> = held.keys().map(String::as_str).collect();
    let behind = txn
        .query(
            "DELETE FROM outbox WHERE code = ANY($1) RETURNING seq, queued_at, dossier",
            &[&codes],
        )
        .await
        .map_err(db("requeue dead letters"))?;
    for row in &behind {
        let e = entry(row)?;
        held.entry(e.code().to_owned()).or_default().push(e);
    }
    let mut requeued = 0;
    for (code, mut entries) in held {
        entries.sort_by_key(Entry::revision);
        let values: Vec<Vec<u8>> = entries.iter().map(|e| e.dossier.encode_to_vec()).collect();
        let queued: Vec<i64> = entries.iter().map(|e| e.queued_at).collect();
        txn.execute(
            "INSERT INTO outbox (seq, code, queued_at, dossier)
             SELECT nextval('outbox_seq'), $1, q, d FROM unnest($2::int8[], $3::bytea[]) AS u(q, d)",
            &[&code, &queued, &values],
        )
        .await
        .map_err(db("requeue dead letters"))?;
        requeued += entries.len() as u64;
        if let Some(row) = txn
            .query_opt("SELECT dossier FROM dossiers WHERE code = $1", &[&code])
            .await
            .map_err(db("requeue dead letters"))?
        {
            let mut d = Dossier::decode(row.get::<_, &[u8]>(0))
                .map_err(|e| Error::corrupt(&format!("dossier {code}"), e))?;
            dossier::requeued(&mut d);
            txn.execute(
                "UPDATE dossiers SET dossier = $2 WHERE code = $1",
                &[&code, &d.encode_to_vec()],
            )
            .await
            .map_err(db("requeue dead letters"))?;
        }
    }
    txn.commit().await.map_err(db("requeue dead letters"))?;
    Ok(requeued)
}

/// See [`crate::Store::store_inbound`]: under the lock of the inbound row, so that
/// numbers are given in commit order; announced to every replica at commit.
pub(super) async fn store_inbound(
    client: &mut Client,
    dossiers: &[Dossier],
    cursor: &str,
) -> Result<(usize, u64), Error> {
    let txn = client
        .transaction()
        .await
        .map_err(db("store inbound dossiers"))?;
    let mut head = txn
        .query_one("SELECT head FROM inbound_meta FOR UPDATE", &[])
        .await
        .map_err(db("store inbound dossiers"))?
        .get::<_, i64>(0);
    let codes: Vec<&str> = dossiers.iter().map(|d| d.dossier_code.as_str()).collect();
    let known: std::collections::HashSet<String> = txn
        .query("SELECT code FROM inbound WHERE code = ANY($1)", &[&codes])
        .await
        .map_err(db("store inbound dossiers"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let (mut seqs, mut new_codes, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for d in dossiers {
        if known.contains(&d.dossier_code) || !seen.insert(d.dossier_code.as_str()) {
            continue;
        }
        head += 1;
        seqs.push(head);
        new_codes.push(d.dossier_code.as_str());
        values.push(d.encode_to_vec());
    }
    txn.execute(
        "INSERT INTO inbound (seq, code, dossier)
         SELECT * FROM unnest($1::int8[], $2::text[], $3::bytea[])",
        &[&seqs, &new_codes, &values],
    )
    .await
    .map_err(db("store inbound dossiers"))?;
    txn.execute(
        "UPDATE inbound_meta SET cursor = $1, head = $2",
        &[&cursor, &head],
    )
    .await
    .map_err(db("store inbound dossiers"))?;
    txn.execute("SELECT pg_notify('lienthong', 'inbound')", &[])
        .await
        .map_err(db("store inbound dossiers"))?;
    txn.commit().await.map_err(db("store inbound dossiers"))?;
    Ok((seqs.len(), head as u64))
}
