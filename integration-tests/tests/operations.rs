//! What an operations team relies on: reloads of certificates and policy without
//! dropping connections, readiness, and metrics a Prometheus parser accepts. (The
//! limits are in `limits.rs`.)

use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, channel, citizen_request, config, grpc_config, http_get, identity, population as sim,
    reason, residence_request, sample, scrape, sim_id, start,
};
use lienthong_gateway::policy::DEV_POLICY;
use lienthong_proto::v1::WatchDossiersRequest;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn a_reload_revokes_an_agency_while_another_streams_on() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.sync.poll_interval = Duration::from_millis(100);
    let (registry, _) = sim(Duration::ZERO);
    let gw = start(&config, registry).await;
    let id = sim_id("001085", true);

    let mut watcher = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut stream = watcher
        .watch_dossiers(WatchDossiersRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut revoked = identity(&gw, &pki, "H99.02");
    revoked
        .get_citizen(citizen_request(&id))
        .await
        .expect("before the reload");

    lienthong_pki::revoke(&pki.paths, "H99.02").unwrap();
    let outcome = gw.reload().await;
    assert_eq!(outcome.tls, Some(Ok(())));

    // Its open connection is refused on its next request…
    let err = revoked.get_citizen(citizen_request(&id)).await.unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::Unauthenticated, "CERTIFICATE_REVOKED")
    );
    // …and a new connection fails its handshake.
    let err = identity(&gw, &pki, "H99.02")
        .get_citizen(citizen_request(&id))
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("CertificateRevoked"), "{err:?}");

    // The other agency's stream, open since before the reload, goes on.
    let portal = gw.exchange().simulator().unwrap().portal().clone();
    let online = portal.submit_online("H99.01", 1);
    let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event after the reload")
        .unwrap()
        .expect("the stream is still open");
    assert_eq!(event.dossier.unwrap().dossier_code, online[0].dossier_code);
    identity(&gw, &pki, "H99.01")
        .get_citizen(citizen_request(&id))
        .await
        .expect("new connections of others are fine");

    let samples = scrape(gw.admin_addr().unwrap()).await;
    assert_eq!(
        sample(
            &samples,
            "lienthong_reloads_total",
            &[("component", "tls"), ("outcome", "ok")]
        ),
        1.0
    );
    assert!(
        sample(
            &samples,
            "lienthong_tls_handshake_failures_total",
            &[("reason", "revoked")]
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &samples,
            "lienthong_requests_shed_total",
            &[("reason", "CERTIFICATE_REVOKED"), ("agency", "H99.02")]
        ),
        1.0
    );
    drop(stream);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_broken_file_is_refused_and_the_old_one_stays_in_force() {
    let pki = TestPki::new();
    let policy = pki.dir.path().join("policy.toml");
    std::fs::write(&policy, DEV_POLICY).unwrap();
    let mut config = config(&pki);
    config.policy.file = Some(policy.clone());
    config.reload.watch_interval = Duration::from_millis(100);
    let (registry, _) = sim(Duration::ZERO);
    let gw = start(&config, registry).await;
    let id = sim_id("001085", true);
    let mut department = identity(&gw, &pki, "H99.02");
    department.get_citizen(citizen_request(&id)).await.unwrap();

    // A policy with a typo, a CRL cut short: both refused, both old ones kept.
    std::fs::write(&policy, DEV_POLICY.replace("operations =", "operation =")).unwrap();
    let crl = std::fs::read(pki.paths.crl()).unwrap();
    std::fs::write(pki.paths.crl(), &crl[..crl.len() / 2]).unwrap();
    let outcome = gw.reload().await;
    let policy_error = outcome.policy.unwrap().unwrap_err();
    assert!(policy_error.contains("operation"), "{policy_error}");
    assert!(outcome.tls.unwrap().is_err());
    department
        .get_citizen(citizen_request(&id))
        .await
        .expect("the old policy still grants");
    identity(&gw, &pki, "H99.02")
        .get_citizen(citizen_request(&id))
        .await
        .expect("the old CRL and certificate still serve new handshakes");

    // A good file is picked up by the watcher alone (no SIGHUP, no call).
    std::fs::write(pki.paths.crl(), &crl).unwrap();
    std::fs::write(&policy, DEV_POLICY.replace("\"H99.02\"", "\"H99.03\"")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match department.get_citizen(citizen_request(&id)).await {
            Err(e) => break e,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "the changed policy was not picked up"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::PermissionDenied, "NO_GRANT")
    );
    identity(&gw, &pki, "H99.01")
        .get_citizen(citizen_request(&id))
        .await
        .expect("H99.01 keeps its grant");
    let samples = scrape(gw.admin_addr().unwrap()).await;
    for component in ["tls", "policy"] {
        assert_eq!(
            sample(
                &samples,
                "lienthong_reloads_total",
                &[("component", component), ("outcome", "error")]
            ),
            1.0,
            "{component}"
        );
    }
    assert!(
        sample(
            &samples,
            "lienthong_reloads_total",
            &[("component", "policy"), ("outcome", "ok")]
        ) >= 1.0
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn metrics_cover_requests_handshakes_upstreams_cache_audit_and_outbox() {
    let pki = TestPki::new();
    let (registry, _) = sim(Duration::ZERO);
    let gw = start(&config(&pki), registry).await;
    let id = sim_id("001085", true);
    let mut one_stop = identity(&gw, &pki, "H99.01");
    one_stop.get_citizen(citizen_request(&id)).await.unwrap();
    one_stop.get_citizen(citizen_request(&id)).await.unwrap();
    let denied = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"))
        .get_residence(residence_request(&id))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A client from another federation: refused in the handshake.
    let stranger = TestPki::new();
    let mut foreign = grpc_config(gw.addr(), &pki.paths, "H99.01");
    let theirs = grpc_config(gw.addr(), &stranger.paths, "H99.01");
    (foreign.cert_pem, foreign.key_pem) = (theirs.cert_pem, theirs.key_pem);
    let err = IdentityServiceClient::new(
        lienthong_adapters::population::grpc::channel(&foreign).unwrap(),
    )
    .get_citizen(citizen_request(&id))
    .await
    .unwrap_err();
    assert!(format!("{err:?}").contains("UnknownCA"), "{err:?}");

    let (status, body) = http_get(gw.admin_addr().unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(!body.contains(&id), "no personal ID in metrics");
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let samples = scrape(gw.admin_addr().unwrap()).await;
    let identity_ok = [
        ("service", "lienthong.v1.IdentityService"),
        ("method", "GetCitizen"),
        ("agency", "H99.01"),
        ("code", "OK"),
    ];
    assert_eq!(
        sample(&samples, "lienthong_requests_total", &identity_ok),
        2.0
    );
    assert_eq!(
        sample(
            &samples,
            "lienthong_requests_total",
            &[
                ("method", "GetResidence"),
                ("agency", "H99.02"),
                ("code", "PERMISSION_DENIED")
            ]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &samples,
            "lienthong_tls_handshake_failures_total",
            &[("reason", "unknown_issuer")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &samples,
            "lienthong_upstream_requests_total",
            &[
                ("adapter", "sim"),
                ("operation", "citizen"),
                ("outcome", "ok")
            ]
        ),
        1.0,
        "the second lookup was a cache hit"
    );
    for result in ["miss", "hit"] {
        assert_eq!(
            sample(
                &samples,
                "lienthong_cache_lookups_total",
                &[
                    ("operation", "IdentityService/GetCitizen"),
                    ("result", result)
                ]
            ),
            1.0,
            "{result}"
        );
    }
    assert_eq!(
        sample(&samples, "lienthong_circuit_state", &[("upstream", "sim")]),
        0.0
    );
    assert_eq!(sample(&samples, "lienthong_requests_in_flight", &[]), 0.0);
    assert!(sample(&samples, "lienthong_connections_open", &[]) >= 1.0);
    assert_eq!(
        sample(&samples, "lienthong_ready", &[("check", "audit")]),
        1.0
    );
    for gauge in [
        "lienthong_outbox_depth",
        "lienthong_outbox_oldest_pending_seconds",
        "lienthong_outbox_dead_letters",
    ] {
        assert!(samples.iter().any(|s| s.metric == gauge), "{gauge}");
    }
    let histogram_count = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(
        histogram_count(
            "lienthong_request_duration_seconds",
            &[("method", "GetCitizen")]
        ),
        2.0
    );
    assert_eq!(
        histogram_count(
            "lienthong_upstream_duration_seconds",
            &[("operation", "citizen")]
        ),
        1.0
    );
    assert!(histogram_count("lienthong_audit_batch_records", &[]) >= 1.0);
    assert!(histogram_count("lienthong_audit_flush_duration_seconds", &[]) >= 1.0);

    let (status, _) = http_get(gw.admin_addr().unwrap(), "/healthz").await;
    assert_eq!(status, 200);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn readiness_follows_the_upstream_circuit() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.breaker.failures = 2;
    config.breaker.cool_down = Duration::from_millis(500);
    let (registry, faults) = sim(Duration::ZERO);
    let gw = start(&config, registry).await;
    let admin = gw.admin_addr().unwrap();
    let health = HealthClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let status = |service: &'static str| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status()
        }
    };
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    assert_eq!(
        status("lienthong.v1.IdentityService").await,
        ServingStatus::Serving
    );

    faults.set_error_rate(1.0);
    let mut one_stop = identity(&gw, &pki, "H99.01");
    for n in 0..2 {
        let id = sim_id(&format!("0010{:02}", 70 + n), true);
        one_stop
            .get_citizen(citizen_request(&id))
            .await
            .unwrap_err();
    }
    gw.check_readiness().await;
    let (code, body) = http_get(admin, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("population_circuit"), "{body}");
    assert_eq!(status("").await, ServingStatus::NotServing);
    assert_eq!(
        status("lienthong.v1.IdentityService").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        status("lienthong.v1.ResidencyService").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        status("lienthong.v1.DossierService").await,
        ServingStatus::Serving,
        "dossiers do not need the population registry"
    );

    // After the cool-down the circuit lets a probe through: ready again.
    faults.set_error_rate(0.0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    gw.check_readiness().await;
    assert_eq!(http_get(admin, "/readyz").await.0, 200);
    assert_eq!(status("").await, ServingStatus::Serving);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
