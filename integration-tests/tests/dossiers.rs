//! Dossiers over real mTLS: the edge rules, ownership, optimistic concurrency, the
//! outbox delivered to the in-process portal simulator, paging, and the inbound
//! watch resumed by cursor; each on both ledgers.

use std::time::Duration;

use integration_tests::{
    Ledger, TestPki, audit_records, channel, config, marked_delivered, reason, start, status_change,
};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{
    Dossier, DossierStatus, GetDossierRequest, ListDossiersRequest, QueryAuditRequest,
    SubmitDossierRequest, WatchDossiersRequest,
};
use std::sync::Arc;
use tonic::Code;
use tonic::transport::Channel;

fn code(serial: u32) -> String {
    lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), serial)
}

fn dossier(serial: u32) -> Dossier {
    lienthong_adapters::sim::dossiers::dossier(
        &code(serial),
        DossierStatus::Accepted,
        std::time::SystemTime::now().into(),
    )
}

fn submit(d: Dossier) -> SubmitDossierRequest {
    SubmitDossierRequest { dossier: Some(d) }
}

async fn gateway(pki: &TestPki, ledger: Ledger) -> lienthong_gateway::server::Running {
    integration_tests::start_syncing(pki, ledger).await
}

fn client(
    gw: &lienthong_gateway::server::Running,
    pki: &TestPki,
    agency: &str,
) -> DossierServiceClient<Channel> {
    DossierServiceClient::new(channel(gw.addr(), &pki.paths, agency))
}

