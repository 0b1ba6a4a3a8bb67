//! The policy over real mTLS: sensitive fields only where a grant names them, a
//! verification that compares only what may be read, and a malformed policy file
//! that stops start-up naming its line and key.

use std::time::Duration;

use integration_tests::{
    TestPki, channel, citizen_request, config, context, reason, sim_id, start,
};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_proto::v1::VerifyCitizenRequest;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use std::sync::Arc;
use tonic::Code;

/// A gateway with `policy` (TOML) in front of the simulator.
async fn with_policy(pki: &TestPki, policy: &str) -> lienthong_gateway::server::Running {
    let path = pki.dir.path().join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    let mut config = config(pki);
    config.policy.file = Some(path);
    start(
        &config,
        Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0))),
    )
    .await
}

#[tokio::test]
async fn sensitive_fields_and_verification_follow_the_grant() {
    let pki = TestPki::new();
    let gw = with_policy(
        &pki,
        r#"
[[grant]]
agency = "H99.*"
operations = ["IdentityService/GetCitizen", "IdentityService/VerifyCitizen"]
purposes = ["dossier-processing"]
legal_bases = ["ND-47/2020"]
fields = ["citizen.full_name"]

[[grant]]
agency = "H99.01"
operations = ["IdentityService/GetCitizen"]
purposes = ["dossier-processing"]
legal_bases = ["ND-47/2020"]
fields = ["citizen.ethnicity", "citizen.birth_date"]
"#,
    )
    .await;
    let id = sim_id("001085", true);
    let mut one = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut two = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let c = one
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    assert!(!c.full_name.is_empty() && !c.ethnicity.is_empty() && !c.birth_date.is_empty());
    assert!(c.religion.is_empty() && c.hometown.is_empty() && c.sex == 0);
    let c = two
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    assert!(!c.full_name.is_empty() && c.ethnicity.is_empty() && c.birth_date.is_empty());

    // VerifyCitizen compares only what the agency could read.
    let name = one
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    let verify = |birth_date: &str| VerifyCitizenRequest {
        context: context(),
        personal_id: id.clone(),
        full_name: name.full_name.clone(),
        birth_date: birth_date.into(),
    };
    let ok = two.verify_citizen(verify("")).await.unwrap().into_inner();
    assert!(ok.r#match);
    let err = two
        .verify_citizen(verify(&name.birth_date))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::PermissionDenied, "FIELD_NOT_ALLOWED".into())
    );
    assert!(
        err.message().contains("citizen.birth_date"),
        "{}",
        err.message()
    );
    // H99.01 may read the birth date, but VerifyCitizen's grant does not name it.
    let err = one
        .verify_citizen(verify(&name.birth_date))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "FIELD_NOT_ALLOWED");
}

#[tokio::test]
async fn a_malformed_policy_stops_start_up_naming_line_and_key() {
    let pki = TestPki::new();
    let path = pki.dir.path().join("policy.toml");
    std::fs::write(&path, "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizen\"]\npurpose = [\"x\"]\n").unwrap();
    let mut config = config(&pki);
    config.policy.file = Some(path);
    let sim = Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0)));
    let err = lienthong_gateway::server::start(&config, sim)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("policy.toml") && err.contains("line 4") && err.contains("purpose"),
        "{err}"
    );
}
