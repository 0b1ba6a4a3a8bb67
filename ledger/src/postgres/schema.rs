//! The ledger's schema in PostgreSQL, created and migrated by the gateway itself.
//!
//! Everything lives in the schema `lienthong`. Migrations are numbered and applied
//! in order, each once, in one transaction under an advisory lock: replicas that
//! start together wait for each other, and the first applies what is missing. A
//! database migrated by a newer lienthong is refused rather than misread.

use tokio_postgres::Client;

use super::db;
use crate::Error;

/// The advisory lock taken while migrating ("lienthong" in ASCII, as a number).
const LOCK: i64 = 0x6c69_656e_7468_6f6e;

/// Each migration: its number and the SQL that takes the schema from the one before.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

/// The first schema.
///
/// - `audit_head`, one row: where the log ends. Every transaction that appends
///   records or changes dossiers locks it first, so that across replicas the chain
///   has one order and dossier writes one order (no deadlock can form).
/// - `audit_records`, `audit_checkpoints`: the records and the signed heads, as
///   protobuf, by sequence number; `at_micros` and `request_id` are kept beside the
///   record for lookups.
/// - `dossiers`, `outbox` (numbered by `outbox_seq`), `outbox_dead`: as in the
///   embedded ledger.
/// - `outbox_claims`: which replica delivers which dossier's entries, until when;
///   `leases`: single-holder roles such as the inbound poller.
/// - `inbound`, `inbound_meta`: the portal's online dossiers, numbered, and its
///   cursor with the last number.
/// - `cache_purges`: the operator's purges, for every replica's cache.
///
/// Times of leases are the database's (`now_micros()`), so that replicas' clocks
/// do not matter.
const V1: &str = r"
CREATE FUNCTION now_micros() RETURNS BIGINT LANGUAGE sql VOLATILE AS
  $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint $$;

CREATE TABLE audit_head (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  seq BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  at_micros BIGINT NOT NULL,
  checkpoint BIGINT NOT NULL
);
INSERT INTO audit_head VALUES (TRUE, 0, decode(repeat('00', 32), 'hex'), 0, 0);

CREATE TABLE audit_records (
  seq BIGINT PRIMARY KEY,
  at_micros BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  record BYTEA NOT NULL
);
CREATE INDEX audit_records_at ON audit_records (at_micros);
CREATE INDEX audit_records_request ON audit_records (request_id);

CREATE TABLE audit_checkpoints (
  seq BIGINT PRIMARY KEY,
  checkpoint BYTEA NOT NULL
);

CREATE TABLE dossiers (
  code TEXT PRIMARY KEY,
  dossier BYTEA NOT NULL
);

CREATE SEQUENCE outbox_seq;
CREATE TABLE outbox (
  seq BIGINT PRIMARY KEY,
  code TEXT NOT NULL,
  queued_at BIGINT NOT NULL,
  dossier BYTEA NOT NULL
);
CREATE INDEX outbox_code ON outbox (code, seq);

CREATE TABLE outbox_dead (
  seq BIGINT PRIMARY KEY,
  code TEXT NOT NULL,
  queued_at BIGINT NOT NULL,
  dossier BYTEA NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX outbox_dead_code ON outbox_dead (code);

CREATE TABLE outbox_claims (
  code TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until_micros BIGINT NOT NULL
);
CREATE INDEX outbox_claims_owner ON outbox_claims (owner);

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until_micros BIGINT NOT NULL
);

CREATE TABLE inbound (
  seq BIGINT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  dossier BYTEA NOT NULL
);
CREATE TABLE inbound_meta (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  cursor TEXT NOT NULL,
  head BIGINT NOT NULL
);
INSERT INTO inbound_meta VALUES (TRUE, '', 0);

CREATE TABLE cache_purges (
  seq BIGSERIAL PRIMARY KEY,
  personal_id TEXT NOT NULL,
  at_micros BIGINT NOT NULL
);
";

/// The dossiers' report fields ([`crate::dossier::facts`]) beside each dossier,
/// with the month of receipt (`yyyymm`) they are read by. A stub's are left as the
/// dossier's were; the dossiers held before are filled in by [`facts`] in the
/// same transaction.
const V2: &str = r"
ALTER TABLE dossiers ADD COLUMN month INT, ADD COLUMN facts BYTEA;
CREATE INDEX dossiers_month ON dossiers (month, code);
";

/// The subject index: each record's subject (the personal ID it is about, NULL
/// when none) beside it, indexed with its number, so that a citizen's records are
/// found without reading the log; filled in for the records held by [`subjects`].
const V3: &str = r"
ALTER TABLE audit_records ADD COLUMN subject TEXT;
CREATE INDEX audit_records_subject ON audit_records (subject, seq);
";

/// The Merkle tree over the records ([`super::tree`]): its tiles, and its size
/// and right edge beside the head; built for the records held by
/// [`super::tree::complete`] in the same transaction.
const V4: &str = r"
ALTER TABLE audit_head ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0,
                       ADD COLUMN tree BYTEA NOT NULL DEFAULT ''::bytea;