async fn a_dossier_goes_through_its_statuses_and_reaches_the_portal(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = gateway(&pki, ledger).await;
    let mut one = client(&gw, &pki, "H99.01");
    let d = one
        .submit_dossier(submit(dossier(1)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.revision, 1);
    let c = d.dossier_code.clone();
    let err = one.submit_dossier(submit(dossier(1))).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::AlreadyExists, "DOSSIER_EXISTS".into())
    );
    let d = one
        .update_dossier_status(status_change(&c, DossierStatus::Processing, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (d.status, d.revision),
        (DossierStatus::Processing as i32, 2)
    );
    let stale = one
        .update_dossier_status(status_change(&c, DossierStatus::Processed, 1))
        .await
        .unwrap_err();
    assert_eq!(
        (stale.code(), reason(&stale)),
        (Code::Aborted, "STALE_REVISION".into())
    );
    let illegal = one
        .update_dossier_status(status_change(&c, DossierStatus::ResultReturned, 2))
        .await
        .unwrap_err();
    assert_eq!(
        (illegal.code(), reason(&illegal)),
        (Code::FailedPrecondition, "ILLEGAL_TRANSITION".into())
    );
    assert!(
        illegal.message().contains("from 4") && illegal.message().contains("to 10"),
        "{}",
        illegal.message()
    );
    let invalid = one
        .submit_dossier(submit(Dossier {
            received_at: Some(Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            ..dossier(2)
        }))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    // Another agency: no grant to submit, and not the owner of H99.01's dossiers.
    let mut two = client(&gw, &pki, "H99.02");
    let err = two.submit_dossier(submit(dossier(3))).await.unwrap_err();
    assert_eq!(reason(&err), "OPERATION_NOT_ALLOWED");
    let err = two
        .get_dossier(GetDossierRequest {
            dossier_code: c.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::PermissionDenied, "AGENCY_NOT_OWNER".into())
    );

    // The outbox reaches the portal; the dossier says so.
    let portal = gw
        .exchange()
        .simulator()
        .expect("in-process portal")
        .portal()
        .clone();
    marked_delivered(&mut one, &c, 2, Duration::from_secs(10)).await;
    assert_eq!(portal.revision(&c), Some(2));

    // Every call is audited: the applicant as subject, the dossier as case.
    let mut auditor = AuditServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    let submissions = QueryAuditRequest {
        operation: "DossierService/SubmitDossier".into(),
        ..Default::default()
    };
    let first = audit_records(&mut auditor, submissions).await.remove(0);
    assert_eq!(
        (first.subject_personal_id.as_str(), first.case_ref.as_str()),
        ("001085012345", c.as_str())
    );
    // Updates are written with their record in one transaction; the record still
    // says how each ended, refusals included.
    let updates = QueryAuditRequest {
        operation: "DossierService/UpdateDossierStatus".into(),
        ..Default::default()
    };
    let updates = audit_records(&mut auditor, updates).await;
    assert!(
        updates
            .iter()
            .any(|r| r.outcome == 0 && r.subject_personal_id == "001085012345"),
        "{updates:?}"
    );
    assert!(
        updates
            .iter()
            .any(|r| r.outcome == Code::Aborted as u32 && r.reason == "STALE_REVISION"),
        "{updates:?}"
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn lists_page_and_watches_resume_by_cursor(ledger: Ledger) {
    let pki = TestPki::new();
    let gw = gateway(&pki, ledger).await;
    let mut one = client(&gw, &pki, "H99.01");
    for serial in 1..=3 {
        one.submit_dossier(submit(dossier(serial))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = one
            .list_dossiers(ListDossiersRequest {
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.dossiers.into_iter().map(|d| d.dossier_code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [code(1), code(2), code(3)]);
    let processing = one
        .list_dossiers(ListDossiersRequest {
            status: DossierStatus::Processing as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(processing.dossiers.is_empty());
    // received-date range: [from, to)
    let hour_ago: Timestamp = (std::time::SystemTime::now() - Duration::from_secs(3600)).into();
    let recent = one
        .list_dossiers(ListDossiersRequest {
            received_from: Some(hour_ago),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recent.dossiers.len(), 3);
    let older = one
        .list_dossiers(ListDossiersRequest {
            received_to: Some(hour_ago),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(older.dossiers.is_empty());
    let by_procedure = one
        .list_dossiers(ListDossiersRequest {
            procedure_code: "2.002154".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_procedure.dossiers.is_empty());

    // Citizens submit three dossiers online; the watcher gets each once, and resumes.
    let portal = gw.exchange().simulator().unwrap().portal().clone();
    let online = portal.submit_online("H99.01", 3);
    portal.submit_online("H15.50", 2);
    let mut stream = one
        .watch_dossiers(WatchDossiersRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while events.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        events.push(e);
    }
    let codes: Vec<_> = events
        .iter()
        .map(|e| e.dossier.as_ref().unwrap().dossier_code.clone())
        .collect();
    assert_eq!(
        codes,
        online
            .iter()
            .map(|h| h.dossier_code.clone())
            .collect::<Vec<_>>()
    );
    drop(stream);
    let mut resumed = one
        .watch_dossiers(WatchDossiersRequest {
            after_cursor: events[1].cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let e = resumed.message().await.unwrap().unwrap();
    assert_eq!(e.cursor, events[2].cursor);
    // another agency's watch sees none of H99.01's
    let mut other = client(&gw, &pki, "H99.02");
    assert_eq!(
        other
            .watch_dossiers(WatchDossiersRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied,
        "H99.02 holds no watch grant"
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// How to make the portal fail.
type Cause = fn(&Faults);

async fn deliveries_come_through_every_portal_fault_in_order(ledger: Ledger) {
    use lienthong_adapters::sim::Misbehaviour;
    let pki = TestPki::new();
    let mut config = config(&pki);
    assert!(ledger.apply(&mut config).await);
    config.sync.backoff_base = Duration::from_millis(20);
    config.sync.backoff_max = Duration::from_millis(300);
    let gw = start(
        &config,
        Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0))),
    )
    .await;
    let portal = gw.exchange().simulator().expect("in-process portal");
    let faults = portal.faults().clone();
    let mut one = client(&gw, &pki, "H99.01");
    let causes: [(&str, Cause); 6] = [
        ("hang", |f| f.set_misbehaviour(Misbehaviour::Hang)),
        ("malformed", |f| f.set_misbehaviour(Misbehaviour::Malformed)),
        ("HTML 500", |f| {
            f.set_misbehaviour(Misbehaviour::ServerError)
        }),
        ("cut", |f| f.set_misbehaviour(Misbehaviour::Cut)),
        ("system error", |f| f.set_error_rate(1.0)),
        ("maintenance", |f| f.set_down(true)),
    ];
    // One delivery first, so that the gateway holds a portal session: a login that
    // meets the faults below is another test (a malformed login answer never
    // yields a session, so nothing could be delivered until it heals).
    let first = one
        .submit_dossier(submit(dossier(99)))
        .await
        .expect("submitted")
        .into_inner()
        .dossier_code;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while portal.portal().revision(&first).is_none() {
        assert!(std::time::Instant::now() < deadline, "no first delivery");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut codes = Vec::new();
    for (n, (name, cause)) in causes.iter().enumerate() {
        cause(&faults);
        // The portal's trouble is not the agency's: changes are acknowledged (durably,
        // locally) at once, whatever the portal does.
        let started = std::time::Instant::now();
        let c = one
            .submit_dossier(submit(dossier(100 + n as u32)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .into_inner()
            .dossier_code;
        for (status, revision) in [
            (DossierStatus::Processing, 1),
            (DossierStatus::Processed, 2),
        ] {
            one.update_dossier_status(status_change(&c, status, revision))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: acknowledged after {:?}",
            started.elapsed()
        );
        // Deliveries meet the fault for a while, then it heals. A fault that does the
        // work and loses the answer lasts until the portal has done some, so that
        // an answer is surely lost (a hung delivery before it may take the window).
        tokio::time::sleep(Duration::from_millis(400)).await;
        if matches!(*name, "malformed" | "cut") {
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while portal.portal().revision(&c).is_none() {
                assert!(std::time::Instant::now() < deadline, "{name}: no delivery");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        faults.set_misbehaviour(Misbehaviour::None);
        faults.set_error_rate(0.0);
        faults.set_down(false);
        codes.push(c);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !codes.iter().all(|c| portal.portal().revision(c) == Some(3)) {
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {:?}",
            codes
                .iter()
                .map(|c| portal.portal().revision(c))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = portal.portal().stats();
    assert_eq!(stats.out_of_order, 0, "{stats:?}");
    assert_eq!(stats.rejected, 0, "nothing refused for good: {stats:?}");
    // One step per revision, each once: a step whose answer was lost is found by
    // the next lookup and not sent again; a record whose answer was lost is
    // written again (the last write wins, the same values), and shows as more
    // writes than steps.
    assert_eq!(
        (stats.accepted, stats.duplicates),
        (1 + 3 * codes.len() as u64, 0),
        "{stats:?}"
    );
    assert!(
        stats.writes > stats.accepted,
        "answers lost after the portal did the work: {stats:?}"
    );
    // Each dossier comes to say so: delivered up to its last revision, none dead.
    for c in &codes {
        marked_delivered(&mut one, c, 3, Duration::from_secs(10)).await;
    }
}

integration_tests::on_both_ledgers!(
    a_dossier_goes_through_its_statuses_and_reaches_the_portal,
    lists_page_and_watches_resume_by_cursor,
    deliveries_come_through_every_portal_fault_in_order,
);
