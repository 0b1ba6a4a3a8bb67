//! Hostile clients, second round: what one certificate holder could still do to
//! everyone else, each tried over real sockets and mTLS. Every test here failed
//! against the gateway before this round:
//!
//! - made-up method paths grew the metrics without bound, and skipped the rate;
//! - a field mask of 100,000 invalid paths made an error trailer of tens of MiB;
//! - one agency's idle streams held every in-flight slot of the gateway;
//! - a 1 ns deadline ended `CANCELLED`, left records saying fields were released,
//!   and leaked the in-flight gauge; a client that went away was recorded as served;
//! - an undecodable body answered `INTERNAL` and left no record;
//! - the ledger was world-readable;
//! - `…-0001` and `…-00001` were two dossiers;
//! - `x-cache` told one agency what another had asked.
//!
//! (The inspector's terminal, and logs, are in `tools/tests/binary.rs`.)

use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, audit_records, auditor, channel, citizen_request, config, population, reason,
    request_id, sample, scrape, start,
};
use lienthong_gateway::config::Rate;
use lienthong_proto::prost_types::FieldMask;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{
    GetCitizenRequest, GetDossierRequest, QueryAuditRequest, SubmitDossierRequest,
    VerifyCitizenRequest, WatchDossiersRequest,
};
use prost::bytes::{Buf, BufMut};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// Sends and receives raw bytes: a client that can call any path with any body.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

/// A unary call of `path` with `body` as it is.
async fn raw(
    channel: Channel,
    path: &str,
    body: Vec<u8>,
) -> Result<tonic::Response<Vec<u8>>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path).expect("a path");
    grpc.unary(tonic::Request::new(body), path, Raw).await
}

