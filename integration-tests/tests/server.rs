//! The server's own life cycle: binding and shutting down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::{TestPki, config};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::Error;
use lienthong_gateway::server::{self, MAX_PENDING_HANDSHAKES};
use tokio::net::TcpStream;

fn sim() -> Arc<Population> {
    Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0)))
}

#[tokio::test]
async fn a_busy_port_is_reported_with_its_address() {
    let pki = TestPki::new();
    let first = server::start(&config(&pki), sim())
        .await
        .expect("first binds");
    let mut taken = config(&pki);
    taken.listen = first.addr();
    taken.data_dir = pki.dir.path().join("data-2");
    match server::start(&taken, sim()).await {
        Err(Error::Listen { addr, .. }) => assert_eq!(addr, first.addr()),
        Err(other) => panic!("expected a Listen error, got {other}"),
        Ok(_) => panic!("two gateways bound {}", first.addr()),
    }
}

#[tokio::test]
async fn a_second_gateway_on_the_same_data_dir_is_refused() {
    let pki = TestPki::new();
    let _first = server::start(&config(&pki), sim())
        .await
        .expect("first starts");
    match server::start(&config(&pki), sim()).await {
        Err(Error::Audit(detail)) => assert!(detail.contains("ledger.redb"), "{detail}"),
        Err(other) => panic!("expected an audit log error, got {other}"),
        Ok(_) => panic!("two gateways share one ledger"),
    }
}

#[tokio::test]
async fn shutdown_closes_the_listener_even_with_every_handshake_slot_taken() {
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.tls.handshake_timeout = Duration::from_secs(30);
    let gateway = server::start(&config, sim()).await.expect("starts");
    let addr = gateway.addr();
    // Connections that never say a word hold every handshake slot for 30 s.
    let mut stalled = Vec::new();
    for _ in 0..MAX_PENDING_HANDSHAKES + 1 {
        stalled.push(TcpStream::connect(addr).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway
        .shutdown(Duration::from_secs(1))
        .await
        .expect("shuts down");
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stalled);
}
