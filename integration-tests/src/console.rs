//! What the console's tests share: a gateway configuration with the console on
//! a free port, sign-in links, and an HTTPS client of it.

use std::net::SocketAddr;
use std::time::Duration;

use lienthong_gateway::Config;
use lienthong_gateway::console::link;
use lienthong_proto::AgencyCode;

use crate::TestPki;

/// The test configuration with the console on a free loopback port, and
/// checkpoints signed every 200 ms.
pub fn console_config(pki: &TestPki) -> Config {
    let mut config = crate::config(pki);
    config.console.enabled = Some(true);
    config.console.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.audit.checkpoint_interval = Duration::from_millis(200);
    config
}

/// A sign-in link's address for `agency` on the console at `addr`.
pub fn link_for(config: &Config, addr: SocketAddr, agency: &str, ttl: Duration) -> String {
    let token = link::mint(
        &link::dir(&config.data_dir),
        &AgencyCode::parse(agency).unwrap(),
        "Trần Thị Thanh Tra",
        ttl,
    )
    .unwrap();
    format!("https://{addr}/signin?token={token}")
}

/// A plain HTTPS client of the console, trusting the test's CA, following no
/// redirect (the test reads them).
pub fn https(pki: &TestPki) -> reqwest::Client {
    let ca = std::fs::read(pki.paths.ca_cert()).unwrap();
    lienthong_adapters::http::client("console", Some(&ca), Duration::from_secs(10)).unwrap()
}
