//! Hostile clients all at once, while an honest agency keeps working: connections
//! that stall mid-handshake, random bytes instead of TLS, handshakes with a foreign
//! certificate, a flood of streams on one connection, oversized messages, audit
//! streams that are never read, an agency with no grant calling made-up paths and
//! sending field masks of 100,000 paths, and an agency opening idle dossier
//! watches by the hundred. The gateway must turn each away (or bound
//! it), keep serving, and answer the honest agency — on a new connection each time,
//! so that handshakes are measured too — within [`BOUND`].
//!
//! (The certificate matrix, one refusal per kind of certificate with its TLS
//! alert, is in `handshakes.rs`.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration_tests::{TestPki, channel, citizen_request, config, sample, scrape, sim_id, start};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::config::Rate;
use lienthong_gateway::server::MAX_PENDING_HANDSHAKES;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, QueryAuditRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tonic::Code;

/// The longest an honest agency's lookup may take, new connection and handshake
/// included, while the gateway is under attack (on a 2-core machine, with the
/// attackers in the same process and everything built for debugging).
const BOUND: Duration = Duration::from_millis(2500);
/// What half of them must stay under: well below the handshake timeout, so that a
/// stalled handshake never stands in an honest agency's way.
const MEDIAN_BOUND: Duration = Duration::from_millis(600);
/// How long a handshake may take before the gateway drops it (test setting).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// The flooding agency's rate limit (requests per second).
const FLOODER_RATE: f64 = 200.0;
/// The honest agency's lookups, before and during the attack.
const PROBES: usize = 40;

/// A TCP connection to `to` from the loopback address `from` (127.0.0.x), so an
/// attacker has an address of its own.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// The honest agency: `n` lookups, each on a new connection. Returns each one's
/// time; panics on any failure.
async fn probe(addr: SocketAddr, pki: &TestPki, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let mut identity = IdentityServiceClient::new(channel(addr, &pki.paths, "H99.01"));
        let id = sim_id(&format!("0010{:02}", 10 + i % 80), true);
        identity
            .get_citizen(citizen_request(&id))
            .await
            .unwrap_or_else(|s| panic!("probe {i}: the honest agency was refused: {s:?}"));
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    times.sort();
    times
}

/// Opens connections from 127.0.0.2 that send half a TLS record and stall, as fast
/// as the gateway lets them; returns how many were closed by the gateway and the
/// longest any stalled connection was kept.
async fn stall(addr: SocketAddr, stop: Arc<AtomicBool>) -> (u64, Duration) {
    let closed = Arc::new(AtomicU64::new(0));
    let longest = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let mut tasks = Vec::new();
    for _ in 0..MAX_PENDING_HANDSHAKES + 44 {
        let (stop, closed, longest) = (stop.clone(), closed.clone(), longest.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut tcp) = connect_from([127, 0, 0, 2], addr).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let opened = Instant::now();
                // A handshake record header promising 512 bytes, then nothing.
                let _ = tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await;
                let mut buf = [0u8; 16];
                let ended = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
                if ended.is_ok() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    let kept = opened.elapsed();
                    let mut longest = longest.lock().unwrap();
                    *longest = (*longest).max(kept);
                }
                // Refused at once: try again shortly. (Reconnecting in a tight loop
                // is a SYN flood, for the network's defences, not this test.)
                if opened.elapsed() < Duration::from_millis(100) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let longest = *longest.lock().unwrap();
    (closed.load(Ordering::Relaxed), longest)
}

/// Sends random bytes instead of a TLS handshake, again and again, from 127.0.0.3.
async fn garbage(addr: SocketAddr, stop: Arc<AtomicBool>) -> u64 {
    let mut sent = 0;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = connect_from([127, 0, 0, 3], addr).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let bytes: Vec<u8> = (0..1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = tcp.write_all(&bytes).await;
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
        sent += 1;
    }
    sent
}

