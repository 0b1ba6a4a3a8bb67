//! Vietnamese text as people and older systems type it, over real mTLS: a name
//! verifies whatever keyboard typed it (NFC, NFD, combining tones, any case); what
//! the gateway stores, records, answers and forwards is NFC; text in TCVN3 or VNI
//! read as Unicode is refused at the edge naming the encoding, and from an
//! upstream is a bad response, counted.

use std::time::Duration;

use integration_tests::{
    TestPki, audit_records, auditor, channel, citizen_request, config, context, marked_delivered,
    reason, sample, scrape, start, start_with_sim,
};
use lienthong_adapters::sim::typing::{Form, write};
use lienthong_adapters::sim::{Misbehaviour, citizens, today};
use lienthong_proto::PersonalId;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{
    Dossier, DossierStatus, GetDossierRequest, QueryAuditRequest, RequestContext,
    SubmitDossierRequest, UpdateDossierStatusRequest, VerifyCitizenRequest, WatchDossiersRequest,
};
use tonic::Code;

fn verify(personal_id: &str, full_name: &str) -> VerifyCitizenRequest {
    VerifyCitizenRequest {
        context: context(),
        personal_id: personal_id.into(),
        full_name: full_name.into(),
        birth_date: String::new(),
    }
}

/// The field violations of an `INVALID_ARGUMENT`: (field, description).
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

fn nfc(s: &str) -> String {
    lienthong_proto::text::nfc(s).into_owned()
}

