//! The gateway's memory while a national system answers every lookup with a body
//! that never ends: 64 lookups in flight, wave after wave for three seconds. Before
//! answers were bounded, one such lookup took the gateway from 22 MiB to 2.2 GiB.
//! Alone in its test binary, so that the process's resident memory is the
//! gateway's (with its clients and the rogue server in the same process).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration_tests::rogue::{Rogue, Server};
use integration_tests::{TestPki, channel, citizen_request, config, reason, rest_registry, start};
use lienthong_adapters::sim::gate::Credentials;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::Code;

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_costs_a_bounded_share_of_memory() {
    let pki = TestPki::new();
    let rogue = Server::start(Rogue::Endless).await;
    let mut config = config(&pki);
    config.cache.enabled = false;
    config.breaker.failures = 1_000_000;
    let registry = rest_registry(
        rogue.url(),
        &Credentials::default().password,
        Duration::from_secs(5),
    );
    let gw = start(&config, registry).await;
    let before = rss_mib();
    let peak = Arc::new(AtomicU64::new(before.to_bits()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let now = rss_mib();
                if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                    peak.store(now.to_bits(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // Four connections, sixteen lookups in flight on each.
    let clients: Vec<_> = (0..4)
        .map(|_| IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01")))
        .collect();
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let wave: Vec<_> = (0..64)
            .map(|n| {
                let mut identity = clients[n % clients.len()].clone();
                tokio::spawn(
                    async move { identity.get_citizen(citizen_request("001085012345")).await },
                )
            })
            .collect();
        for lookup in wave {
            let err = lookup.await.unwrap().unwrap_err();
            assert_eq!(
                (err.code(), reason(&err).as_str()),
                (Code::Unavailable, "UPSTREAM_BAD_RESPONSE"),
                "{err:?}"
            );
            answered += 1;
        }
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = f64::from_bits(peak.load(Ordering::Relaxed));
    let after = rss_mib();
    println!(
        "{answered} lookups against an endless body: RSS {before:.0} MiB before, {peak:.0} MiB at most, {after:.0} MiB after"
    );
    assert!(answered >= 64, "at least one whole wave");
    assert!(peak < 150.0, "resident memory reached {peak:.0} MiB");
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