CREATE TABLE audit_tiles (
  level SMALLINT NOT NULL,
  idx BIGINT NOT NULL,
  hashes BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);
";

/// Witnesses' cosignatures of the checkpoints, by checkpoint and witness.
const V5: &str = r"
CREATE TABLE audit_cosignatures (
  seq BIGINT NOT NULL,
  witness TEXT NOT NULL,
  line TEXT NOT NULL,
  PRIMARY KEY (seq, witness)
);
";

/// Fills in the subjects of the records held, a chunk at a time.
async fn subjects(txn: &tokio_postgres::Transaction<'_>) -> Result<u64, Error> {
    use prost::Message;
    let (mut after, mut built) = (0i64, 0);
    loop {
        let rows = txn
            .query(
                "SELECT seq, record FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT 5000",
                &[&after],
            )
            .await
            .map_err(db("build the subject index"))?;
        let Some(last) = rows.last() else {
            return Ok(built);
        };
        after = last.get(0);
        let (mut seqs, mut subjects) = (Vec::new(), Vec::new());
        for row in &rows {
            let r = lienthong_proto::v1::AuditRecord::decode(row.get::<_, &[u8]>(1))
                .map_err(|e| Error::corrupt("audit record", e))?;
            if !r.subject_personal_id.is_empty() {
                seqs.push(row.get::<_, i64>(0));
                subjects.push(r.subject_personal_id);
            }
        }
        txn.execute(
            "UPDATE audit_records SET subject = v.subject
               FROM unnest($1::int8[], $2::text[]) AS v(seq, subject)
              WHERE audit_records.seq = v.seq",
            &[&seqs, &subjects],
        )
        .await
        .map_err(db("build the subject index"))?;
        built += seqs.len() as u64;
    }
}

/// Fills in the report fields of the dossiers that have none, a chunk at a time.
async fn facts(txn: &tokio_postgres::Transaction<'_>) -> Result<u64, Error> {
    use prost::Message;
    let mut built = 0;
    loop {
        let rows = txn
            .query(
                "SELECT code, dossier FROM dossiers WHERE facts IS NULL ORDER BY code LIMIT 2000",
                &[],
            )
            .await
            .map_err(db("build the dossiers' facts"))?;
        if rows.is_empty() {
            return Ok(built);
        }
        let mut codes = Vec::with_capacity(rows.len());
        let mut months = Vec::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let code: String = row.get(0);
            let d = lienthong_proto::v1::Dossier::decode(row.get::<_, &[u8]>(1))
                .map_err(|e| Error::corrupt(&format!("dossier {code}"), e))?;
            months.push(crate::dossier::month_of(&d) as i32);
            values.push(crate::dossier::facts(&d).encode_to_vec());
            codes.push(code);
        }
        txn.execute(
            "UPDATE dossiers SET month = v.month, facts = v.facts
               FROM unnest($1::text[], $2::int[], $3::bytea[]) AS v(code, month, facts)
              WHERE dossiers.code = v.code",
            &[&codes, &months, &values],
        )
        .await
        .map_err(db("build the dossiers' facts"))?;
        built += rows.len() as u64;
    }
}

/// The newest schema this build knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings the schema up to [`latest`]; the version it was at.
pub(super) async fn migrate(client: &mut Client) -> Result<i32, Error> {
    let txn = client
        .transaction()
        .await
        .map_err(db("begin the migration"))?;
    txn.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({LOCK});
         CREATE SCHEMA IF NOT EXISTS lienthong;
         SET LOCAL search_path TO lienthong;
         CREATE TABLE IF NOT EXISTS migrations (
           version INT PRIMARY KEY,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(db("prepare the migration"))?;
    let found: i32 = txn
        .query_one("SELECT coalesce(max(version), 0) FROM migrations", &[])
        .await
        .map_err(db("read the schema version"))?
        .get(0);
    if found > latest() {
        return Err(Error::Unavailable(format!(
            "the ledger's schema is at version {found}, written by a newer lienthong; \
             this one knows up to {}",
            latest()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        txn.batch_execute(sql)
            .await
            .map_err(db("migrate the ledger's schema"))?;
        if *version == 2 {
            let built = facts(&txn).await?;
            if built > 0 {
                tracing::info!(dossiers = built, "dossiers' report fields built");
            }
        }
        if *version == 3 {
            let built = subjects(&txn).await?;
            if built > 0 {
                tracing::info!(records = built, "audit subject index built");
            }
        }
        if *version == 4 {
            let built = super::tree::complete(&txn).await?;
            if built > 0 {
                tracing::info!(records = built, "audit Merkle tree built");
            }
        }
        txn.execute("INSERT INTO migrations (version) VALUES ($1)", &[version])
            .await
            .map_err(db("migrate the ledger's schema"))?;
        tracing::info!(version, "ledger schema migrated");
    }
    txn.commit().await.map_err(db("commit the migration"))?;
    Ok(found)
}
