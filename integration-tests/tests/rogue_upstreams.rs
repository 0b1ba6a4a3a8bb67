//! A broken or hostile national system must not take the gateway down with it.
//!
//! The population registry is a real HTTP server that misbehaves on purpose
//! (`integration_tests::rogue`): a body that never ends, a slow drip, half a body
//! and a held connection, invalid UTF-8, another citizen's record, a duplicated
//! key, a redirect, a `Content-Length` that lies either way, a header flood, JSON
//! nested 10,000 deep, a gzip bomb, hidden text, an overlong string, a number that
//! fits no integer; a TLS server nobody vouches for; a federated gateway that sends
//! too much; a portal feed that does not move on. Each gets the status and reason a
//! client can act on, is counted by cause, and costs a bounded share of memory.

use std::time::{Duration, Instant};

use integration_tests::rogue::{Rogue, Server};
use integration_tests::{
    TestPki, channel, citizen_request, config, reason, rest_registry, sample, scrape, start,
};
use lienthong_adapters::http::Bounds;
use lienthong_adapters::population::rest::{Account, RestRegistry};
use lienthong_adapters::sim::gate::Credentials;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::Code;

/// The adapter's deadline per call.
const DEADLINE: Duration = Duration::from_secs(1);

/// A gateway in front of `rogue`, with neither cache nor circuit breaker in the way.
async fn gateway(pki: &TestPki, url: String) -> lienthong_gateway::server::Running {
    let mut config = config(pki);
    config.cache.enabled = false;
    config.breaker.failures = 1_000_000;
    start(
        &config,
        rest_registry(url, &Credentials::default().password, DEADLINE),
    )
    .await
}

struct Case {
    rogue: Rogue,
    code: Code,
    reason: &'static str,
    /// The `cause` counted, for a bad response.
    cause: Option<&'static str>,
}

const fn bad(rogue: Rogue, cause: &'static str) -> Case {
    Case {
        rogue,
        code: Code::Unavailable,
        reason: "UPSTREAM_BAD_RESPONSE",
        cause: Some(cause),
    }
}

