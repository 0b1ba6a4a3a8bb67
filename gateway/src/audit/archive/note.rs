//! The records that say what left the live log: an archive written (and its
//! records removed from the live store), or an archive deleted at the end of its
//! retention. They are ordinary records of the chain, so they are signed and
//! verified like any other; `docs/AUDIT.md` lists their fields.

use lienthong_proto::v1::{AuditRecord, Decision};

use super::super::{hex, unhex};

/// The operation of a record that notes an archive.
pub const ARCHIVED: &str = "AuditLog/Archived";
/// The operation of a record that notes an archive deleted for good.
pub const EXPIRED: &str = "AuditLog/Expired";

/// Who had the log archived: the operator's agency and certificate online, the
/// schedule or the offline command otherwise.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The agency code (empty for the gateway itself).
    pub agency_code: String,
    /// Its certificate's fingerprint (empty offline).
    pub certificate_fingerprint: String,
    /// The request that asked (empty for the schedule).
    pub request_id: String,
    /// Why: `schedule`, `operator`, `offline`.
    pub purpose: String,
}

/// What a note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// [`ARCHIVED`] or [`EXPIRED`].
    pub expired: bool,
    /// The archive's file name.
    pub file: String,
    /// The first and last record it holds.
    pub first: u64,
    /// See `first`.
    pub last: u64,
    /// The last record's hash.
    pub last_hash: [u8; 32],
    /// The file's SHA-256 (archives only).
    pub sha256: Option<[u8; 32]>,
}

impl Note {
    /// The record that notes this (its seq, time and hashes set by the writer).
    pub fn record(&self, by: &Actor) -> AuditRecord {
        let mut reason = format!(
            "first={} last={} count={} last_hash={}",
            self.first,
            self.last,
            self.last - self.first + 1,
            hex(&self.last_hash)
        );
        if let Some(sha) = &self.sha256 {
            reason.push_str(&format!(" sha256={}", hex(sha)));
        }
        AuditRecord {
            request_id: by.request_id.clone(),
            agency_code: by.agency_code.clone(),
            certificate_fingerprint: by.certificate_fingerprint.clone(),
            operation: (if self.expired { EXPIRED } else { ARCHIVED }).into(),
            purpose: by.purpose.clone(),
            case_ref: self.file.clone(),
            decision: Decision::Granted as i32,
            reason,
            ..AuditRecord::default()
        }
    }

    /// The note `r` is, if it is one.
    pub fn of(r: &AuditRecord) -> Option<Note> {
        let expired = match r.operation.as_str() {
            ARCHIVED => false,
            EXPIRED => true,
            _ => return None,
        };
        let field = |key: &str| {
            r.reason
                .split(' ')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let hash = |key: &str| -> Option<[u8; 32]> { unhex(field(key)?)?.try_into().ok() };
        Some(Note {
            expired,
            file: r.case_ref.clone(),
            first: field("first")?.parse().ok()?,
            last: field("last")?.parse().ok()?,
            last_hash: hash("last_hash")?,
            sha256: if expired { None } else { Some(hash("sha256")?) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_reads_back_as_written() {
        let note = Note {
            expired: false,
            file: super::super::files::name(1, 5000),
            first: 1,
            last: 5000,
            last_hash: [7; 32],
            sha256: Some([9; 32]),
        };
        let r = note.record(&Actor::default());
        assert!(r.reason.len() <= crate::audit::record::MAX_FIELD_CHARS);
        assert_eq!(Note::of(&r), Some(note.clone()));
        let expired = Note {
            expired: true,
            sha256: None,
            ..note
        };
        assert_eq!(Note::of(&expired.record(&Actor::default())), Some(expired));
        let mut other = r;
        other.operation = "IdentityService/GetCitizen".into();
        assert_eq!(Note::of(&other), None);
    }
}
