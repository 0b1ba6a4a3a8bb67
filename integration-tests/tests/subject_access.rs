//! "Who read my data", over real mTLS on both ledgers: a citizen's accesses, newest
//! first, the moment they are answered, with the agency's name, the fields released
//! by name, the decision, and a record hash and signed checkpoint anyone can check;
//! inspectors' reviews and the list's own calls among them; paging and time bounds;
//! the role, and the request's checks.

use std::time::{Duration, Instant};

use integration_tests::{Ledger, TestPki, audit_records, auditor, channel, reason};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::subject_access_service_client::SubjectAccessServiceClient;
use lienthong_proto::v1::{
    Decision, ListSubjectAccessesRequest, ListSubjectAccessesResponse, QueryAuditRequest,
};
use tonic::Code;
use tonic::transport::Channel;

fn list(personal_id: &str) -> ListSubjectAccessesRequest {
    ListSubjectAccessesRequest {
        personal_id: personal_id.into(),
        ..Default::default()
    }
}

async fn accesses(
    client: &mut SubjectAccessServiceClient<Channel>,
    req: ListSubjectAccessesRequest,
) -> Result<ListSubjectAccessesResponse, tonic::Status> {
    client
        .list_subject_accesses(req)
        .await
        .map(tonic::Response::into_inner)
}

async fn a_citizen_sees_who_read_their_data(ledger: Ledger) {
    let pki = TestPki::new();
    let mut config = integration_tests::config(&pki);
    assert!(ledger.apply(&mut config).await);
    config.audit.checkpoint_interval = Duration::from_millis(200);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let (lan, other) = (
        integration_tests::sim_id("001085", true),
        integration_tests::sim_id("079190", true),
    );
    let started = lienthong_proto::prost_types::Timestamp::from(std::time::SystemTime::now());
    let mut shop = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut department = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let mut portal = SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    // The one-stop shop reads Lan's record; the department asks with a purpose it
    // is not granted; someone else's record is read too.
    shop.get_citizen(integration_tests::citizen_request(&lan))
        .await
        .unwrap();
    shop.get_citizen(integration_tests::citizen_request(&other))
        .await
        .unwrap();
    let mut refused = integration_tests::citizen_request(&lan);
    refused.context.as_mut().unwrap().purpose = "marketing".into();
    let answered = Instant::now();
    department.get_citizen(refused).await.unwrap_err();
    let seen = accesses(&mut portal, list(&lan)).await.unwrap();
    assert!(
        answered.elapsed() < Duration::from_secs(1),
        "listed at once"
    );
    let shown: Vec<(&str, &str, i32)> = seen
        .accesses
        .iter()
        .map(|a| (a.agency_code.as_str(), a.agency_name.as_str(), a.decision))
        .collect();
    assert_eq!(
        shown,
        [
            ("H99.02", "Sở Tư pháp", Decision::Denied as i32),
            ("H99.01", "Bộ phận Một cửa tỉnh", Decision::Granted as i32),
        ],
        "Lan's accesses only, newest first"
    );
    let (denied, read) = (&seen.accesses[0], &seen.accesses[1]);
    assert_eq!(denied.reason, "PURPOSE_NOT_ALLOWED");
    assert!(denied.fields_released.is_empty());
    assert_eq!(read.operation, "IdentityService/GetCitizen");
    assert_eq!(
        (read.purpose.as_str(), read.legal_basis.as_str()),
        ("dossier-processing", "ND-47/2020")
    );
    assert!(
        read.fields_released
            .contains(&"citizen.full_name".to_owned()),
        "{read:?}"
    );
    assert!(read.at_vietnam.ends_with("+07:00"), "{}", read.at_vietnam);
    assert_eq!(read.record_hash.len(), 32);
    assert!(seen.held_since.is_some() && seen.next_page_token.is_empty());

    // Each entry can be checked: the checkpoint that covers it, signed by the
    // gateway's audit key, at or after the record, over the hash the log has there.
    let trusted =
        lienthong_gateway::audit::checkpoint::load_public_key(&pki.paths.audit_public_key())
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let covered = loop {
        let now = accesses(&mut portal, list(&lan)).await.unwrap();
        let entry = now
            .accesses
            .iter()
            .find(|a| a.seq == read.seq)
            .unwrap()
            .clone();
        if entry.checkpoint.is_some() {
            break entry;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint covers {}",
            read.seq
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let checkpoint = covered.checkpoint.unwrap();
    assert!(checkpoint.seq >= covered.seq);
    lienthong_gateway::audit::checkpoint::verify(&checkpoint, &trusted).unwrap();
    let mut inspectorate = auditor(gw.addr(), &pki);
    let at_checkpoint = audit_records(
        &mut inspectorate,
        QueryAuditRequest {
            after_seq: checkpoint.seq - 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(at_checkpoint[0].seq, checkpoint.seq);
    assert_eq!(at_checkpoint[0].hash, checkpoint.hash);

    // An inspector's review of Lan is an access like any other; so are the list's
    // own calls.
    audit_records(
        &mut inspectorate,
        QueryAuditRequest {
            subject_personal_id: lan.clone(),
            ..Default::default()
        },
    )
    .await;
    let now = accesses(&mut portal, list(&lan)).await.unwrap();
    let operations: Vec<(&str, &str)> = now
        .accesses
        .iter()
        .map(|a| (a.operation.as_str(), a.agency_name.as_str()))
        .collect();
    assert_eq!(operations[0], ("AuditService/QueryAudit", "Thanh tra tỉnh"));
    assert!(operations.contains(&(
        "SubjectAccessService/ListSubjectAccesses",
        "Bộ phận Một cửa tỉnh"
    )));

    // A page at a time, newest first, none twice, none missed.
    let whole: Vec<u64> = accesses(&mut portal, list(&lan))
        .await
        .unwrap()
        .accesses
        .iter()
        .map(|a| a.seq)
        .collect();
    let (mut paged, mut token) = (Vec::new(), String::new());
    loop {
        let page = accesses(
            &mut portal,
            ListSubjectAccessesRequest {
                page_size: 2,
                page_token: token.clone(),
                ..list(&lan)
            },
        )
        .await
        .unwrap();
        assert!(page.accesses.len() <= 2);
        paged.extend(page.accesses.iter().map(|a| a.seq));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // The paging calls are themselves accesses, newer than the whole list.
    let older: Vec<u64> = paged.iter().copied().filter(|s| *s <= whole[0]).collect();
    assert_eq!(older, whole);
    assert!(
        paged.windows(2).all(|w| w[0] > w[1]),
        "newest first: {paged:?}"
    );
    // Before the first lookup there was nothing.
    let before = accesses(
        &mut portal,
        ListSubjectAccessesRequest {
            to: Some(started),
            ..list(&lan)
        },
    )
    .await
    .unwrap();
    assert!(before.accesses.is_empty(), "{before:?}");

    // The role, and the request's checks.
    let mut department_list =
        SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let e = accesses(&mut department_list, list(&lan))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    for (req, field) in [
        (list("00108501234"), "personal_id"),
        (
            ListSubjectAccessesRequest {
                page_size: 501,
                ..list(&lan)
            },
            "page_size",
        ),
        (
            ListSubjectAccessesRequest {
                page_token: "abc".into(),
                ..list(&lan)
            },
            "page_token",
        ),
    ] {
        let e = accesses(&mut portal, req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let violations = integration_tests::violated(&e);
        assert_eq!(violations[0], field, "{violations:?}");
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

integration_tests::on_both_ledgers!(a_citizen_sees_who_read_their_data);
