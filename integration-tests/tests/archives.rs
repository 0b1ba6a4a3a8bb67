//! The operator's archiving over real mTLS, on both ledgers: the live store sheds
//! the archived period, the whole log still verifies and answers queries, the
//! archive is noted in the log, and bad requests and other roles are refused.

use integration_tests::{
    Ledger, TestPki, audit_records, auditor, channel, citizen_request, seen, sim_id, start_on,
};
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{ArchiveAuditRequest, QueryAuditRequest, VerifyAuditRequest};
use tonic::Code;

fn now() -> lienthong_proto::prost_types::Timestamp {
    let micros = lienthong_ledger::now_micros();
    lienthong_proto::prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000 * 1000) as i32,
    }
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
    let archived = operator
        .archive_audit(ArchiveAuditRequest {
            before: Some(now()),
            expire: false,
        })
        .await
        .unwrap()
        .into_inner();
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
    let again = operator
        .archive_audit(ArchiveAuditRequest {
            before: Some(now()),
            expire: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.archived.len() <= 1, "{again:?}");
    let (_, code, _) = seen(identity.get_citizen(citizen_request(&id)).await);
    assert_eq!(code, Code::Ok);
    gw.shutdown(std::time::Duration::from_secs(5))
        .await
        .unwrap();
}

integration_tests::on_both_ledgers!(the_operator_archives_and_the_log_stays_whole);
