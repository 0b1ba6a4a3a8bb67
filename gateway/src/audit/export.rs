//! Exports: the log as JSON lines, for an inspector outside the gateway.
//!
//! Each line is `{"record": {...}}` or `{"checkpoint": {...}}`; hashes, signatures
//! and keys are lowercase hex, times RFC 3339 in UTC with exactly six fractional
//! digits (the microseconds the hash covers). An export ends with a checkpoint
//! signed over its last record, so cutting lines off its end is detected too.

use std::io::BufRead;

use lienthong_proto::v1::{AuditRecord, Checkpoint, VerifyAuditResponse};
use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::record::{decision_name, decision_of, micros, timestamp};
use super::verify::Verifier;
use super::{Item, hex, unhex};
use crate::Error;

const RFC3339_MICROS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// One line of an export.
// Items are moved one at a time through a walk, never stored in bulk: boxing the
// larger variant would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Record(RecordLine),
    Checkpoint(CheckpointLine),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine {
    seq: u64,
    at: String,
    agency_code: String,
    certificate_fingerprint: String,
    officer_id: String,
    operation: String,
    subject_personal_id: String,
    purpose: String,
    legal_basis: String,
    case_ref: String,
    decision: String,
    reason: String,
    outcome: u32,
    fields_released: Vec<String>,
    cache: String,
    request_id: String,
    /// Absent from lines of records without one (and from older exports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    trace_id: String,
    prev_hash: String,
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointLine {
    seq: u64,
    hash: String,
    at: String,
    signature: String,
    public_key: String,
    /// The Merkle root (hex) and the signed note; absent from checkpoints from
    /// before the tree (and from older exports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    root: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    note: String,
}

/// The RFC 3339 form of a record time.
pub fn format_time(micros_at: i64) -> String {
    let t = timestamp(micros_at);
    time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
    )
    .ok()
    .and_then(|t| t.format(RFC3339_MICROS).ok())
    .unwrap_or_default()
}

fn parse_time(s: &str) -> Result<i64, String> {
    let t = time::PrimitiveDateTime::parse(s, RFC3339_MICROS)
        .map_err(|e| format!("time {s:?}: {e}"))?
        .assume_utc();
    Ok((t.unix_timestamp_nanos() / 1_000) as i64)
}

fn bytes(s: &str, what: &str) -> Result<Vec<u8>, String> {
    unhex(s).ok_or_else(|| format!("{what} is not hex"))
}

/// The JSON line of `item` (no newline).
pub fn to_line(item: &Item) -> String {
    let line = match item {
        Item::Record(r) => Line::Record(RecordLine {
            seq: r.seq,
            at: format_time(micros(r.at.as_ref())),
            agency_code: r.agency_code.clone(),
            certificate_fingerprint: r.certificate_fingerprint.clone(),
            officer_id: r.officer_id.clone(),
            operation: r.operation.clone(),
            subject_personal_id: r.subject_personal_id.clone(),
            purpose: r.purpose.clone(),
            legal_basis: r.legal_basis.clone(),
            case_ref: r.case_ref.clone(),
            decision: decision_name(r.decision).into(),
            reason: r.reason.clone(),
            outcome: r.outcome,
            fields_released: r.fields_released.clone(),
            cache: r.cache.clone(),
            request_id: r.request_id.clone(),
            trace_id: r.trace_id.clone(),
            prev_hash: hex(&r.prev_hash),
            hash: hex(&r.hash),
        }),
        Item::Checkpoint(c) => Line::Checkpoint(CheckpointLine {
            seq: c.seq,
            hash: hex(&c.hash),
            at: format_time(micros(c.at.as_ref())),
            signature: hex(&c.signature),
            public_key: hex(&c.public_key),
            root: hex(&c.root),
            note: c.note.clone(),
        }),
    };
    serde_json::to_string(&line).expect("plain data serializes")
}

/// The item on a JSON line.
pub fn from_line(text: &str) -> Result<Item, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(match line {
        Line::Record(r) => Item::Record(AuditRecord {
            seq: r.seq,
            at: Some(timestamp(parse_time(&r.at)?)),
            decision: decision_of(&r.decision).ok_or_else(|| {
                format!(
                    "decision {:?} is not granted, denied or invalid",
                    r.decision
                )
            })? as i32,
            prev_hash: bytes(&r.prev_hash, "prev_hash")?,
            hash: bytes(&r.hash, "hash")?,
            agency_code: r.agency_code,
            certificate_fingerprint: r.certificate_fingerprint,
            officer_id: r.officer_id,
            operation: r.operation,
            subject_personal_id: r.subject_personal_id,
            purpose: r.purpose,
            legal_basis: r.legal_basis,
            case_ref: r.case_ref,
            reason: r.reason,
            outcome: r.outcome,
            fields_released: r.fields_released,
            cache: r.cache,
            request_id: r.request_id,
            trace_id: r.trace_id,
        }),
        Line::Checkpoint(c) => Item::Checkpoint(Checkpoint {
            seq: c.seq,
            hash: bytes(&c.hash, "hash")?,
            at: Some(timestamp(parse_time(&c.at)?)),
            signature: bytes(&c.signature, "signature")?,
            public_key: bytes(&c.public_key, "public_key")?,
            root: bytes(&c.root, "root")?,
            note: c.note,
        }),
    })
}

/// Verifies an export against the trusted public key: the chain from its first
/// record, every checkpoint in it, and the signed checkpoint that must end it.
pub fn verify(reader: impl BufRead, trusted: &[u8]) -> Result<VerifyAuditResponse, Error> {
    let mut verifier: Option<Verifier> = None;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::Audit(format!("read export: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let item =
            from_line(&line).map_err(|e| Error::Audit(format!("export line {}: {e}", n + 1)))?;
        let v = verifier.get_or_insert_with(|| {
            let from = match &item {
                Item::Record(r) => r.seq,
                Item::Checkpoint(c) => c.seq + 1,
            };
            Verifier::new(trusted, from)
        });
        let going = match &item {
            Item::Record(r) => v.record(r),
            Item::Checkpoint(c) => v.checkpoint(c),
        };
        if !going {
            break;
        }
    }
    Ok(verifier
        .unwrap_or_else(|| Verifier::new(trusted, 1))
        .finish(true))
}
