//! Limits that keep one agency from starving the others, and deadlines that reach
//! the upstream: rates, in-flight shedding, oversized messages, the connection cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, channel, citizen_request, config, grpc_config, identity, population as sim, reason,
    sample, scrape, sim_id, start,
};
use lienthong_adapters::population::grpc::GrpcRegistry;
use lienthong_gateway::config::Rate;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

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
