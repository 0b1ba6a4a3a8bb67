//! The edge rules of dossier requests: every field checked, every violation named.

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Channel, Dossier, DossierStatus, UpdateDossierStatusRequest};
use lienthong_proto::{DossierCode, VIETNAM, dossier_status};

use crate::services::Violations;

/// Seconds a time may lie in the future (clock skew between systems).
const SKEW: i64 = 300;

fn date_in_vietnam(t: &Timestamp) -> Option<time::Date> {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .map(|t| t.to_offset(VIETNAM).date())
}

/// Checks a dossier being submitted; returns its parsed code when whole.
pub fn submitted(v: &mut Violations, d: &Dossier, now: i64) -> Option<DossierCode> {
    let code = match DossierCode::parse(&d.dossier_code) {
        Ok(c) => Some(c),
        Err(e) => {
            v.add(
                "dossier.dossier_code",
                format!("{e}; e.g. H15.50.05.13-261008-0975"),
            );
            None
        }
    };
    if let Some(c) = &code
        && c.agency().as_str() != d.agency_code
    {
        v.add(
            "dossier.agency_code",
            format!("must be {}, the agency in the dossier code", c.agency()),
        );
    }
    if !lienthong_proto::procedure_code::is_valid(&d.procedure_code) {
        v.add(
            "dossier.procedure_code",
            "must be a procedure code as published: 1.001193 (national) or 1.000948.H38 \
             (localised by a province)",
        );
    }
    v.text("dossier.procedure_name", &d.procedure_name, 300, false);
    v.text("dossier.applicant_name", &d.applicant_name, 200, true);
    applicant(v, d);
    if !matches!(
        Channel::try_from(d.channel),
        Ok(Channel::InPerson | Channel::Online | Channel::Postal)
    ) {
        v.add(
            "dossier.channel",
            "must be 1 (in person), 2 (online) or 3 (postal)",
        );
    }
    let status = DossierStatus::try_from(d.status).unwrap_or_default();
    if !dossier_status::INITIAL.contains(&status) {
        v.add(
            "dossier.status",
            "a dossier is submitted as 1 (registered) or 2 (accepted)",
        );
    }
    match &d.received_at {
        None => v.add("dossier.received_at", "is required"),
        Some(r) => {
            if r.seconds > now + SKEW {
                v.add("dossier.received_at", "is in the future");
            }
            if let Some(c) = &code
                && date_in_vietnam(r) != Some(c.received())
            {
                v.add(
                    "dossier.received_at",
                    format!(
                        "must fall on {} (Vietnam time), the date in the dossier code",
                        c.received()
                    ),
                );
            }
            if let Some(due) = &d.due_at
                && due.seconds < r.seconds
            {
                v.add("dossier.due_at", "must not be before received_at");
            }
            if let Some(sub) = &d.submitted_at
                && sub.seconds > r.seconds
            {
                v.add("dossier.submitted_at", "must not be after received_at");
            }
        }
    }
    if d.completed_at.is_some() || d.returned_at.is_some() {
        v.add(
            "dossier.completed_at",
            "a new dossier is neither completed nor returned",
        );
    }
    code
}

/// Checks who applies: a citizen by personal ID, an organisation by its tax code
/// (with its representative's personal ID, if given), a foreigner by passport and
/// nationality; and that nothing of another kind is filled in.
fn applicant(v: &mut Violations, d: &Dossier) {
    use lienthong_proto::applicant;
    use lienthong_proto::v1::ApplicantKind;
    let mut check = |field: &str, value: &str, rule: fn(&str) -> Result<(), String>| {
        if let Err(e) = rule(value) {
            v.add(field, e);
        }
    };
    let kind = ApplicantKind::try_from(d.applicant_kind);
    match kind {
        Ok(ApplicantKind::Unspecified | ApplicantKind::Citizen) => {}
        Ok(ApplicantKind::Organisation) => check(
            "dossier.applicant_tax_code",
            &d.applicant_tax_code,
            applicant::tax_code,
        ),
        Ok(ApplicantKind::Foreigner) => {
            check(
                "dossier.applicant_passport",
                &d.applicant_passport,
                applicant::passport,
            );
            check(
                "dossier.applicant_nationality",
                &d.applicant_nationality,
                applicant::nationality,
            );
        }
        Err(_) => v.add(
            "dossier.applicant_kind",
            "must be 1 (citizen), 2 (organisation) or 3 (foreigner)",
        ),
    }
    let (citizen, organisation, foreigner) = match kind {
        Ok(ApplicantKind::Organisation) => (false, true, false),
        Ok(ApplicantKind::Foreigner) => (false, false, true),
        _ => (true, false, false),
    };
    if citizen || (organisation && !d.applicant_personal_id.is_empty()) {
        v.personal_id("dossier.applicant_personal_id", &d.applicant_personal_id);
    }
    for (field, value, allowed, kind) in [
        (
            "dossier.applicant_personal_id",
            &d.applicant_personal_id,
            !foreigner,
            "a foreigner",
        ),
        (
            "dossier.applicant_tax_code",
            &d.applicant_tax_code,
            organisation,
            "this applicant",
        ),
        (
            "dossier.applicant_passport",
            &d.applicant_passport,
            foreigner,
            "this applicant",
        ),
        (
            "dossier.applicant_nationality",
            &d.applicant_nationality,
            foreigner,
            "this applicant",
        ),
    ] {
        if !allowed && !value.is_empty() {
            v.add(
                field,
                format!("must be empty for {kind} (see applicant_kind)"),
            );
        }
    }
}

