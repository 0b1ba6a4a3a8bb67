//! The cache end to end: the REST population simulator (a real HTTP server) goes
//! down and comes back, while agencies keep asking through the gateway.

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::{
    TestPki, audit_records, channel, citizen_request, config, population_simulator, reason,
    request_id, residence_request, rest_registry, sim_id, start,
};
use lienthong_adapters::sim::population_api::Credentials;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{Citizen, QueryAuditRequest};
use tonic::Code;

fn x_cache<T>(response: &tonic::Response<T>) -> String {
    response
        .metadata()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_outage_is_bridged_by_the_cache_and_the_cache_refreshes_after() {
    let pki = TestPki::new();
    let sim = population_simulator("127.0.0.1:0".parse().unwrap()).await;
    let addr: SocketAddr = sim.url().trim_start_matches("http://").parse().unwrap();
    let mut config = config(&pki);
    config.cache.citizen.fresh = Duration::from_millis(300);
    config.cache.residence.fresh = Duration::from_millis(300);
    config.breaker.failures = 2;
    config.breaker.cool_down = Duration::from_millis(500);
    let registry = rest_registry(
        sim.url(),
        &Credentials::default().password,
        Duration::from_secs(2),
    );
    let gw = start(&config, registry).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let (a, b, never) = (
        sim_id("001085", true),
        sim_id("079301", true),
        sim_id("036192", true),
    );

    let first = identity.get_citizen(citizen_request(&a)).await.unwrap();
    assert_eq!(x_cache(&first), "miss");
    let record: Citizen = first.into_inner();
    let again = identity.get_citizen(citizen_request(&a)).await.unwrap();
    assert_eq!(x_cache(&again), "hit");
    assert_eq!(again.into_inner(), record);
    identity.get_citizen(citizen_request(&b)).await.unwrap();
    let r = residency
        .get_residence(residence_request(&a))
        .await
        .unwrap();
    assert_eq!(x_cache(&r), "miss");

    // The national system goes down, after the records' TTL has passed.
    sim.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stale = identity.get_citizen(citizen_request(&a)).await.unwrap();
    assert_eq!(x_cache(&stale), "stale");
    let stale_id = request_id(stale.metadata());
    assert_eq!(stale.into_inner(), record, "the same record, only older");
    let r = residency
        .get_residence(residence_request(&a))
        .await
        .unwrap();
    assert_eq!(x_cache(&r), "stale");
    assert_eq!(
        x_cache(&identity.get_citizen(citizen_request(&b)).await.unwrap()),
        "stale"
    );
    let err = identity
        .get_citizen(citizen_request(&never))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err), "UPSTREAM_UNAVAILABLE");
    // By now the circuit is open: still stale for the cached, fast refusals for others.
    let started = std::time::Instant::now();
    let err = identity
        .get_citizen(citizen_request(&never))
        .await
        .unwrap_err();
    assert!(err.message().contains("unavailable"), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(200), "fails fast");

    // The audit record says how the answer was served.
    let mut auditor = AuditServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    let about_a = QueryAuditRequest {
        subject_personal_id: a.clone(),
        ..Default::default()
    };
    let caches: Vec<_> = audit_records(&mut auditor, about_a)
        .await
        .into_iter()
        .filter(|r| r.request_id == stale_id)
        .map(|r| r.cache)
        .collect();
    assert_eq!(caches, ["stale"]);

    // The national system comes back: after the cool-down, fresh again.
    let _sim = population_simulator(addr).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fresh = identity.get_citizen(citizen_request(&a)).await.unwrap();
    assert_eq!(x_cache(&fresh), "miss");
    assert_eq!(
        x_cache(&identity.get_citizen(citizen_request(&a)).await.unwrap()),
        "hit"
    );
    assert!(identity.get_citizen(citizen_request(&never)).await.is_ok());
}

#[tokio::test]
async fn an_operator_purges_a_corrected_citizen_from_the_running_gateway() {
    use lienthong_proto::v1::PurgeCacheRequest;
    use lienthong_proto::v1::admin_service_client::AdminServiceClient;
    let pki = TestPki::new();
    let (gw, _) = integration_tests::start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let (a, b) = (sim_id("001085", true), sim_id("079301", true));
    identity.get_citizen(citizen_request(&a)).await.unwrap();
    residency
        .get_residence(residence_request(&a))
        .await
        .unwrap();
    identity.get_citizen(citizen_request(&b)).await.unwrap();
    let purge = |personal_id: &str| PurgeCacheRequest {
        personal_id: personal_id.into(),
        all: false,
    };
    // Not an operator: refused, and on record.
    let mut not_operator = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let err = not_operator.purge_cache(purge(&a)).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err)),
        (Code::PermissionDenied, "ROLE_REQUIRED".into())
    );
    let mut operator = AdminServiceClient::new(channel(gw.addr(), &pki.paths, "H99.99"));
    let err = operator.purge_cache(purge("12345")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let removed = operator.purge_cache(purge(&a)).await.unwrap().into_inner();
    assert_eq!(removed.records_removed, 2, "identity and residence");
    let again = identity.get_citizen(citizen_request(&a)).await.unwrap();
    assert_eq!(x_cache(&again), "miss", "fetched anew");
    assert_eq!(
        x_cache(&identity.get_citizen(citizen_request(&b)).await.unwrap()),
        "hit",
        "others stay"
    );
    let all = operator
        .purge_cache(PurgeCacheRequest {
            personal_id: String::new(),
            all: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.records_removed, 2);
    assert_eq!(
        x_cache(&identity.get_citizen(citizen_request(&b)).await.unwrap()),
        "miss"
    );
}