const CASES: [Case; 15] = [
    bad(Rogue::Endless, "too_large"),
    Case {
        rogue: Rogue::SlowDrip,
        code: Code::DeadlineExceeded,
        reason: "UPSTREAM_TIMEOUT",
        cause: None,
    },
    Case {
        rogue: Rogue::HalfThenHold,
        code: Code::DeadlineExceeded,
        reason: "UPSTREAM_TIMEOUT",
        cause: None,
    },
    bad(Rogue::InvalidUtf8, "malformed"),
    bad(Rogue::OtherCitizen, "wrong_record"),
    bad(Rogue::DuplicateKeys, "malformed"),
    bad(Rogue::Redirect, "redirect"),
    bad(Rogue::HugeLength, "too_large"),
    bad(Rogue::ShortLength, "malformed"),
    bad(Rogue::HugeHeaders, "headers"),
    bad(Rogue::DeepJson, "too_deep"),
    bad(Rogue::Compressed, "malformed"),
    bad(Rogue::HiddenText, "text"),
    bad(Rogue::HugeString, "schema"),
    bad(Rogue::BigNumber, "malformed"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_gets_its_status_reason_and_count() {
    let pki = TestPki::new();
    let rogue = Server::start(Rogue::Honest).await;
    let gw = gateway(&pki, rogue.url()).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    // Honest first: the setup works, and a login is in hand.
    identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .expect("an honest answer is served");
    let admin = gw.admin_addr().expect("admin listener");
    for case in &CASES {
        rogue.set(case.rogue);
        let counted = |samples: &[prometheus_parse::Sample]| {
            case.cause.map_or(0.0, |cause| {
                sample(
                    samples,
                    "lienthong_upstream_bad_responses_total",
                    &[("adapter", "rest"), ("cause", cause)],
                )
            })
        };
        let before = counted(&scrape(admin).await);
        let started = Instant::now();
        let err = identity
            .get_citizen(citizen_request("001085012345"))
            .await
            .expect_err("a misbehaving upstream answers nothing");
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (case.code, case.reason),
            "{:?}: {err:?}",
            case.rogue
        );
        assert!(
            started.elapsed() < DEADLINE + Duration::from_millis(1500),
            "{:?} answered after {:?}",
            case.rogue,
            started.elapsed()
        );
        assert!(
            !err.message().contains("127.0.0.1") && !err.message().contains("Nguyễn"),
            "{:?}: the client learns no address and no personal data: {}",
            case.rogue,
            err.message()
        );
        if case.cause.is_some() {
            assert_eq!(
                counted(&scrape(admin).await),
                before + 1.0,
                "{:?} counted as {:?}",
                case.rogue,
                case.cause
            );
        }
    }
    // And when the upstream behaves again, answers come again.
    rogue.set(Rogue::Honest);
    identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .expect("served again");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_tls_upstream_with_a_certificate_nobody_vouches_for_is_refused() {
    let pki = TestPki::new();
    let rogue = Server::start_untrusted_tls(Rogue::Honest).await;
    let registry = RestRegistry::new(Account {
        base_url: rogue.url(),
        username: Credentials::default().username,
        password: Credentials::default().password,
        timeout: DEADLINE,
        ca_pem: Some(std::fs::read(pki.paths.ca_cert()).unwrap()),
        bounds: Bounds::default(),
    })
    .unwrap();
    let mut config = config(&pki);
    config.cache.enabled = false;
    let gw = start(&config, std::sync::Arc::new(registry)).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let err = identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::Unavailable, "UPSTREAM_UNAVAILABLE"),
        "{err:?}"
    );
    assert_eq!(rogue.calls(), 0, "nothing was sent to it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_feed_that_does_not_move_on_is_not_followed() {
    for how in [Rogue::SamePage, Rogue::Backwards] {
        let pki = TestPki::new();
        let rogue = Server::start(how).await;
        let mut config = config(&pki);
        config.portal = lienthong_gateway::config::Portal::Rest(
            lienthong_gateway::config::RestApi::dev(&rogue.url(), DEADLINE),
        );
        config.sync.poll_interval = Duration::from_millis(200);
        let gw = start(&config, integration_tests::population(Duration::ZERO).0).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let calls = rogue.calls();
        // A poller that believed "more follow" would ask again at once, thousands
        // of times a second; one that sees the feed stand still waits its interval.
        assert!(
            (1..=12).contains(&calls),
            "{how:?}: {calls} pages asked in 1.5 s"
        );
        let samples = scrape(gw.admin_addr().unwrap()).await;
        let stalled = sample(
            &samples,
            "lienthong_upstream_bad_responses_total",
            &[("adapter", "portal-dvcqg"), ("cause", "stalled")],
        );
        assert!(stalled >= 1.0, "{how:?}: stalled pages counted");
        let mut watch = lienthong_proto::v1::dossier_service_client::DossierServiceClient::new(
            channel(gw.addr(), &pki.paths, "H99.01"),
        );
        let mut events = watch
            .watch_dossiers(lienthong_proto::v1::WatchDossiersRequest::default())
            .await
            .unwrap()
            .into_inner();
        let first = tokio::time::timeout(Duration::from_millis(300), events.message()).await;
        assert!(first.is_err(), "{how:?}: nothing from a page refused whole");
        gw.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

mod federation {
    //! A federated "gateway" that answers with too much, with another citizen, or
    //! with hidden text: a real tonic server over mTLS with the test PKI's server
    //! certificate.

    use std::sync::Arc;

    use integration_tests::{
        TestPki, channel, citizen_request, config, grpc_config, reason, start,
    };
    use lienthong_adapters::population::grpc::GrpcRegistry;
    use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
    use lienthong_proto::v1::identity_service_server::{IdentityService, IdentityServiceServer};
    use lienthong_proto::v1::{
        Citizen, GetCitizenRequest, VerifyCitizenRequest, VerifyCitizenResponse,
    };
    use tonic::transport::{Identity, Server, ServerTlsConfig};
    use tonic::{Code, Request, Response, Status};

    /// What the rogue federation answers, by the personal ID asked for.
    struct Rogue;

    #[tonic::async_trait]
    impl IdentityService for Rogue {
        async fn get_citizen(
            &self,
            request: Request<GetCitizenRequest>,
        ) -> Result<Response<Citizen>, Status> {
            let id = request.into_inner().personal_id;
            let citizen = Citizen {
                personal_id: id.clone(),
                full_name: "Nguyễn Văn An".into(),
                birth_date: "1985-08-15".into(),
                sex: 1,
                ..Default::default()
            };
            Ok(Response::new(match &id[9..] {
                "001" => Citizen {
                    full_name: "A".repeat(2 * 1024 * 1024),
                    ..citizen
                },
                "002" => Citizen {
                    personal_id: "079301012345".into(),
                    ..citizen
                },
                "003" => Citizen {
                    full_name: "Nguyễn Văn \u{202E}nA".into(),
                    ..citizen
                },
                _ => citizen,
            }))
        }

        async fn verify_citizen(
            &self,
            _: Request<VerifyCitizenRequest>,
        ) -> Result<Response<VerifyCitizenResponse>, Status> {
            Err(Status::unimplemented("not here"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_federated_upstream_that_sends_too_much_or_the_wrong_record_is_refused() {
        let pki = TestPki::new();
        let cert = std::fs::read(pki.paths.server_cert()).unwrap();
        let key = std::fs::read(pki.paths.server_key()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Server::builder()
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            .unwrap()
            .add_service(
                IdentityServiceServer::new(Rogue).max_encoding_message_size(8 * 1024 * 1024),
            )
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        let server = tokio::spawn(served);
        let mut upstream = grpc_config(addr, &pki.paths, "H99.01");
        upstream.max_message_bytes = 1024 * 1024;
        let mut config = config(&pki);
        config.cache.enabled = false;
        let gw = start(&config, Arc::new(GrpcRegistry::new(upstream).unwrap())).await;
        let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
        identity
            .get_citizen(citizen_request("001085012345"))
            .await
            .expect("a plain answer is served");
        for (id, cause) in [
            ("001085012001", "too large"),
            ("001085012002", "another citizen"),
            ("001085012003", "hidden text"),
        ] {
            let err = identity.get_citizen(citizen_request(id)).await.unwrap_err();
            assert_eq!(
                (err.code(), reason(&err).as_str()),
                (Code::Unavailable, "UPSTREAM_BAD_RESPONSE"),
                "{cause}: {err:?}"
            );
        }
        server.abort();
    }
}