/// An agency the policy grants nothing (its certificate chains to the CA).
fn ungranted(pki: &TestPki) -> &'static str {
    let code = lienthong_proto::AgencyCode::parse("H99.010").unwrap();
    lienthong_pki::issue(&pki.paths, &code, lienthong_pki::Validity::days(1)).unwrap();
    "H99.010"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_are_counted_as_one_label_and_pay_the_rate() {
    let pki = TestPki::new();
    let agency = ungranted(&pki);
    let mut config = config(&pki);
    config.limits.rate.agencies.insert(
        agency.into(),
        Rate {
            per_second: 100.0,
            burst: 100,
        },
    );
    let gw = start(&config, population(Duration::ZERO).0).await;
    let admin = gw.admin_addr().unwrap();
    let before = integration_tests::http_get(admin, "/metrics").await.1.len();
    let channel = channel(gw.addr(), &pki.paths, agency);
    let mut codes = std::collections::HashMap::<Code, usize>::new();
    for n in 0..2000 {
        let path = format!("/made.up.Service{n}/Method{n}");
        let err = raw(channel.clone(), &path, Vec::new()).await.unwrap_err();
        *codes.entry(err.code()).or_default() += 1;
    }
    // The first burst reaches tonic (UNIMPLEMENTED); the rest is over the rate.
    let limited = codes.get(&Code::ResourceExhausted).copied().unwrap_or(0);
    assert!(limited >= 1500, "{codes:?}");
    let (_, text) = integration_tests::http_get(admin, "/metrics").await;
    assert!(
        text.len() < before + 16 * 1024,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
    assert!(!text.contains("made.up"), "no made-up path is a label");
    let samples = scrape(admin).await;
    let unknown = sample(
        &samples,
        "lienthong_requests_total",
        &[
            ("service", "unknown"),
            ("method", "unknown"),
            ("agency", agency),
        ],
    );
    assert_eq!(unknown, 2000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_field_mask_gets_a_small_answer() {
    let pki = TestPki::new();
    let agency = ungranted(&pki);
    let gw = start(&config(&pki), population(Duration::ZERO).0).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, agency));
    let request = GetCitizenRequest {
        fields: Some(FieldMask {
            paths: (0..100_000).map(|n| format!("bogus_{n}")).collect(),
        }),
        ..citizen_request("001085012345")
    };
    let started = Instant::now();
    let err = identity.get_citizen(request).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    let size = err.message().len() + err.details().len();
    assert!(size < 8 * 1024, "an error of {size} bytes");
    assert!(err.message().contains("100000 paths"), "{}", err.message());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agencys_idle_streams_do_not_starve_the_others() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.limits.max_in_flight = 64;
    config.limits.max_in_flight_per_connection = 64;
    config.limits.stream_idle_timeout = Duration::from_secs(2);
    let gw = start(&config, population(Duration::ZERO).0).await;
    // Nine connections of H99.01, thirty idle streams each.
    let channels: Vec<_> = (0..9)
        .map(|_| channel(gw.addr(), &pki.paths, "H99.01"))
        .collect();
    let mut open = Vec::new();
    let mut refused = 0;
    for n in 0..270 {
        let mut watch = DossierServiceClient::new(channels[n % 9].clone());
        match watch.watch_dossiers(WatchDossiersRequest::default()).await {
            Ok(stream) => open.push(stream.into_inner()),
            Err(e) => {
                assert_eq!(
                    (e.code(), reason(&e).as_str()),
                    (Code::ResourceExhausted, "TOO_MANY_STREAMS"),
                    "{e:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (16, 254));
    // Everyone else is served meanwhile, H99.01's own calls too.
    for agency in ["H99.02", "H99.01"] {
        let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, agency));
        identity
            .get_citizen(citizen_request("001085012345"))
            .await
            .unwrap_or_else(|e| panic!("{agency}: {e:?}"));
    }
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    assert!(!records.is_empty(), "the inspectorate reads the log");
    // Idle streams are closed, and say how to go on.
    let mut closed = 0;
    for mut stream in open {
        match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
            Ok(Err(e)) => {
                assert_eq!(
                    (e.code(), reason(&e).as_str()),
                    (Code::Unavailable, "STREAM_IDLE"),
                    "{e:?}"
                );
                closed += 1;
            }
            other => panic!("an idle stream stayed open: {other:?}"),
        }
    }
    assert_eq!(closed, 16);
    let mut watch = DossierServiceClient::new(channels[0].clone());
    watch
        .watch_dossiers(WatchDossiersRequest::default())
        .await
        .expect("its slots came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_deadlines_and_vanished_clients_are_recorded_as_they_went() {
    let pki = TestPki::new();
    let (registry, faults) = population(Duration::ZERO);
    let gw = start(&config(&pki), registry).await;
    let admin = gw.admin_addr().unwrap();
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .expect("warm: cached");
    // Shorter than the 10 ms the gateway needs: answered at once, at the door,
    // well within the client's own 5 ms. (A 1 ns deadline gets the same answer;
    // a gRPC client's own timer just always beats any answer to it.)
    for _ in 0..10 {
        let mut request = tonic::Request::new(citizen_request("001085012345"));
        request.set_timeout(Duration::from_millis(5));
        let err = identity.get_citizen(request).await.unwrap_err();
        assert_eq!(
            (err.code(), reason(&err).as_str()),
            (Code::DeadlineExceeded, "DEADLINE_TOO_SHORT"),
            "{err:?}"
        );
        assert!(!request_id(err.metadata()).is_empty(), "a request id, too");
    }
    // A client that gives up while its (slow) lookup is under way.
    faults.set_latency(Duration::from_millis(400));
    let mut gone = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        gone.get_citizen(citizen_request("079301012345")),
    )
    .await;
    assert!(waited.is_err(), "the client gave up first");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let lookups: Vec<_> = records
        .iter()
        .filter(|r| r.operation == "IdentityService/GetCitizen")
        .collect();
    assert_eq!(lookups.len(), 2, "refusals at the door leave no record");
    let vanished = lookups[1];
    assert_eq!(
        (
            vanished.outcome,
            vanished.reason.as_str(),
            vanished.cache.as_str()
        ),
        (Code::Cancelled as u32, "CLIENT_CANCELLED", "miss"),
        "{vanished:?}"
    );
    assert!(vanished.fields_released.is_empty(), "nothing was delivered");
    let samples = scrape(admin).await;
    // The inspectorate's query above is the one in flight.
    assert!(sample(&samples, "lienthong_requests_in_flight", &[]) <= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_body_is_the_callers_fault_and_on_record() {
    let pki = TestPki::new();
    let gw = start(&config(&pki), population(Duration::ZERO).0).await;
    let channel = channel(gw.addr(), &pki.paths, "H99.01");
    let err = raw(
        channel,
        "/lienthong.v1.IdentityService/GetCitizen",
        vec![0xff, 0xff, 0xff, 0xff],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let violations = tonic_types::StatusExt::get_details_bad_request(&err)
        .expect("BadRequest")
        .field_violations;
    assert_eq!(violations[0].field, "(request)");
    let id = request_id(err.metadata());
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let record = records
        .iter()
        .find(|r| r.request_id == id)
        .expect("recorded under the id its client saw");
    assert_eq!(
        (
            record.operation.as_str(),
            record.reason.as_str(),
            record.agency_code.as_str()
        ),
        ("IdentityService/GetCitizen", "INVALID_ARGUMENT", "H99.01")
    );
}

#[cfg(unix)]
#[tokio::test]
async fn state_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let pki = TestPki::new();
    let config = config(&pki);
    let gw = start(&config, population(Duration::ZERO).0).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    identity
        .get_citizen(citizen_request("001085012345"))
        .await
        .unwrap();
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
    let mode = |name: &str| {
        let path = config.data_dir.join(name);
        std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data dir");
    for file in [
        "ledger.redb",
        "ledger.journal",
        "cache.key",
        "portal-sim.jsonl",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    assert_eq!(mode("cache"), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dossier_has_one_code() {
    let pki = TestPki::new();
    let gw = start(&config(&pki), population(Duration::ZERO).0).await;
    let mut dossiers = DossierServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let dossier = |code: &str| {
        let mut d = lienthong_adapters::sim::dossiers::dossier(
            code,
            lienthong_proto::v1::DossierStatus::Registered,
            lienthong_adapters::sim::dossiers::RECEIVED,
        );
        d.received_at = Some(lienthong_proto::prost_types::Timestamp {
            seconds: time::OffsetDateTime::now_utc().unix_timestamp() - 60,
            nanos: 0,
        });
        SubmitDossierRequest { dossier: Some(d) }
    };
    let today = lienthong_proto::today();
    let code = |serial: &str| {
        format!(
            "H99.01-{:02}{:02}{:02}-{serial}",
            today.year() % 100,
            u8::from(today.month()),
            today.day()
        )
    };
    let stored = dossiers
        .submit_dossier(dossier(&code("00001")))
        .await
        .expect("submitted")
        .into_inner();
    assert_eq!(
        stored.dossier_code,
        code("0001"),
        "kept in its canonical form"
    );
    let again = dossiers
        .submit_dossier(dossier(&code("0001")))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
    let found = dossiers
        .get_dossier(GetDossierRequest {
            dossier_code: code("000001"),
        })
        .await
        .expect("found under any form of its code")
        .into_inner();
    assert_eq!(found.dossier_code, code("0001"));
    let portal = gw.exchange().simulator().unwrap().portal().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while portal.revision(&code("0001")).is_none() {
        assert!(Instant::now() < deadline, "delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        portal.revision(&code("00001")),
        None,
        "one dossier at the portal"
    );
    assert_eq!(portal.stats().dossiers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_cache_tells_an_agency_only_of_its_own_lookups() {
    let pki = TestPki::new();
    let gw = start(&config(&pki), population(Duration::ZERO).0).await;
    let cache_of = |metadata: &tonic::metadata::MetadataMap| {
        metadata
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut one = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut two = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let id = "001085012345";
    let first = one.get_citizen(citizen_request(id)).await.unwrap();
    assert_eq!(cache_of(first.metadata()), "miss");
    let again = one.get_citizen(citizen_request(id)).await.unwrap();
    assert_eq!(cache_of(again.metadata()), "hit");
    let verify = VerifyCitizenRequest {
        context: integration_tests::context(),
        personal_id: id.into(),
        full_name: "Không Phải Tên".into(),
        birth_date: String::new(),
    };
    let other = two.verify_citizen(verify.clone()).await.unwrap();
    assert_eq!(
        cache_of(other.metadata()),
        "miss",
        "H99.02 cannot tell that H99.01 asked"
    );
    let other = two.verify_citizen(verify).await.unwrap();
    assert_eq!(
        cache_of(other.metadata()),
        "hit",
        "its own lookup, it may know"
    );
    // The record keeps the truth, for the inspectorate.
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let verified = records
        .iter()
        .find(|r| r.operation == "IdentityService/VerifyCitizen")
        .unwrap();
    assert_eq!(verified.cache, "hit");
}
