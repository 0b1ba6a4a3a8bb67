//! The gateway in front of each kind of upstream, and what clients see when the
//! upstream is down, slow or failing; plus health and reflection.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{
    TestPki, audit_records, channel, citizen_request, config, grpc_config, reason,
    residence_request, rest_registry, sim_id, start, start_with_sim,
};
use lienthong_adapters::population::grpc::GrpcRegistry;
use lienthong_adapters::sim::Faults;
use lienthong_adapters::sim::population_api::{Credentials, Server};
use lienthong_gateway::server::Running;
use lienthong_proto::v1::QueryAuditRequest;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_types::StatusExt;

/// The REST simulator, and a gateway in front of it through the REST adapter.
async fn rest_gateway(pki: &TestPki, password: &str, timeout: Duration) -> (Server, Running) {
    let faults = Faults::new(Duration::ZERO, 0.0);
    let sim = Server::start(
        "127.0.0.1:0".parse().unwrap(),
        Credentials::default(),
        faults,
    )
    .await
    .unwrap();
    let gw = start(&config(pki), rest_registry(sim.url(), password, timeout)).await;
    (sim, gw)
}

#[tokio::test]
async fn rest_simulator_behind_the_rest_adapter() {
    let pki = TestPki::new();
    let (sim, gw) = rest_gateway(
        &pki,
        &Credentials::default().password,
        Duration::from_secs(2),
    )
    .await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    // Through JSON and back, the record is the one the in-process simulator makes.
    let id = sim_id("036192", true);
    let via_rest = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    let parsed = lienthong_proto::PersonalId::parse(&id).unwrap();
    let direct =
        lienthong_adapters::sim::citizens::citizen(&parsed, lienthong_adapters::sim::today())
            .unwrap();
    // ... less what the dev policy keeps from H99.01: the sensitive fields; and in
    // NFC, though the register wrote this one decomposed.
    assert!(!direct.ethnicity.is_empty() && !direct.religion.is_empty());
    use lienthong_adapters::sim::typing::Form;
    assert_eq!(lienthong_adapters::sim::citizens::typed(&parsed), Form::Nfd);
    let nfc = |s: &str| lienthong_proto::text::nfc(s).into_owned();
    assert_ne!(nfc(&direct.full_name), direct.full_name);
    let expected = lienthong_proto::v1::Citizen {
        ethnicity: String::new(),
        religion: String::new(),
        full_name: nfc(&direct.full_name),
        hometown: nfc(&direct.hometown),
        ..direct
    };
    assert_eq!(via_rest, expected);
    let residence = residency
        .get_residence(residence_request(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        residence,
        lienthong_adapters::sim::citizens::residence(&parsed, lienthong_adapters::sim::today())
            .unwrap()
    );

    let err = identity
        .get_citizen(citizen_request(&sim_id("036192", false)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // A failing national system is UNAVAILABLE with a retry hint, then recovers.
    sim.faults().set_error_rate(1.0);
    let err = identity
        .get_citizen(citizen_request(&sim_id("036193", true)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::Unavailable, "UPSTREAM_UNAVAILABLE")
    );
    assert!(err.get_error_details().retry_info().is_some());
    sim.faults().set_error_rate(0.0);
    sim.faults().set_down(true);
    assert_eq!(
        identity
            .get_citizen(citizen_request(&sim_id("036193", true)))
            .await
            .unwrap_err()
            .code(),
        Code::Unavailable
    );
    sim.faults().set_down(false);
    identity
        .get_citizen(citizen_request(&sim_id("036193", true)))
        .await
        .expect("recovered");
}

#[tokio::test]
async fn refused_credentials_are_the_gateways_fault_not_the_callers() {
    let pki = TestPki::new();
    let (_sim, gw) = rest_gateway(&pki, "wrong", Duration::from_secs(2)).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let err = identity
        .get_citizen(citizen_request(&sim_id("001085", true)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::Internal, "UPSTREAM_REJECTED")
    );
    assert!(
        !err.message().contains("127.0.0.1"),
        "no internal address leaks to clients: {}",
        err.message()
    );
}

#[tokio::test]
async fn upstream_down_is_unavailable() {
    let pki = TestPki::new();
    let (sim, gw) = rest_gateway(
        &pki,
        &Credentials::default().password,
        Duration::from_secs(2),
    )
    .await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", true);
    identity
        .get_citizen(citizen_request(&id))
        .await
        .expect("up");
    sim.stop().await.unwrap();
    // (a citizen not looked up before: the cache cannot answer for them)
    let err = identity
        .get_citizen(citizen_request(&sim_id("001086", true)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::Unavailable, "UPSTREAM_UNAVAILABLE"),
        "{err:?}"
    );
}

#[tokio::test]
async fn upstream_slow_is_deadline_exceeded() {
    let pki = TestPki::new();
    let (sim, gw) = rest_gateway(
        &pki,
        &Credentials::default().password,
        Duration::from_millis(300),
    )
    .await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", true);
    identity
        .get_citizen(citizen_request(&id))
        .await
        .expect("fast enough");
    sim.faults().set_latency(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let err = identity
        .get_citizen(citizen_request(&sim_id("001086", true)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::DeadlineExceeded, "UPSTREAM_TIMEOUT"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "answered within the adapter's deadline"
    );
}

/// The gateway's record of a `GetCitizen`, as the inspectorate reads it, once it
/// is written; fails when none is by `within` after `started`.
async fn get_citizen_record(
    gw: &Running,
    pki: &TestPki,
    started: std::time::Instant,
    within: Duration,
) -> lienthong_proto::v1::AuditRecord {
    loop {
        let mut auditor = AuditServiceClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
        let records = audit_records(&mut auditor, QueryAuditRequest::default()).await;
        if let Some(r) = records
            .into_iter()
            .find(|r| r.operation.ends_with("GetCitizen"))
        {
            return r;
        }
        assert!(
            started.elapsed() < within,
            "no GetCitizen record within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_clients_own_deadline_is_honoured() {
    let pki = TestPki::new();
    let (gw, faults) = start_with_sim(&pki).await;
    faults.set_latency(Duration::from_secs(3));
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut request = tonic::Request::new(citizen_request(&sim_id("001085", true)));
    request.set_timeout(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let err = identity.get_citizen(request).await.unwrap_err();
    // The gateway answers DEADLINE_EXCEEDED a little before the deadline; on a
    // loaded machine its answer (after a durable audit record) can still arrive
    // after the client's own timer, which then cancels the call itself.
    assert!(
        err.code() == Code::DeadlineExceeded
            || (err.code() == Code::Cancelled && err.message() == "Timeout expired"),
        "{err:?}"
    );
    // Either way the gateway gave up on the 3 s upstream within the client's
    // deadline, and said so in its record.
    let record = get_citizen_record(&gw, &pki, started, Duration::from_secs(2)).await;
    assert_eq!(record.outcome, Code::DeadlineExceeded as u32, "{record:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A client that hangs up while the gateway waits for the registry does not cancel
/// the request's end: its record is written, and says so.
#[tokio::test]
async fn a_client_that_hangs_up_mid_request_leaves_its_record() {
    let pki = TestPki::new();
    let (gw, faults) = start_with_sim(&pki).await;
    faults.set_latency(Duration::from_millis(600));
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let started = std::time::Instant::now();
    let call = identity.get_citizen(citizen_request(&sim_id("001085", true)));
    assert!(
        tokio::time::timeout(Duration::from_millis(150), call)
            .await
            .is_err(),
        "the client hangs up first"
    );
    let record = get_citizen_record(&gw, &pki, started, Duration::from_secs(10)).await;
    assert_eq!(
        (record.outcome, record.reason.as_str()),
        (Code::Cancelled as u32, "CLIENT_CANCELLED"),
        "{record:?}"
    );
}

#[tokio::test]
async fn a_gateway_federated_behind_another() {
    // B holds the registry (simulator); A reaches it over mTLS as agency H99.01.
    let pki = TestPki::new();
    let (b, _) = start_with_sim(&pki).await;
    let upstream =
        Arc::new(GrpcRegistry::new(grpc_config(b.addr(), &pki.paths, "H99.01")).unwrap());
    let mut config_a = config(&pki);
    config_a.data_dir = pki.dir.path().join("data-a");
    let a = start(&config_a, upstream).await;
    let mut identity = IdentityServiceClient::new(channel(a.addr(), &pki.paths, "H99.01"));
    let id = sim_id("079301", true);
    let through_a = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    let mut direct = IdentityServiceClient::new(channel(b.addr(), &pki.paths, "H99.01"));
    assert_eq!(
        through_a,
        direct
            .get_citizen(citizen_request(&id))
            .await
            .unwrap()
            .into_inner()
    );
    let mut residency = ResidencyServiceClient::new(channel(a.addr(), &pki.paths, "H99.01"));
    let r = residency
        .get_residence(residence_request(&id))
        .await
        .unwrap()
        .into_inner();
    assert!(r.current.is_some());
    let err = identity
        .get_citizen(citizen_request(&sim_id("079301", false)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    b.shutdown(Duration::from_secs(5)).await.unwrap();
    let err = identity
        .get_citizen(citizen_request(&sim_id("079302", true)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
}

#[tokio::test]
async fn health_and_reflection_answer() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut health = HealthClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    for service in [
        "lienthong.v1.AuditService",
        "lienthong.v1.IdentityService",
        "lienthong.v1.ResidencyService",
        "",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "lienthong.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel(gw.addr(), &pki.paths, "H99.90"));
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "lienthong.v1.Citizen".into(),
        )),
    ];
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list")
    };
    let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "lienthong.v1.AdminService",
            "lienthong.v1.AuditService",
            "lienthong.v1.DossierService",
            "lienthong.v1.IdentityService",
            "lienthong.v1.ReportService",
            "lienthong.v1.ResidencyService",
            "lienthong.v1.SubjectAccessService",
            "lienthong.v1.WitnessService"
        ]
    );
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("no descriptor")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}
