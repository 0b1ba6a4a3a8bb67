//! The operator's archiving over real mTLS, on both ledgers: the live store sheds
//! the archived period, the whole log still verifies and answers queries, the
//! archive is noted in the log, and bad requests and other roles are refused;
//! closed dossiers leave a stub that keeps their code, and open ones stay whole.

use std::io::Read;
use std::time::Duration;

use integration_tests::{
    Ledger, TestPki, audit_records, auditor, channel, citizen_request, marked_delivered, reason,
    seen, sim_id, start_on, status_change,
};
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{
    ArchiveAuditRequest, ArchiveAuditResponse, DossierStatus, GetDossierRequest, QueryAuditRequest,
    SubmitDossierRequest, VerifyAuditRequest,
};
use tonic::Code;
use tonic::transport::Channel;

fn now() -> lienthong_proto::prost_types::Timestamp {
    let micros = lienthong_ledger::now_micros();
    lienthong_proto::prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000 * 1000) as i32,
    }
}

/// The operator archives everything appended until now.
async fn archive_now(operator: &mut AdminServiceClient<Channel>) -> ArchiveAuditResponse {
    operator
        .archive_audit(ArchiveAuditRequest {
            before: Some(now()),
            expire: false,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn the_operator_archives_and_the_log_stays_whole(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let id = sim_id("001085", true);
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut ids = Vec::new();
    for _ in 0..30 {
        let (request_id, code, _) = seen(identity.get_citizen(citizen_request(&id)).await);
        assert_eq!(code, Code::Ok);
        ids.push(request_id);
    }
    let mut operator = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.99"));
    let archived = archive_now(&mut operator).await;
    assert_eq!(archived.archived.len(), 1, "{archived:?}");
    let file = &archived.archived[0];
    assert_eq!((file.first_seq, file.sha256.len()), (1, 32));
    // The last record stays live: the chain goes on from it.
    assert_eq!(file.last_seq, 29, "{file:?}");
    let dir = pki.dir.path().join("data/archive");
    assert!(dir.join(&file.name).exists());

    // The whole log verifies; the lookups are found though only the archive
    // holds them; the archive is on record.
    let mut audit = auditor(gw.addr(), &pki);
    let report = audit
        .verify_audit(VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{}", report.detail);
    assert!(
        report.detail.contains("1 archive files"),
        "{}",
        report.detail
    );
    let found = audit_records(
        &mut audit,
        QueryAuditRequest {
            subject_personal_id: id.clone(),
            ..Default::default()
        },
    )
    .await;
    let found: Vec<&str> = found.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(found, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let notes = audit_records(
        &mut audit,
        QueryAuditRequest {
            operation: "AuditLog/Archived".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].case_ref, file.name);
    assert_eq!(notes[0].agency_code, "H99.99");

    // Refused: another role, a time to come, an expiry with no retention.
    let denied = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"))
        .archive_audit(ArchiveAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let future = lienthong_proto::prost_types::Timestamp {
        seconds: now().seconds + 3600,
        nanos: 0,
    };
    for (request, field) in [
        (
            ArchiveAuditRequest {
                before: Some(future),
                expire: false,
            },
            "before",
        ),
        (
            ArchiveAuditRequest {
                before: None,
                expire: true,
            },
            "expire",
        ),
    ] {
        let refused = operator.archive_audit(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains(field), "{refused:?}");
    }
    // Nothing more to archive before the same time; lookups go on.
    let again = archive_now(&mut operator).await;
    assert!(again.archived.len() <= 1, "{again:?}");
    let (_, code, _) = seen(identity.get_citizen(citizen_request(&id)).await);
    assert_eq!(code, Code::Ok);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn closed_dossiers_leave_a_stub_that_keeps_their_code(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = integration_tests::start_syncing(&pki, ledger).await;
    let mut dossiers = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let code = |n| lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), n);
    let (closed, open) = (code(1), code(2));
    for c in [&closed, &open] {
        let d = lienthong_adapters::sim::dossiers::dossier(
            c,
            DossierStatus::Accepted,
            std::time::SystemTime::now().into(),
        );
        dossiers
            .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
            .await
            .unwrap();
    }
    let walk = [
        DossierStatus::Processing,
        DossierStatus::Processed,
        DossierStatus::ResultReturned,
    ];
    for (i, status) in walk.into_iter().enumerate() {
        dossiers
            .update_dossier_status(status_change(&closed, status, i as u64 + 1))
            .await
            .unwrap();
    }
    dossiers
        .update_dossier_status(status_change(&open, DossierStatus::Processing, 1))
        .await
        .unwrap();
    let get = |c: &str| GetDossierRequest {
        dossier_code: c.into(),
    };
    let full = dossiers
        .get_dossier(get(&closed))
        .await
        .unwrap()
        .into_inner();
    marked_delivered(&mut dossiers, &closed, 4, Duration::from_secs(20)).await;
    marked_delivered(&mut dossiers, &open, 2, Duration::from_secs(20)).await;

    let mut operator = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.99"));
    let ran = archive_now(&mut operator).await;
    assert_eq!(ran.dossiers_archived, 1);
    // The closed dossier: a stub, without the applicant's data, pointing at its
    // archive, which holds it whole.
    let stub = dossiers
        .get_dossier(get(&closed))
        .await
        .unwrap()
        .into_inner();
    assert!(!stub.archived_in.is_empty());
    assert_eq!(
        (stub.status, stub.revision, stub.applicant_name.as_str()),
        (DossierStatus::ResultReturned as i32, 4, "")
    );
    let file = pki.dir.path().join("data/archive").join(&stub.archived_in);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&file).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(
        text.contains(&closed) && text.contains(&full.applicant_name),
        "{text}"
    );
    // The open one stays whole.
    let kept = dossiers.get_dossier(get(&open)).await.unwrap().into_inner();
    assert!(kept.archived_in.is_empty() && !kept.applicant_name.is_empty());
    // The code stays taken, the status final.
    let again = lienthong_adapters::sim::dossiers::dossier(
        &closed,
        DossierStatus::Accepted,
        std::time::SystemTime::now().into(),
    );
    let refused = dossiers
        .submit_dossier(SubmitDossierRequest {
            dossier: Some(again),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused)),
        (Code::AlreadyExists, "DOSSIER_EXISTS".into())
    );
    let moved = dossiers
        .update_dossier_status(status_change(&closed, DossierStatus::Processing, 4))
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Code::FailedPrecondition);
    // The move is on record; a second run finds nothing more.
    let mut audit = auditor(gw.addr(), &pki);
    let notes = audit_records(
        &mut audit,
        QueryAuditRequest {
            operation: "AuditLog/DossiersArchived".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].case_ref, stub.archived_in);
    let ran = archive_now(&mut operator).await;
    assert_eq!(ran.dossiers_archived, 0);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

integration_tests::on_both_ledgers!(
    the_operator_archives_and_the_log_stays_whole,
    closed_dossiers_leave_a_stub_that_keeps_their_code,
);
