//! The canonical encoding of an audit record and the hash chain over it.
//!
//! `hash = SHA-256(prev_hash ‖ canonical(record))`, with 32 zero bytes as the
//! `prev_hash` of record 1. The encoding is specified in `docs/AUDIT.md` so that an
//! inspector can recompute every hash without this code: a version byte, then each
//! field in a fixed order, integers big-endian, strings as a 4-byte big-endian length
//! and their UTF-8 bytes, a list as a 4-byte count and its strings.

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{AuditRecord, Decision};
use sha2::{Digest, Sha256};

/// The version byte that starts every canonical encoding.
pub const ENCODING_VERSION: u8 = 1;

/// The `prev_hash` of the first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// Longest string kept in a record field: invalid requests may carry anything, and
/// a bounded record is enough to see what was sent.
pub const MAX_FIELD_CHARS: usize = 256;

/// The canonical bytes of `record` (everything except `prev_hash` and `hash`).
pub fn canonical(record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    feed(record, &mut |bytes| out.extend_from_slice(bytes));
    out
}

/// Hands the canonical bytes of `record` to `put`, piece by piece, so that the
/// hash is computed without building them.
fn feed(record: &AuditRecord, put: &mut impl FnMut(&[u8])) {
    put(&[ENCODING_VERSION]);
    put(&record.seq.to_be_bytes());
    put(&micros(record.at.as_ref()).to_be_bytes());
    for s in [
        &record.request_id,
        &record.agency_code,
        &record.certificate_fingerprint,
        &record.officer_id,
        &record.operation,
        &record.subject_personal_id,
        &record.purpose,
        &record.legal_basis,
        &record.case_ref,
    ] {
        string(put, s);
    }
    put(&[u8::try_from(record.decision).unwrap_or(0)]);
    string(put, &record.reason);
    put(&record.outcome.to_be_bytes());
    put(&(record.fields_released.len() as u32).to_be_bytes());
    for field in &record.fields_released {
        string(put, field);
    }
    string(put, &record.cache);
    // Added after version 1's first records: written only when set, so a record
    // without one encodes exactly as it always did.
    if !record.trace_id.is_empty() {
        string(put, &record.trace_id);
    }
}

fn string(put: &mut impl FnMut(&[u8]), s: &str) {
    put(&(s.len() as u32).to_be_bytes());
    put(s.as_bytes());
}

/// `SHA-256(prev ‖ canonical(record))`.
pub fn hash(prev: &[u8], record: &AuditRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    feed(record, &mut |bytes| h.update(bytes));
    h.finalize().into()
}

/// Microseconds since the Unix epoch (the precision records keep).
pub fn micros(at: Option<&Timestamp>) -> i64 {
    at.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// The timestamp of `micros` microseconds since the Unix epoch.
pub fn timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Cuts `s` to [`MAX_FIELD_CHARS`] characters (in place when it is owned).
pub fn bounded(s: impl Into<String>) -> String {
    let mut s = s.into();
    if let Some((end, _)) = s.char_indices().nth(MAX_FIELD_CHARS) {
        s.truncate(end);
    }
    s
}

/// The decision's name in exports and tables.
pub fn decision_name(decision: i32) -> &'static str {
    match Decision::try_from(decision) {
        Ok(Decision::Granted) => "granted",
        Ok(Decision::Denied) => "denied",
        Ok(Decision::Invalid) => "invalid",
        _ => "unspecified",
    }
}

/// The decision called `name` (as [`decision_name`] writes it).
pub fn decision_of(name: &str) -> Option<Decision> {
    match name {
        "granted" => Some(Decision::Granted),
        "denied" => Some(Decision::Denied),
        "invalid" => Some(Decision::Invalid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 1,
            at: Some(timestamp(1_795_000_000_123_456)),
            agency_code: "H99.01".into(),
            operation: "IdentityService/GetCitizen".into(),
            subject_personal_id: "001085012345".into(),
            decision: Decision::Granted as i32,
            fields_released: vec!["citizen.full_name".into()],
            request_id: "r".into(),
            ..Default::default()
        }
    }

    #[test]
    fn encoding_is_the_documented_layout() {
        let bytes = canonical(&record());
        assert_eq!(bytes[0], ENCODING_VERSION);
        assert_eq!(&bytes[1..9], &1u64.to_be_bytes());
        assert_eq!(&bytes[9..17], &1_795_000_000_123_456i64.to_be_bytes());
        // request_id "r": length 1, then the byte
        assert_eq!(&bytes[17..22], &[0, 0, 0, 1, b'r']);
        // the known answer, so that a change of layout cannot pass unnoticed;
        // docs/AUDIT.md shows a Python re-implementation producing the same hash
        let h = hash(&GENESIS, &record());
        assert_eq!(
            crate::audit::hex(&h),
            "548ad99f3fc5bcd77fa789e62dd0d0cbc0e4758193a539554f40a97382579b68"
        );
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = hash(&GENESIS, &record());
        let edits: Vec<fn(&mut AuditRecord)> = vec![
            |r| r.seq = 2,
            |r| r.at = Some(timestamp(1_795_000_000_123_457)),
            |r| r.agency_code.push('1'),
            |r| r.certificate_fingerprint.push('a'),
            |r| r.officer_id.push('x'),
            |r| r.operation.push('x'),
            |r| r.subject_personal_id = "001085012346".into(),
            |r| r.purpose.push('x'),
            |r| r.legal_basis.push('x'),
            |r| r.case_ref.push('x'),
            |r| r.decision = Decision::Denied as i32,
            |r| r.reason.push('x'),
            |r| r.outcome = 7,
            |r| r.fields_released.push("citizen.religion".into()),
            |r| r.cache.push('x'),
            |r| r.request_id.push('x'),
            |r| r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        ];
        for (i, edit) in edits.into_iter().enumerate() {
            let mut r = record();
            edit(&mut r);
            assert_ne!(hash(&GENESIS, &r), base, "edit {i}");
        }
        // moving a byte from one field to its neighbour changes it too (lengths are encoded)
        let mut a = record();
        a.purpose = "ab".into();
        a.legal_basis = "c".into();
        let mut b = record();
        b.purpose = "a".into();
        b.legal_basis = "bc".into();
        assert_ne!(hash(&GENESIS, &a), hash(&GENESIS, &b));
        assert_ne!(hash(&[1; 32], &record()), base);
    }

    #[test]
    fn a_trace_id_is_encoded_only_when_set() {
        // Without one, the bytes (and the known answer above) are as before.
        let mut r = record();
        let without = canonical(&r);
        r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".into();
        let with = canonical(&r);
        assert_eq!(&with[..without.len()], &without[..]);
        assert_eq!(
            &with[without.len()..without.len() + 4],
            &32u32.to_be_bytes()
        );
        assert_eq!(&with[without.len() + 4..], r.trace_id.as_bytes());
        assert_eq!(
            crate::audit::hex(&hash(&GENESIS, &r)),
            "4f53b0fd0f792ddcba3e1fbae4723f5b2dfb18ae88133dae810d1cfeca418ff8"
        );
    }

    #[test]
    fn fields_are_bounded_on_char_boundaries() {
        assert_eq!(bounded("abc"), "abc");
        let long = "ệ".repeat(300);
        assert_eq!(bounded(&long).chars().count(), MAX_FIELD_CHARS);
        assert_eq!(micros(Some(&timestamp(-1))), -1);
    }
}
