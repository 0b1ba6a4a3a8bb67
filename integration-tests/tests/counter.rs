//! The moves the one-stop-shop counter makes every day, over real mTLS on both
//! ledgers: papers asked for at reception, then acceptance or rejection; a result
//! settled on the spot; a new appointment date without a status change, audited
//! with its reason and delivered to the portal; and what stays refused.

use std::time::Duration;

use integration_tests::{
    Ledger, TestPki, audit_records, auditor, channel, marked_delivered, reason, status_change,
};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{Dossier, DossierStatus, QueryAuditRequest, SubmitDossierRequest};
use tonic::Code;
use tonic::transport::Channel;

use DossierStatus::*;

fn code(serial: u32) -> String {
    lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), serial)
}

async fn submitted(
    client: &mut DossierServiceClient<Channel>,
    serial: u32,
    status: DossierStatus,
) -> Dossier {
    let d = lienthong_adapters::sim::dossiers::dossier(
        &code(serial),
        status,
        std::time::SystemTime::now().into(),
    );
    client
        .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
        .await
        .unwrap()
        .into_inner()
}

async fn moves(
    client: &mut DossierServiceClient<Channel>,
    code: &str,
    walk: &[DossierStatus],
) -> Dossier {
    let mut d = None;
    for (i, status) in walk.iter().enumerate() {
        d = Some(
            client
                .update_dossier_status(status_change(code, *status, i as u64 + 1))
                .await
                .unwrap_or_else(|e| panic!("{code} to {status:?}: {e:?}"))
                .into_inner(),
        );
    }
    d.unwrap()
}

