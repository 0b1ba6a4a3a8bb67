//! The server's own life cycle: binding and shutting down.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::{TestPki, config};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::Error;
use lienthong_gateway::server;

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
    match server::start(&taken, sim()).await {
        Err(Error::Listen { addr, .. }) => assert_eq!(addr, first.addr()),
        Err(other) => panic!("expected a Listen error, got {other}"),
        Ok(_) => panic!("two gateways bound {}", first.addr()),
    }
}
