//! Several gateways on one PostgreSQL ledger, over real mTLS: one audit history
//! whichever replica answered, one history per dossier (a stale revision is
//! refused by the other replica), the outbox delivered once and in order, the
//! portal's feed polled by one replica and seen by all, an operator's purge
//! reaching every replica's cache; and a database that goes away: requests fail
//! UNAVAILABLE with their reason, readiness says why, and the gateway serves again
//! by itself when the database returns.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{
    TestPki, channel, citizen_request, config, http_get, reason, sim_id, start,
};
use lienthong_adapters::sim::gate::Credentials;
use lienthong_adapters::sim::portal_api;
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::Config;
use lienthong_gateway::server::Running;
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{
    DossierStatus, PurgeCacheRequest, SubmitDossierRequest, VerifyAuditRequest,
    WatchDossiersRequest,
};
use lienthong_testdb::Cluster;
use tonic::Code;

/// A replica's configuration: its own data dir (cache, keys), the shared ledger at
/// `url`, the shared portal at `portal`.
fn replica(pki: &TestPki, name: &str, url: &str, portal: &str) -> Config {
    let mut config = config(pki);
    config.data_dir = pki.dir.path().join(name);
    config.ledger.backend = lienthong_gateway::config::Backend::Postgres;
    config.ledger.url = url.to_owned();
    config.ledger.replica = name.to_owned();
    config.ledger.connect_timeout = Duration::from_secs(2);
    config.sync.lease = Duration::from_secs(2);
    config.sync.poll_interval = Duration::from_millis(100);
    config.sync.backoff_base = Duration::from_millis(20);
    config.admin.health_interval = Duration::from_millis(200);
    config.portal = lienthong_gateway::config::Portal::Rest(
        lienthong_gateway::config::RestApi::dev(portal, Duration::from_secs(5)),
    );
    config
}

async fn gateway(config: &Config) -> Running {
    start(
        config,
        Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0))),
    )
    .await
}

fn x_cache<T>(response: &tonic::Response<T>) -> String {
    let value = response.metadata().get("x-cache");
    value.and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

async fn portal() -> (Arc<portal_api::Portal>, portal_api::Server) {
    let state = portal_api::Portal::new();
    let server = portal_api::Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Credentials::default(),
        Faults::new(Duration::ZERO, 0.0),
        state.clone(),
    )
    .await
    .unwrap();
    (state, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_keep_one_record_one_history_and_one_cache_word() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.database().await;
    let pki = TestPki::new();
    let (state, server) = portal().await;
    let a = gateway(&replica(&pki, "a", &url, &server.url())).await;
    let b = gateway(&replica(&pki, "b", &url, &server.url())).await;

    // Lookups on both replicas: one history, verified through either.
    let id = sim_id("001085", true);
    let mut on_a = IdentityServiceClient::new(channel(a.addr(), &pki.paths, "H99.01"));
    let mut on_b = IdentityServiceClient::new(channel(b.addr(), &pki.paths, "H99.01"));
    for _ in 0..3 {
        on_a.get_citizen(citizen_request(&id)).await.unwrap();
        on_b.get_citizen(citizen_request(&id)).await.unwrap();
    }
    let verified = AuditServiceClient::new(channel(b.addr(), &pki.paths, "H99.90"))
        .verify_audit(VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{}", verified.detail);
    assert!(verified.records_checked >= 6, "{verified:?}");

    // A dossier submitted on a, moved on b, refused on a from a stale revision.
    let code = lienthong_proto::DossierCode::compose("H99.01", lienthong_proto::today(), 1);
    let dossier = lienthong_adapters::sim::dossiers::dossier(
        &code,
        DossierStatus::Accepted,
        std::time::SystemTime::now().into(),
    );
    let mut d_a = DossierServiceClient::new(channel(a.addr(), &pki.paths, "H99.01"));
    let mut d_b = DossierServiceClient::new(channel(b.addr(), &pki.paths, "H99.01"));
    d_a.submit_dossier(SubmitDossierRequest {
        dossier: Some(dossier),
    })
    .await
    .unwrap();
    let update = |status: DossierStatus, expected_revision| {
        integration_tests::status_change(&code, status, expected_revision)
    };
    let moved = d_b
        .update_dossier_status(update(DossierStatus::Processing, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.revision, 2);
    let stale = d_a
        .update_dossier_status(update(DossierStatus::Processing, 1))
        .await
        .unwrap_err();
    assert_eq!(
        (stale.code(), reason(&stale)),
        (Code::Aborted, "STALE_REVISION".into())
    );
    d_a.update_dossier_status(update(DossierStatus::Processed, 2))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while state.revision(&code) != Some(3) {
        assert!(tokio::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = state.stats();
    assert_eq!((stats.accepted, stats.out_of_order), (3, 0), "{stats:?}");

    // The portal's feed: polled by one replica, seen on both with the same numbers.
    let online = state.submit_online("H99.01", 3);
    let watched = |gw: &Running| {
        let mut client = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
        async move {
            let mut stream = client
                .watch_dossiers(WatchDossiersRequest::default())
                .await
                .unwrap()
                .into_inner();
            let mut seen = Vec::new();
            while seen.len() < 3 {
                let event = tokio::time::timeout(Duration::from_secs(20), stream.message())
                    .await
                    .expect("the watch brings the online dossiers")
                    .unwrap()
                    .unwrap();
                let d = event.dossier.unwrap();
                seen.push((event.cursor, d.dossier_code));
            }
            seen
        }
    };
    let (on_first, on_second) = tokio::join!(watched(&a), watched(&b));
    assert_eq!(on_first, on_second);
    let codes: Vec<&str> = on_first.iter().map(|(_, c)| c.as_str()).collect();
    let sent: Vec<&str> = online.iter().map(|h| h.dossier_code.as_str()).collect();
    assert_eq!(codes, sent);

    // The operator purges on a; b fetches anew too.
    assert_eq!(
        x_cache(&on_b.get_citizen(citizen_request(&id)).await.unwrap()),
        "hit"
    );
    AdminServiceClient::new(channel(a.addr(), &pki.paths, "H99.99"))
        .purge_cache(PurgeCacheRequest {
            personal_id: id.clone(),
            all: false,
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = x_cache(&on_b.get_citizen(citizen_request(&id)).await.unwrap());
        if seen == "miss" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b still serves its copy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.shutdown(Duration::from_secs(5)).await.unwrap();
    b.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_fails_requests_and_is_used_again_when_back() {
    let Some(cluster) = Cluster::own("") else {
        return;
    };
    let url = cluster.database().await;
    let pki = TestPki::new();
    let (_state, server) = portal().await;
    let gw = gateway(&replica(&pki, "a", &url, &server.url())).await;
    let admin = gw.admin_addr().unwrap();
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", true);
    identity.get_citizen(citizen_request(&id)).await.unwrap();
    assert_eq!(http_get(admin, "/readyz").await.0, 200);

    cluster.kill();
    // Even a cached answer is not released without its record.
    let refused = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused)),
        (Code::Unavailable, "AUDIT_UNAVAILABLE".into())
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = http_get(admin, "/readyz").await;
        if status == 503 && body.contains("ledger") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match identity.get_citizen(citizen_request(&id)).await {
            Ok(_) => break,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "not back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http_get(admin, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "not ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