async fn the_counter_moves_a_dossier_as_the_law_allows(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = integration_tests::start_syncing(&pki, ledger).await;
    let mut client = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    // Papers asked for at reception, then accepted once they come; another
    // rejected after its papers; a third settled on the spot.
    submitted(&mut client, 1, Registered).await;
    let d = moves(
        &mut client,
        &code(1),
        &[SupplementRequested, Accepted, Processing],
    )
    .await;
    assert_eq!((d.status, d.revision), (Processing as i32, 4));
    submitted(&mut client, 2, Registered).await;
    let d = moves(&mut client, &code(2), &[SupplementRequested, Rejected]).await;
    assert_eq!(d.status, Rejected as i32);
    submitted(&mut client, 3, Accepted).await;
    let d = moves(&mut client, &code(3), &[ResultReturned]).await;
    assert!(d.returned_at.is_some());

    // A new appointment date: later, with a reason, as a revision of its own.
    let later = |d: &Dossier, days: i64| Timestamp {
        seconds: d.due_at.or(d.received_at).unwrap().seconds + days * 86_400,
        nanos: 0,
    };
    let before = client
        .get_dossier(lienthong_proto::v1::GetDossierRequest {
            dossier_code: code(1),
        })
        .await
        .unwrap()
        .into_inner();
    let mut again = status_change(&code(1), Processing, 4);
    again.due_at = Some(later(&before, 3));
    again.note = "Chờ kết quả xác minh của Công an xã".into();
    let d = client
        .update_dossier_status(again.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (d.status, d.revision, d.due_at),
        (Processing as i32, 5, Some(later(&before, 3)))
    );
    marked_delivered(&mut client, &code(1), 5, Duration::from_secs(20)).await;
    let mut audit = auditor(gw.addr(), &pki);
    let records = audit_records(
        &mut audit,
        QueryAuditRequest {
            operation: "DossierService/UpdateDossierStatus".into(),
            ..Default::default()
        },
    )
    .await;
    let rescheduled = records
        .iter()
        .find(|r| r.purpose.starts_with("new due date"))
        .unwrap();
    assert!(
        rescheduled.purpose.contains("Công an xã"),
        "{}",
        rescheduled.purpose
    );
    assert_eq!(rescheduled.case_ref, code(1));

    // Refused: an earlier (or the same) date, a date with no reason, the same
    // status with no date, a new date for a closed dossier, a jump back to 1, and
    // anything out of a final status.
    let mut earlier = again.clone();
    earlier.expected_revision = 5;
    earlier.due_at = Some(later(&before, 1));
    let e = client.update_dossier_status(earlier).await.unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::FailedPrecondition, "DUE_NOT_LATER".into())
    );
    let mut silent = again.clone();
    silent.expected_revision = 5;
    silent.due_at = Some(later(&before, 9));
    silent.note.clear();
    let e = client.update_dossier_status(silent).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("note"), "{e:?}");
    for (c, status, revision) in [
        (code(1), Processing, 5),
        (code(1), Registered, 5),
        (code(2), Accepted, 3),
        (code(3), Processing, 2),
    ] {
        let e = client
            .update_dossier_status(status_change(&c, status, revision))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), reason(&e)),
            (Code::FailedPrecondition, "ILLEGAL_TRANSITION".into()),
            "{c} to {status:?}"
        );
    }
    let mut closed = status_change(&code(2), Rejected, 3);
    closed.due_at = Some(Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    });
    closed.note = "hẹn lại".into();
    let e = client.update_dossier_status(closed).await.unwrap_err();
    assert_eq!(reason(&e), "ILLEGAL_TRANSITION");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn deadlines_count_working_days_and_stop_while_papers_are_asked_for(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = integration_tests::start_syncing(&pki, ledger).await;
    let mut client = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let calendar = lienthong_proto::calendar::current();
    // No due date sent: the procedure's limit (1.001193: 3 working days in the
    // development catalogue) from receipt.
    let d = submitted(&mut client, 1, Accepted).await;
    assert_eq!(d.procedure_code, "1.001193");
    let due = d.due_at.expect("a due date computed");
    assert_eq!(due, calendar.later(d.received_at.unwrap(), 3));

    // Papers asked for on Monday 16/11/2026 10:00, brought on Friday 20/11: four
    // working days on hold, added to the deadline.
    let monday = Timestamp {
        seconds: 1_794_798_000,
        nanos: 0,
    };
    let friday = Timestamp {
        seconds: monday.seconds + 4 * 86_400,
        nanos: 0,
    };
    let mut ask = status_change(&code(1), SupplementRequested, 2);
    client
        .update_dossier_status(status_change(&code(1), Processing, 1))
        .await
        .unwrap();
    ask.at = Some(monday);
    let held = client
        .update_dossier_status(ask)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.supplement_requested_at, Some(monday));
    assert_eq!(held.due_at, Some(due), "the deadline waits");
    let mut back = status_change(&code(1), Processing, 3);
    back.at = Some(friday);
    let resumed = client
        .update_dossier_status(back)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calendar.elapsed(monday, friday), 4);
    assert_eq!(resumed.due_at, Some(calendar.later(due, 4)));
    assert_eq!(resumed.supplement_requested_at, None);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn organisations_and_foreigners_apply_too(ledger: Ledger) {
    use lienthong_proto::v1::ApplicantKind;
    let pki = TestPki::new();
    let gw = integration_tests::start_syncing(&pki, ledger).await;
    let mut client = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let base = |serial| {
        let mut d = lienthong_adapters::sim::dossiers::dossier(
            &code(serial),
            Accepted,
            std::time::SystemTime::now().into(),
        );
        d.applicant_personal_id.clear();
        d
    };
    let organisation = Dossier {
        applicant_kind: ApplicantKind::Organisation as i32,
        applicant_name: "Công ty TNHH Sông Hồng".into(),
        applicant_tax_code: "0101234567-001".into(),
        ..base(1)
    };
    let foreigner = Dossier {
        applicant_kind: ApplicantKind::Foreigner as i32,
        applicant_name: "Kim Min-jun".into(),
        applicant_passport: "M12345678".into(),
        applicant_nationality: "KR".into(),
        ..base(2)
    };
    for d in [&organisation, &foreigner] {
        let stored = client
            .submit_dossier(SubmitDossierRequest {
                dossier: Some(d.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (
                stored.applicant_kind,
                &stored.applicant_tax_code,
                &stored.applicant_passport
            ),
            (
                d.applicant_kind,
                &d.applicant_tax_code,
                &d.applicant_passport
            )
        );
        // The portal simulator takes them (LoaiDoiTuong, MaDoiTuong).
        marked_delivered(&mut client, &d.dossier_code, 1, Duration::from_secs(20)).await;
    }
    // Refused, naming the field: a bad tax code, a Vietnamese "foreigner", a
    // passport on a citizen's dossier, a kind the contract does not know.
    let cases = [
        (
            Dossier {
                applicant_tax_code: "010123456".into(),
                ..organisation.clone()
            },
            "dossier.applicant_tax_code",
        ),
        (
            Dossier {
                applicant_nationality: "VN".into(),
                ..foreigner.clone()
            },
            "dossier.applicant_nationality",
        ),
        (
            Dossier {
                applicant_passport: "M12345678".into(),
                ..lienthong_adapters::sim::dossiers::dossier(
                    &code(3),
                    Accepted,
                    std::time::SystemTime::now().into(),
                )
            },
            "dossier.applicant_passport",
        ),
        (
            Dossier {
                applicant_kind: 9,
                ..base(4)
            },
            "dossier.applicant_kind",
        ),
    ];
    for (d, field) in cases {
        let e = client
            .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(field), "{field}: {e:?}");
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

integration_tests::on_both_ledgers!(
    the_counter_moves_a_dossier_as_the_law_allows,
    deadlines_count_working_days_and_stop_while_papers_are_asked_for,
    organisations_and_foreigners_apply_too,
);