#[tokio::test]
async fn a_name_verifies_whatever_keyboard_typed_it() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    // The counter's case: NFC and NFD of one name look alike and verify alike.
    let name = "Ngô Anh Đạt";
    let registered = citizens::citizen(&PersonalId::parse("001085012345").unwrap(), today());
    assert_eq!(nfc(&registered.unwrap().full_name), name);
    let nfd = write(name, Form::Nfd);
    assert_ne!(nfd, name, "a different sequence of code points");
    for typed in [
        name.to_owned(),
        nfd.clone(),
        write(name, Form::ToHop),
        write(&name.to_uppercase(), Form::Nfd),
        "  ngô  anh   đạt ".to_owned(),
    ] {
        let answer = identity
            .verify_citizen(verify("001085012345", &typed))
            .await
            .unwrap()
            .into_inner();
        assert!(answer.r#match, "{typed:?}");
    }
    // Another tone is another name.
    let answer = identity
        .verify_citizen(verify("001085012345", "Ngô Anh Đát"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (answer.r#match, answer.mismatched_fields),
        (false, vec!["full_name".to_owned()])
    );

    // Citizens the register wrote in every form, each typed in every form: one
    // answer, and the record the gateway answers is in NFC.
    let mut forms_seen = std::collections::HashSet::new();
    let ids = (0..400u32)
        .map(|n| format!("001090{n:06}"))
        .filter_map(|s| PersonalId::parse(&s).ok())
        .filter(citizens::is_registered)
        .take(24);
    for id in ids {
        let stored = citizens::citizen(&id, today()).unwrap();
        forms_seen.insert(format!("{:?}", citizens::typed(&id)));
        for form in [Form::Nfc, Form::Nfd, Form::ToHop] {
            let typed = write(&stored.full_name, form);
            let answer = identity
                .verify_citizen(verify(id.as_str(), &typed))
                .await
                .unwrap()
                .into_inner();
            assert!(answer.r#match, "{id:?} typed {form:?}");
        }
        let answered = identity
            .get_citizen(citizen_request(id.as_str()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answered.full_name, nfc(&stored.full_name));
        assert_eq!(answered.hometown, nfc(&stored.hometown));
    }
    assert_eq!(forms_seen.len(), 3, "the register wrote {forms_seen:?}");

    // The record keeps the officer as NFC, whatever was typed.
    let mut request = verify("001085012345", name);
    request.context = Some(RequestContext {
        officer_id: write("cb-Đạt", Form::Nfd),
        ..context().unwrap()
    });
    identity.verify_citizen(request).await.unwrap();
    let records = audit_records(
        &mut auditor(gw.addr(), &pki),
        QueryAuditRequest {
            operation: "IdentityService/VerifyCitizen".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(records.last().unwrap().officer_id, "cb-Đạt");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

fn dossier(serial: u32, applicant_name: String) -> Dossier {
    let code = lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), serial);
    Dossier {
        applicant_name,
        ..lienthong_adapters::sim::dossiers::dossier(
            &code,
            DossierStatus::Accepted,
            std::time::SystemTime::now().into(),
        )
    }
}

#[tokio::test]
async fn legacy_text_is_refused_at_the_edge_naming_the_encoding() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut dossiers = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let name = "Nguyễn Văn Đạt";

    for (form, encoding) in [(Form::Tcvn3, "TCVN3"), (Form::Vni, "VNI")] {
        let err = identity
            .verify_citizen(verify("001085012345", &write(name, form)))
            .await
            .unwrap_err();
        let seen = violations(&err);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].0, "full_name");
        assert!(
            seen[0].1.contains(encoding) && seen[0].1.contains("convert it to Unicode"),
            "{seen:?}"
        );
    }
    // In the context too: every field that carries it is named.
    let mut request = verify("001085012345", name);
    request.context = Some(RequestContext {
        legal_basis: write("Nghị định 47/2020/NĐ-CP", Form::Tcvn3),
        ..context().unwrap()
    });
    let err = identity.verify_citizen(request).await.unwrap_err();
    assert_eq!(violations(&err)[0].0, "context.legal_basis");

    // A dossier whose applicant is in VNI is not stored.
    let d = dossier(71, write(name, Form::Vni));
    let code = d.dossier_code.clone();
    let err = dossiers
        .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&err),
        [(
            "dossier.applicant_name".to_owned(),
            "looks like VNI text read as Unicode (mojibake): convert it to Unicode \
             (TCVN 6909, UTF-8) before sending, e.g. with a font converter"
                .to_owned()
        )]
    );
    let missing = dossiers
        .get_dossier(GetDossierRequest {
            dossier_code: code.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // A status change whose note is in TCVN3 changes nothing.
    let d = dossiers
        .submit_dossier(SubmitDossierRequest {
            dossier: Some(dossier(72, name.into())),
        })
        .await
        .unwrap()
        .into_inner();
    let err = dossiers
        .update_dossier_status(UpdateDossierStatusRequest {
            dossier_code: d.dossier_code.clone(),
            status: DossierStatus::Processing as i32,
            expected_revision: 1,
            handler: "cb-0001".into(),
            note: write("Đã tiếp nhận hồ sơ", Form::Tcvn3),
            at: None,
            due_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err)[0].0, "note");
    let still = dossiers
        .get_dossier(GetDossierRequest {
            dossier_code: d.dossier_code.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.revision, 1);

    // Each refusal is recorded, as a refusal.
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let invalid = records
        .iter()
        .filter(|r| r.reason == "INVALID_ARGUMENT")
        .count();
    assert_eq!(invalid, 5, "{records:?}");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_dossier_typed_decomposed_reaches_the_portal_in_nfc() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.sync.poll_interval = Duration::from_millis(100);
    config.sync.backoff_base = Duration::from_millis(20);
    let gw = start(&config, integration_tests::population(Duration::ZERO).0).await;
    let mut dossiers = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let name = "Trương Thị Ánh Hồng";
    let mut d = dossier(81, write(name, Form::Nfd));
    d.procedure_name = write(&d.procedure_name, Form::ToHop);
    let procedure = nfc(&d.procedure_name);
    let stored = dossiers
        .submit_dossier(SubmitDossierRequest { dossier: Some(d) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            stored.applicant_name.as_str(),
            stored.procedure_name.as_str()
        ),
        (name, procedure.as_str())
    );
    // Delivered, the portal's search finds it by the name as written in NFC.
    marked_delivered(
        &mut dossiers,
        &stored.dossier_code,
        1,
        Duration::from_secs(10),
    )
    .await;
    let portal = gw.exchange().simulator().unwrap().portal().clone();
    assert_eq!(portal.search_applicant(name), [stored.dossier_code]);
    assert!(portal.search_applicant(&write(name, Form::Nfd)).is_empty());
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_in_tcvn3_is_a_bad_response_and_counted() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.cache.enabled = false;
    config.breaker.failures = 1_000_000;
    config.sync.poll_interval = Duration::from_millis(100);
    let (population, faults) = integration_tests::population(Duration::ZERO);
    let gw = start(&config, population).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    // The population register, on the ABC fonts.
    faults.set_misbehaviour(Misbehaviour::LegacyText);
    let err = identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::Unavailable, "UPSTREAM_BAD_RESPONSE".into())
    );
    let admin = gw.admin_addr().unwrap();
    let counted = |samples: &[_], adapter| {
        sample(
            samples,
            "lienthong_upstream_bad_responses_total",
            &[("adapter", adapter), ("cause", "text")],
        )
    };
    assert_eq!(counted(&scrape(admin).await, "sim"), 1.0);
    faults.set_misbehaviour(Misbehaviour::None);
    let answered = identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.full_name, "Ngô Anh Đạt");

    // The portal's online feed, the same: those dossiers are left out, counted;
    // the next ones come through, their names in NFC.
    let sim = gw.exchange().simulator().unwrap();
    sim.faults().set_misbehaviour(Misbehaviour::LegacyText);
    sim.portal().submit_online("H99.01", 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counted(&scrape(admin).await, "portal-dvcqg") < 2.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "feed items not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.faults().set_misbehaviour(Misbehaviour::None);
    let sent = sim.portal().submit_online("H99.01", 3);
    let mut watch = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"))
        .watch_dossiers(WatchDossiersRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("the feed's dossiers arrive")
            .unwrap()
            .unwrap();
        received.push(event.dossier.unwrap());
    }
    for (got, sent) in received.iter().zip(&sent) {
        assert_eq!(got.dossier_code, sent.dossier_code);
        assert_eq!(got.applicant_name, nfc(&sent.applicant_name));
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