/// Handshakes with a certificate of another CA, again and again.
async fn foreigner(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> u64 {
    let other = TestPki::new();
    let mut config = integration_tests::grpc_config(addr, &other.paths, "H99.01");
    config.ca_pem = std::fs::read(pki.paths.ca_cert()).unwrap();
    let mut refused = 0;
    while !stop.load(Ordering::Relaxed) {
        let channel = lienthong_adapters::population::grpc::channel(&config).unwrap();
        let answer = IdentityServiceClient::new(channel)
            .get_citizen(citizen_request(&sim_id("001085", true)))
            .await;
        assert!(answer.is_err(), "a foreign certificate was served");
        refused += 1;
    }
    refused
}

/// One connection, as many streams as the client will open, continuously.
async fn flood(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> (u64, u64) {
    let identity = IdentityServiceClient::new(channel(addr, &pki.paths, "H99.02"));
    let (served, shed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let id = sim_id("001085", true);
    while !stop.load(Ordering::Relaxed) {
        let calls: Vec<_> = (0..1000)
            .map(|_| {
                let (mut identity, id) = (identity.clone(), id.clone());
                let (served, shed) = (served.clone(), shed.clone());
                tokio::spawn(async move {
                    match identity.get_citizen(citizen_request(&id)).await {
                        Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                        Err(_) => shed.fetch_add(1, Ordering::Relaxed),
                    };
                })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
    }
    (served.load(Ordering::Relaxed), shed.load(Ordering::Relaxed))
}

/// Lookups whose message is over the size limit, each refused.
async fn oversized(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> u64 {
    let mut identity = IdentityServiceClient::new(channel(addr, &pki.paths, "H99.99"));
    let mut refused = 0;
    while !stop.load(Ordering::Relaxed) {
        let request = GetCitizenRequest {
            personal_id: "0".repeat(5 << 20),
            ..citizen_request("001085012345")
        };
        let status = identity.get_citizen(request).await.unwrap_err();
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
        refused += 1;
    }
    refused
}

/// Audit streams opened and never read, held until the attack ends.
async fn never_read(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> usize {
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut audit = AuditServiceClient::new(channel(addr, &pki.paths, "H99.90"));
        if let Ok(stream) = audit.query_audit(QueryAuditRequest::default()).await {
            held.push((audit, stream));
        }
    }
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    held.len()
}

/// An agency with no grant at all: made-up method paths and enormous field masks,
/// one after another. Returns the calls made.
async fn inventor(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> u64 {
    let code = lienthong_proto::AgencyCode::parse("H99.010").unwrap();
    lienthong_pki::issue(&pki.paths, &code, lienthong_pki::Validity::days(1)).unwrap();
    let channel = channel(addr, &pki.paths, "H99.010");
    let mut identity = IdentityServiceClient::new(channel.clone());
    let mut calls = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path = format!("/invented.Service{calls}/Method{calls}");
        let path = tonic::codegen::http::uri::PathAndQuery::from_maybe_shared(path).unwrap();
        let codec = tonic_prost::ProstCodec::<GetCitizenRequest, GetCitizenRequest>::default();
        let _ = grpc
            .unary(
                tonic::Request::new(GetCitizenRequest::default()),
                path,
                codec,
            )
            .await;
        let masked = GetCitizenRequest {
            fields: Some(lienthong_proto::prost_types::FieldMask {
                paths: (0..100_000).map(|n| format!("x{n}")).collect(),
            }),
            ..citizen_request("001085012345")
        };
        let err = identity.get_citizen(masked).await.unwrap_err();
        assert!(
            err.message().len() + err.details().len() < 8 * 1024,
            "a small answer"
        );
        calls += 2;
    }
    calls
}

/// An agency opening idle dossier watches, 200 of them; returns how many the
/// gateway let it hold.
async fn watcher(addr: SocketAddr, pki: &TestPki, stop: Arc<AtomicBool>) -> usize {
    use lienthong_proto::v1::WatchDossiersRequest;
    use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut watch = DossierServiceClient::new(channel(addr, &pki.paths, "H99.01"));
        if let Ok(stream) = watch.watch_dossiers(WatchDossiersRequest::default()).await {
            held.push((watch, stream));
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    held.len()
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_turned_away_and_an_honest_agency_is_served_within_the_bound() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.tls.handshake_timeout = HANDSHAKE_TIMEOUT;
    // The flooding agency's contract: what keeps its flood from taking the CPU that
    // other agencies need is its rate, refused cheaply at the door beyond it.
    config.limits.rate.agencies.insert(
        "H99.02".into(),
        Rate {
            per_second: FLOODER_RATE,
            burst: FLOODER_RATE as u32,
        },
    );
    let faults = Faults::new(Duration::ZERO, 0.0);
    let gw = start(&config, Arc::new(Population::new(faults))).await;
    let (addr, admin) = (gw.addr(), gw.admin_addr().expect("admin listener"));
    let pki = Arc::new(pki);

    let calm = probe(addr, &pki, PROBES).await;

    let stop = Arc::new(AtomicBool::new(false));
    let stalled = tokio::spawn(stall(addr, stop.clone()));
    let junk = tokio::spawn(garbage(addr, stop.clone()));
    let (p, s) = (pki.clone(), stop.clone());
    let foreign = tokio::spawn(async move { foreigner(addr, &p, s).await });
    let (p, s) = (pki.clone(), stop.clone());
    let flooded = tokio::spawn(async move { flood(addr, &p, s).await });
    let (p, s) = (pki.clone(), stop.clone());
    let big = tokio::spawn(async move { oversized(addr, &p, s).await });
    // Let the stalled connections pile up and the flood write records to the log.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (p, s) = (pki.clone(), stop.clone());
    let unread = tokio::spawn(async move { never_read(addr, &p, s).await });
    let (p, s) = (pki.clone(), stop.clone());
    let invented = tokio::spawn(async move { inventor(addr, &p, s).await });
    let (p, s) = (pki.clone(), stop.clone());
    let watched = tokio::spawn(async move { watcher(addr, &p, s).await });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let attacked = probe(addr, &pki, PROBES).await;
    // Long enough for every stalled handshake to reach its timeout.
    tokio::time::sleep(HANDSHAKE_TIMEOUT.saturating_sub(Duration::from_millis(500))).await;
    stop.store(true, Ordering::Relaxed);
    let (closed, longest) = stalled.await.unwrap();
    let junk = junk.await.unwrap();
    let foreign = foreign.await.unwrap();
    let (served, shed) = flooded.await.unwrap();
    let big = big.await.unwrap();
    let unread = unread.await.unwrap();
    let invented = invented.await.unwrap();
    let watched = watched.await.unwrap();

    eprintln!(
        "honest agency, new connection per lookup: calm p50 {:?} max {:?}; attacked p50 {:?} p90 {:?} max {:?}",
        quantile(&calm, 0.5),
        calm[calm.len() - 1],
        quantile(&attacked, 0.5),
        quantile(&attacked, 0.9),
        attacked[attacked.len() - 1],
    );
    eprintln!(
        "attackers: {closed} stalled connections closed (kept {longest:?} at most), {junk} of random bytes, {foreign} foreign handshakes, {served} flooded lookups served and {shed} shed, {big} oversized messages refused, {unread} audit streams never read, {invented} made-up paths and 100,000-path masks from an agency with no grant, {watched} of 200 idle watches held"
    );
    assert!(
        attacked[attacked.len() - 1] < BOUND,
        "an honest lookup took {:?} under attack (bound {BOUND:?})",
        attacked[attacked.len() - 1]
    );
    assert!(
        quantile(&attacked, 0.5) < MEDIAN_BOUND,
        "half the honest lookups took over {:?} under attack (bound {MEDIAN_BOUND:?})",
        quantile(&attacked, 0.5)
    );
    assert!(
        longest < HANDSHAKE_TIMEOUT + Duration::from_secs(1),
        "a stalled handshake was kept {longest:?}"
    );
    assert!(closed > 0 && junk > 0 && foreign > 0 && served > 0 && big > 0);
    assert!(
        shed > served,
        "the flood beyond its rate was refused at the door"
    );
    assert_eq!(unread, 20, "the streams were opened");
    assert!(invented > 0);
    assert!(
        (1..=16).contains(&watched),
        "one agency holds at most its streams: {watched}"
    );

    let samples = scrape(admin).await;
    let failures = |reason| {
        sample(
            &samples,
            "lienthong_tls_handshake_failures_total",
            &[("reason", reason)],
        )
    };
    assert!(
        failures("address_busy") > 0.0,
        "stallers over the per-address cap were refused"
    );
    assert!(failures("timeout") > 0.0, "stalled handshakes timed out");
    assert!(
        failures("not_tls") + failures("protocol") > 0.0,
        "random bytes"
    );
    assert!(failures("unknown_issuer") > 0.0, "foreign certificates");
    let names: std::collections::BTreeSet<_> = samples
        .iter()
        .filter_map(|s| s.labels.get("service").map(str::to_owned))
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("invented")),
        "no made-up path became a label: {names:?}"
    );

    // And afterwards, as before.
    let after = probe(addr, &pki, 5).await;
    assert!(after[after.len() - 1] < BOUND);
}
