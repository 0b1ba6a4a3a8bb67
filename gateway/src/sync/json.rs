//! Dossiers in JSON: what `lienthong client dossier` prints and what a dossier
//! archive holds, one object per line.

use lienthong_proto::v1::{Channel, Dossier, DossierStatus, SyncStatus};
use serde_json::{Value, json};

/// A time of a register or a dossier (kept to the second) in JSON: RFC 3339, or
/// null.
pub fn date_time(t: Option<&lienthong_proto::prost_types::Timestamp>) -> Value {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::from)
}

/// The JSON form of a dossier: what `lienthong client dossier` prints, and a line
/// of a dossier archive.
pub fn dossier(d: &Dossier) -> Value {
    let sync = d.sync.as_ref().map_or(Value::Null, |s| {
        json!({
            "status": SyncStatus::try_from(s.status).map(|s| s.as_str_name()).unwrap_or_default(),
            "attempts": s.attempts,
            "last_error": s.last_error,
            "last_delivered_revision": s.last_delivered_revision,
        })
    });
    let mut v = json!({
        "dossier_code": d.dossier_code,
        "procedure_code": d.procedure_code,
        "procedure_name": d.procedure_name,
        "agency_code": d.agency_code,
        "applicant_name": d.applicant_name,
        "applicant_personal_id": d.applicant_personal_id,
        "channel": Channel::try_from(d.channel).map(|c| c.as_str_name()).unwrap_or_default(),
        "status": DossierStatus::try_from(d.status).map(|s| s.as_str_name()).unwrap_or_default(),
        "submitted_at": date_time(d.submitted_at.as_ref()),
        "received_at": date_time(d.received_at.as_ref()),
        "due_at": date_time(d.due_at.as_ref()),
        "completed_at": date_time(d.completed_at.as_ref()),
        "returned_at": date_time(d.returned_at.as_ref()),
        "revision": d.revision,
        "sync": sync,
    });
    if let Some(step) = &d.step {
        v["step"] = json!({
            "handler": step.handler,
            "note": step.note,
            "at": date_time(step.at.as_ref()),
        });
    }
    if !d.archived_in.is_empty() {
        v["archived_in"] = Value::String(d.archived_in.clone());
    }
    v
}