/// Checks a status change; returns the dossier code and the status asked for.
pub fn update(
    v: &mut Violations,
    req: &UpdateDossierStatusRequest,
    now: i64,
) -> (Option<DossierCode>, DossierStatus) {
    let code = self::code(v, "dossier_code", &req.dossier_code);
    let status = match DossierStatus::try_from(req.status) {
        Ok(s) if s != DossierStatus::Unspecified => s,
        _ => {
            v.add("status", "must be a status from 1 to 10");
            DossierStatus::Unspecified
        }
    };
    if req.expected_revision == 0 {
        v.add(
            "expected_revision",
            "is required: the revision the change is made from",
        );
    }
    v.text("handler", &req.handler, 64, true);
    v.text("note", &req.note, 1000, false);
    if req.at.as_ref().is_some_and(|t| t.seconds > now + SKEW) {
        v.add("at", "is in the future");
    }
    if req.due_at.is_some() && req.note.trim().is_empty() {
        v.add(
            "note",
            "is required with a new due_at: the reason given to the applicant",
        );
    }
    (code, status)
}

/// Checks a dossier code field.
pub fn code(v: &mut Violations, field: &str, value: &str) -> Option<DossierCode> {
    DossierCode::parse(value)
        .map_err(|e| v.add(field, format!("{e}; e.g. H15.50.05.13-261008-0975")))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Dossier {
        use lienthong_adapters::sim::dossiers::{RECEIVED, dossier};
        dossier("H99.01-261122-0001", DossierStatus::Accepted, RECEIVED)
    }

    fn fields(d: &Dossier) -> Vec<String> {
        let mut v = Violations::default();
        submitted(&mut v, d, 1_795_400_000);
        v.0.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn submissions_table() {
        assert!(fields(&good()).is_empty(), "{:?}", fields(&good()));
        let at = |s| {
            Some(Timestamp {
                seconds: s,
                nanos: 0,
            })
        };
        let table: Vec<(Dossier, &str)> = vec![
            (
                Dossier {
                    dossier_code: "H99.01-261122-01".into(),
                    ..good()
                },
                "dossier.dossier_code",
            ),
            (
                Dossier {
                    agency_code: "H99.02".into(),
                    ..good()
                },
                "dossier.agency_code",
            ),
            (
                Dossier {
                    procedure_code: "TTHC-1".into(),
                    ..good()
                },
                "dossier.procedure_code",
            ),
            (
                Dossier {
                    applicant_name: " ".into(),
                    ..good()
                },
                "dossier.applicant_name",
            ),
            (
                Dossier {
                    applicant_personal_id: "0010850123".into(),
                    ..good()
                },
                "dossier.applicant_personal_id",
            ),
            (
                Dossier {
                    channel: 4,
                    ..good()
                },
                "dossier.channel",
            ),
            (
                Dossier {
                    status: 4,
                    ..good()
                },
                "dossier.status",
            ),
            (
                Dossier {
                    received_at: None,
                    ..good()
                },
                "dossier.received_at",
            ),
            // a day later than the code says
            (
                Dossier {
                    received_at: at(1_795_309_200 + 86_400),
                    ..good()
                },
                "dossier.received_at",
            ),
            (
                Dossier {
                    due_at: at(1_795_309_200 - 1),
                    ..good()
                },
                "dossier.due_at",
            ),
            (
                Dossier {
                    submitted_at: at(1_795_309_200 + 1),
                    ..good()
                },
                "dossier.submitted_at",
            ),
            (
                Dossier {
                    completed_at: at(1_795_309_200),
                    ..good()
                },
                "dossier.completed_at",
            ),
        ];
        for (d, field) in table {
            assert_eq!(fields(&d), [field], "{field}");
        }
    }

    #[test]
    fn the_receipt_date_is_judged_in_vietnam() {
        // 2026-11-21 23:30 UTC is already 2026-11-22 in Vietnam
        let d = Dossier {
            received_at: Some(Timestamp {
                seconds: 1_795_303_800,
                nanos: 0,
            }),
            ..good()
        };
        assert!(fields(&d).is_empty(), "{:?}", fields(&d));
    }

    #[test]
    fn updates_table() {
        let now = 1_795_400_000;
        let check = |code: &str, status: i32, rev: u64, handler: &str, at: Option<i64>| {
            let mut v = Violations::default();
            let req = UpdateDossierStatusRequest {
                dossier_code: code.into(),
                status,
                expected_revision: rev,
                handler: handler.into(),
                note: String::new(),
                at: at.map(|s| Timestamp {
                    seconds: s,
                    nanos: 0,
                }),
                due_at: None,
            };
            update(&mut v, &req, now);
            v.0.into_iter().map(|f| f.field).collect::<Vec<_>>()
        };
        assert!(check("H99.01-261122-0001", 4, 2, "cb-01", None).is_empty());
        assert_eq!(
            check("H99.01-261122", 4, 2, "cb-01", None),
            ["dossier_code"]
        );
        assert_eq!(
            check("H99.01-261122-0001", 11, 2, "cb-01", None),
            ["status"]
        );
        assert_eq!(check("H99.01-261122-0001", 0, 2, "cb-01", None), ["status"]);
        assert_eq!(
            check("H99.01-261122-0001", 4, 0, "cb-01", None),
            ["expected_revision"]
        );
        assert_eq!(check("H99.01-261122-0001", 4, 2, "", None), ["handler"]);
        assert_eq!(
            check("H99.01-261122-0001", 4, 2, "cb-01", Some(now + 3600)),
            ["at"]
        );
    }
}
