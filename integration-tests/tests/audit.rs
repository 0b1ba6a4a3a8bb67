//! Policy and audit over real mTLS: every request — served, denied, invalid — leaves
//! a record under the request id its client saw; only auditors read the log; what
//! they export verifies on its own. Each test runs on both ledgers.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::{
    Ledger, TestPki, audit_records, auditor, channel, citizen_request, context, reason,
    residence_request, seen, sim_id, start_on,
};
use lienthong_gateway::audit::{Item, checkpoint, export};
use lienthong_proto::prost_types::FieldMask;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{
    AuditRecord, Decision, ExportAuditRequest, GetCitizenRequest, QueryAuditRequest,
    RequestContext, VerifyAuditRequest, export_item,
};
use tonic::Code;

async fn every_request_leaves_a_record_under_the_id_its_client_saw(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let id = sim_id("001085", true);
    let one = channel(gw.addr(), &pki.paths, "H99.01");
    let two = channel(gw.addr(), &pki.paths, "H99.02");
    let mut identity1 = IdentityServiceClient::new(one.clone());
    let mut identity2 = IdentityServiceClient::new(two.clone());
    let mut residency2 = ResidencyServiceClient::new(two);
    let mut identity90 = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    let wrong_purpose = GetCitizenRequest {
        context: Some(RequestContext {
            purpose: "marketing".into(),
            ..context().unwrap()
        }),
        ..citizen_request(&id)
    };
    let religion = GetCitizenRequest {
        fields: Some(FieldMask {
            paths: vec!["full_name".into(), "religion".into()],
        }),
        ..citizen_request(&id)
    };
    // (what the client saw, agency, decision, reason expected in the record)
    let cases = vec![
        (
            seen(identity1.get_citizen(citizen_request(&id)).await),
            "H99.01",
            Decision::Granted,
            "",
        ),
        (
            seen(identity1.get_citizen(citizen_request("0010850123")).await),
            "H99.01",
            Decision::Invalid,
            "INVALID_ARGUMENT",
        ),
        (
            seen(identity1.get_citizen(wrong_purpose).await),
            "H99.01",
            Decision::Denied,
            "PURPOSE_NOT_ALLOWED",
        ),
        (
            seen(identity2.get_citizen(religion).await),
            "H99.02",
            Decision::Denied,
            "FIELD_NOT_ALLOWED",
        ),
        (
            seen(residency2.get_residence(residence_request(&id)).await),
            "H99.02",
            Decision::Denied,
            "OPERATION_NOT_ALLOWED",
        ),
        (
            seen(identity90.get_citizen(citizen_request(&id)).await),
            "H99.90",
            Decision::Denied,
            "NO_GRANT",
        ),
        (
            seen(
                identity1
                    .get_citizen(citizen_request(&sim_id("001085", false)))
                    .await,
            ),
            "H99.01",
            Decision::Granted,
            "CITIZEN_NOT_FOUND",
        ),
    ];
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let by_id: HashMap<&str, &AuditRecord> =
        records.iter().map(|r| (r.request_id.as_str(), r)).collect();
    for ((rid, code, client_reason), agency, decision, why) in &cases {
        let r = by_id
            .get(rid.as_str())
            .unwrap_or_else(|| panic!("no record for request {rid} ({why})"));
        assert_eq!(r.agency_code, *agency, "{why}");
        assert_eq!(r.decision, *decision as i32, "{why}");
        assert_eq!(r.reason, *why);
        assert_eq!(r.outcome, *code as u32, "{why}");
        if *code != Code::Ok {
            if *code != Code::InvalidArgument {
                // (invalid requests carry BadRequest field violations instead)
                assert_eq!(client_reason, why, "the client saw the same reason");
            }
            assert!(r.fields_released.is_empty(), "{why}: nothing released");
        }
        assert_eq!(r.certificate_fingerprint.len(), 64);
        assert_eq!(r.officer_id, "cb-0001");
        assert_eq!(r.legal_basis, "ND-47/2020");
    }
    let served = by_id[cases[0].0.0.as_str()];
    assert_eq!(served.subject_personal_id, id);
    assert_eq!(served.operation, "IdentityService/GetCitizen");
    assert_eq!(served.case_ref, "H99.01-261122-0001");
    assert!(
        served
            .fields_released
            .contains(&"citizen.full_name".to_owned())
    );
    assert!(
        !served
            .fields_released
            .iter()
            .any(|f| f.contains("religion") || f.contains("ethnicity"))
    );
    // Input that cannot be a personal ID is not kept as one: an inspector searching
    // a citizen's accesses never meets it, and nothing a client sent can pose as a
    // subject.
    assert_eq!(by_id[cases[1].0.0.as_str()].subject_personal_id, "");
    // sequence numbers run 1, 2, 3 … with no gap
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn only_auditors_read_the_log_and_refusals_are_recorded(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let mut not_auditor = AuditServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let err = not_auditor
        .query_audit(QueryAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    let err = not_auditor
        .verify_audit(VerifyAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = not_auditor
        .export_audit(ExportAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let records = audit_records(
        &mut auditor(gw.addr(), &pki),
        QueryAuditRequest {
            agency_code: "H99.01".into(),
            ..Default::default()
        },
    )
    .await;
    let ops: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.operation.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("AuditService/QueryAudit", "ROLE_REQUIRED"),
            ("AuditService/VerifyAudit", "ROLE_REQUIRED"),
            ("AuditService/ExportAudit", "ROLE_REQUIRED"),
        ]
    );
    // Bad filters are refused with the field named.
    let err = auditor(gw.addr(), &pki)
        .query_audit(QueryAuditRequest {
            operation: "IdentityService/Everything".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("operation"), "{}", err.message());
}

async fn queries_filter_by_subject_agency_operation_time_and_resume(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let a = sim_id("001085", true);
    let b = sim_id("079301", true);
    let mut one = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut two = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    for _ in 0..3 {
        one.get_citizen(citizen_request(&a)).await.unwrap();
        two.get_citizen(citizen_request(&b)).await.unwrap();
    }
    let start_of_residence = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    residency
        .get_residence(residence_request(&a))
        .await
        .unwrap();
    let mut auditor = auditor(gw.addr(), &pki);
    // A query reads the log as it stood when asked: its own record is not among
    // its results, and is the next query's.
    let by_auditor = || QueryAuditRequest {
        agency_code: "H99.90".into(),
        ..Default::default()
    };
    assert!(audit_records(&mut auditor, by_auditor()).await.is_empty());
    let first = audit_records(&mut auditor, by_auditor()).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].operation, "AuditService/QueryAudit");
    let about_a = audit_records(
        &mut auditor,
        QueryAuditRequest {
            subject_personal_id: a.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(about_a.len(), 4);
    assert!(about_a.iter().all(|r| r.subject_personal_id == a));
    let by_two = audit_records(
        &mut auditor,
        QueryAuditRequest {
            agency_code: "H99.02".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_two.len(), 3);
    assert!(by_two.iter().all(|r| r.subject_personal_id == b));
    let residences = audit_records(
        &mut auditor,
        QueryAuditRequest {
            operation: "ResidencyService/GetResidence".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(residences.len(), 1);
    let since = audit_records(
        &mut auditor,
        QueryAuditRequest {
            from: Some(start_of_residence.into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        since[0].operation, "ResidencyService/GetResidence",
        "{since:?}"
    );
    let before = audit_records(
        &mut auditor,
        QueryAuditRequest {
            to: Some(start_of_residence.into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(before.len(), 6);
    // resume after the second record, two at a time
    let page = audit_records(
        &mut auditor,
        QueryAuditRequest {
            after_seq: 2,
            limit: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
}

async fn exports_verify_on_their_own_and_tampering_shows(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    for i in 0..20 {
        let id = sim_id(if i % 2 == 0 { "001085" } else { "079301" }, true);
        identity.get_citizen(citizen_request(&id)).await.unwrap();
    }
    let mut auditor = auditor(gw.addr(), &pki);
    let report = auditor
        .verify_audit(VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(report.ok, "{}", report.detail);
    assert_eq!(report.records_checked, 20);

    let mut stream = auditor
        .export_audit(ExportAuditRequest {
            from_seq: 5,
            to_seq: 15,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut lines = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        let item = match item.item.unwrap() {
            export_item::Item::Record(r) => Item::Record(r),
            export_item::Item::Checkpoint(c) => Item::Checkpoint(c),
        };
        lines.push(export::to_line(&item));
    }
    assert_eq!(lines.len(), 12, "11 records and the seal");
    let key = checkpoint::load_public_key(&pki.paths.audit_public_key()).unwrap();
    let ok = export::verify(lines.join("\n").as_bytes(), &key).unwrap();
    assert!(ok.ok, "{}", ok.detail);
    assert_eq!((ok.records_checked, ok.checkpoints_checked), (11, 1));
    let mut tampered = lines.clone();
    tampered[3] = tampered[3].replace("\"outcome\":0", "\"outcome\":7");
    let bad = export::verify(tampered.join("\n").as_bytes(), &key).unwrap();
    assert_eq!((bad.ok, bad.first_bad_seq), (false, 8), "{}", bad.detail);
    // An export verified against another key fails: trust comes from the key.
    let other = checkpoint::Signer::ephemeral();
    assert!(
        !export::verify(lines.join("\n").as_bytes(), other.public_key())
            .unwrap()
            .ok
    );
}

async fn without_a_durable_record_nothing_is_released(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, _) = start_on(&pki, ledger).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", true);
    identity.get_citizen(citizen_request(&id)).await.unwrap();
    gw.audit().expect("auditing is on").close().await;
    let err = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::Unavailable, "AUDIT_UNAVAILABLE".into())
    );
}

async fn a_client_that_hangs_up_does_not_erase_the_access(ledger: Ledger) {
    let pki = TestPki::new();
    let (gw, faults) = start_on(&pki, ledger).await;
    faults.set_latency(Duration::from_millis(300));
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("036192", true);
    // The client gives up (resets the stream) while the registry is still answering.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        identity.get_citizen(citizen_request(&id)),
    )
    .await;
    assert!(gave_up.is_err(), "the call was still running");
    // The handler goes on without its client; wait for its record (5 s at most).
    let mut records = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        records = audit_records(
            &mut auditor(gw.addr(), &pki),
            // The lookup's record, not those of these queries about the same
            // citizen (each is an access too).
            QueryAuditRequest {
                subject_personal_id: id.clone(),
                operation: "IdentityService/GetCitizen".into(),
                ..Default::default()
            },
        )
        .await;
        if !records.is_empty() {
            break;
        }
    }
    assert_eq!(
        records.len(),
        1,
        "the data was fetched: the access is on record"
    );
    // Fetched from the registry, never released: the client had gone.
    let r = &records[0];
    assert_eq!(
        (r.outcome, r.reason.as_str(), r.cache.as_str()),
        (Code::Cancelled as u32, "CLIENT_CANCELLED", "miss")
    );
    assert!(r.fields_released.is_empty());
}

integration_tests::on_both_ledgers!(
    every_request_leaves_a_record_under_the_id_its_client_saw,
    only_auditors_read_the_log_and_refusals_are_recorded,
    queries_filter_by_subject_agency_operation_time_and_resume,
    exports_verify_on_their_own_and_tampering_shows,
    without_a_durable_record_nothing_is_released,
    a_client_that_hangs_up_does_not_erase_the_access,
);
