//! What an operations team relies on: limits that keep one agency from starving the
//! others, deadlines that reach the upstream, reloads of certificates and policy
//! without dropping connections, readiness, and metrics a Prometheus parser accepts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, channel, citizen_request, config, grpc_config, http_get, reason, residence_request,
    sample, scrape, sim_id, start,
};
use lienthong_adapters::population::grpc::GrpcRegistry;
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::config::Rate;
use lienthong_gateway::policy::DEV_POLICY;
use lienthong_proto::v1::WatchDossiersRequest;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

fn sim(latency: Duration) -> (Arc<Population>, Arc<Faults>) {
    let faults = Faults::new(latency, 0.0);
    (Arc::new(Population::new(faults.clone())), faults)
}

fn identity(
    gw: &lienthong_gateway::server::Running,
    pki: &TestPki,
    agency: &str,
) -> IdentityServiceClient<tonic::transport::Channel> {
    IdentityServiceClient::new(channel(gw.addr(), &pki.paths, agency))
}

#[tokio::test]
async fn an_agency_over_its_rate_is_refused_while_another_proceeds() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.limits.rate.agencies.insert(
        "H99.02".into(),
        Rate {
            per_second: 2.0,
            burst: 3,
        },
    );
    let (registry, _) = sim(Duration::ZERO);
    let gw = start(&config, registry).await;
    let id = sim_id("001085", true);
    let mut noisy = identity(&gw, &pki, "H99.02");
    let mut other = identity(&gw, &pki, "H99.01");

    let mut served = 0;
    let mut refused = Vec::new();
    for _ in 0..8 {
        match noisy.get_citizen(citizen_request(&id)).await {
            Ok(_) => served += 1,
            Err(e) => refused.push(e),
        }
    }
    assert!(
        (3..=4).contains(&served),
        "the burst of 3 (and maybe one refill): {served}"
    );
    let first = &refused[0];
    assert_eq!(first.code(), Code::ResourceExhausted, "{first:?}");
    assert_eq!(reason(first), "RATE_LIMITED");
    let retry = first
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("a RetryInfo delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_millis(500),
        "{retry:?}"
    );

    // Meanwhile the other agency is not held back at all.
    for _ in 0..30 {
        other
            .get_citizen(citizen_request(&id))
            .await
            .expect("H99.01 has its own bucket");
    }
    // And the noisy one is served again once its token is due.
    tokio::time::sleep(retry + Duration::from_millis(20)).await;
    noisy
        .get_citizen(citizen_request(&id))
        .await
        .expect("served after the RetryInfo delay");

    let samples = scrape(gw.admin_addr().unwrap()).await;
    let shed = sample(
        &samples,
        "lienthong_requests_shed_total",
        &[("reason", "RATE_LIMITED"), ("agency", "H99.02")],
    );
    assert_eq!(shed, refused.len() as f64);
    assert_eq!(
        sample(
            &samples,
            "lienthong_requests_total",
            &[("agency", "H99.02"), ("code", "RESOURCE_EXHAUSTED")]
        ),
        refused.len() as f64
    );
    assert_eq!(
        sample(
            &samples,
            "lienthong_requests_shed_total",
            &[("agency", "H99.01")]
        ),
        0.0
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn beyond_the_in_flight_limits_requests_are_shed_at_once() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.limits.max_in_flight = 4;
    config.limits.max_in_flight_per_connection = 4;
    let (registry, faults) = sim(Duration::from_millis(1500));
    let gw = start(&config, registry).await;
    let clients: Vec<_> = ["H99.01", "H99.01", "H99.02"]
        .iter()
        .map(|a| identity(&gw, &pki, a))
        .collect();
    let started = Instant::now();
    let calls = (0..12).map(|n| {
        let mut client = clients[n % 3].clone();
        let id = sim_id(&format!("0010{:02}", 60 + n), true);
        tokio::spawn(async move {
            let answer = client.get_citizen(citizen_request(&id)).await;
            (answer, started.elapsed())
        })
    });
    let mut served = 0;
    let mut shed = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            (Ok(_), _) => served += 1,
            (Err(e), after) => shed.push((e, after)),
        }
    }
    assert!(served <= 4, "at most the limit is served: {served}");
    assert!(shed.len() >= 8, "{served} served");
    for (e, after) in &shed {
        assert_eq!(
            (e.code(), reason(e).as_str()),
            (Code::ResourceExhausted, "OVERLOADED"),
            "{e:?}"
        );
        assert!(e.get_error_details().retry_info().is_some());
        assert!(
            *after < Duration::from_millis(1200),
            "refused at once, not queued: {after:?}"
        );
    }

    // One connection may not take the whole gateway: its own limit.
    faults.set_latency(Duration::from_millis(800));
    let mut config = integration_tests::config(&pki);
    config.data_dir = pki.dir.path().join("data-2");
    config.limits.max_in_flight_per_connection = 2;
    let (registry, _) = sim(Duration::from_millis(800));
    let gw2 = start(&config, registry).await;
    let greedy = identity(&gw2, &pki, "H99.01");
    let calls: Vec<_> = (0..6)
        .map(|n| {
            let mut client = greedy.clone();
            let id = sim_id(&format!("0010{:02}", 80 + n), true);
            tokio::spawn(async move { client.get_citizen(citizen_request(&id)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While it is saturated, another connection is served, and probes pass.
    identity(&gw2, &pki, "H99.02")
        .get_citizen(citizen_request(&sim_id("001090", true)))
        .await
        .expect("another connection proceeds");
    let health = HealthClient::new(channel(gw2.addr(), &pki.paths, "H99.01"))
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    let mut refused = 0;
    for call in calls {
        if let Err(e) = call.await.unwrap() {
            assert_eq!(reason(&e), "CONNECTION_OVERLOADED", "{e:?}");
            refused += 1;
        }
    }
    assert!(refused >= 4, "{refused}");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
    gw2.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn the_clients_deadline_travels_to_a_federated_upstream() {
    // B holds the registry, slow; A reaches B over mTLS. The client gives A 700 ms.
    let pki = TestPki::new();
    let (registry, _) = sim(Duration::from_secs(3));
    let b = start(&config(&pki), registry).await;
    let upstream =
        Arc::new(GrpcRegistry::new(grpc_config(b.addr(), &pki.paths, "H99.01")).unwrap());
    let mut config_a = config(&pki);
    config_a.data_dir = pki.dir.path().join("data-a");
    let a = start(&config_a, upstream).await;
    let mut request = tonic::Request::new(citizen_request(&sim_id("001085", true)));
    request.set_timeout(Duration::from_millis(700));
    let started = Instant::now();
    let err = identity(&a, &pki, "H99.01")
        .get_citizen(request)
        .await
        .unwrap_err();
    // A answers DEADLINE_EXCEEDED a little before the deadline; on a loaded machine
    // its answer (after a durable audit record) can still arrive after the client's
    // own timer, which then cancels the call itself. Either way the client is not
    // kept waiting.
    assert!(
        err.code() == Code::DeadlineExceeded
            || (err.code() == Code::Cancelled && err.message() == "Timeout expired"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    // B was told: it gave up too, long before its upstream's 3 s, and recorded so.
    let store = b.audit().unwrap().store().clone();
    let record = loop {
        let page = store.audit_page(1, 0, 100).await.unwrap();
        let found = page.items.into_iter().find_map(|item| match item {
            lienthong_gateway::audit::Item::Record(r) if r.operation.ends_with("GetCitizen") => {
                Some(r)
            }
            _ => None,
        });
        if let Some(r) = found {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "B still waits for its upstream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record.outcome, Code::DeadlineExceeded as u32, "{record:?}");
    assert_eq!(record.agency_code, "H99.01");
    a.shutdown(Duration::from_secs(5)).await.unwrap();
    b.shutdown(Duration::from_secs(5)).await.unwrap();
}

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

#[tokio::test]
async fn oversized_messages_and_connections_beyond_the_cap_are_refused() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.limits.max_message_bytes = 1024;
    config.limits.max_connections = 2;
    let (registry, _) = sim(Duration::ZERO);
    let gw = start(&config, registry).await;
    let id = sim_id("001085", true);
    let mut first = identity(&gw, &pki, "H99.01");
    let mut big = citizen_request(&id);
    big.context.as_mut().unwrap().case_ref = "x".repeat(2048);
    let err = first.get_citizen(big).await.unwrap_err();
    // tonic's codec says OUT_OF_RANGE for a message over the decoding limit.
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("limit is: 1024"), "{err:?}");
    first
        .get_citizen(citizen_request(&id))
        .await
        .expect("the connection survives an oversized message");

    let mut second = identity(&gw, &pki, "H99.02");
    second.get_citizen(citizen_request(&id)).await.unwrap();
    let err = identity(&gw, &pki, "H99.01")
        .get_citizen(citizen_request(&id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "a third connection: {err:?}");
    drop(second);
    // Once one closes, a new connection is taken again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while identity(&gw, &pki, "H99.01")
        .get_citizen(citizen_request(&id))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the freed slot was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let samples = scrape(gw.admin_addr().unwrap()).await;
    assert!(sample(&samples, "lienthong_connections_refused_total", &[]) >= 1.0);
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
