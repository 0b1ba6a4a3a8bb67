//! Test harness: a throw-away PKI, a gateway on `127.0.0.1:0`, mTLS channels as any
//! agency. Everything is real: sockets, TLS handshakes, certificate files.

#![forbid(unsafe_code)]

pub mod browser;
pub mod console;
pub mod properties;
pub mod rogue;
mod status;

pub use status::{reason, request_id, seen, violated};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::population::Registry;
use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_adapters::population::rest::{Account, RestRegistry};
use lienthong_adapters::sim::gate::Credentials;
use lienthong_adapters::sim::{Faults, Population, population_api};
use lienthong_gateway::Config;
use lienthong_gateway::server::{self, Running};
use lienthong_pki::{self as pki, Paths};
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::{
    AuditRecord, DossierStatus, GetCitizenRequest, GetDossierRequest, GetResidenceRequest,
    QueryAuditRequest, RequestContext, SyncStatus, UpdateDossierStatusRequest,
};
use tempfile::TempDir;
use tonic::transport::Channel;

/// A development PKI in a temporary directory, removed on drop.
pub struct TestPki {
    /// Keeps the directory alive.
    pub dir: TempDir,
    /// Its layout.
    pub paths: Paths,
}

impl TestPki {
    /// CA, CRL, server certificate and the demo agencies.
    pub fn new() -> TestPki {
        lienthong_gateway::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path().join("certs"));
        pki::init(&paths, false).expect("pki init");
        TestPki { dir, paths }
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// The gateway's default configuration on a free loopback port with this PKI.
pub fn config(pki: &TestPki) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: pki.dir.path().join("data"),
        ..Config::default()
    };
    config.tls.certs_dir = pki.paths.dir.clone();
    config.tls.generate_dev_pki = false;
    config.admin.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

/// The in-process population simulator with `latency`, and its faults.
pub fn population(latency: Duration) -> (Arc<Population>, Arc<Faults>) {
    let faults = Faults::new(latency, 0.0);
    (Arc::new(Population::new(faults.clone())), faults)
}

/// An identity client of `gw` as `agency`.
pub fn identity(
    gw: &Running,
    pki: &TestPki,
    agency: &str,
) -> lienthong_proto::v1::identity_service_client::IdentityServiceClient<Channel> {
    lienthong_proto::v1::identity_service_client::IdentityServiceClient::new(channel(
        gw.addr(),
        &pki.paths,
        agency,
    ))
}

/// Starts a gateway with `config` in front of `registry`.
pub async fn start(config: &Config, registry: Arc<dyn Registry>) -> Running {
    server::start(config, registry)
        .await
        .expect("gateway starts")
}

/// The REST adapter to the population simulator at `url`, with `password` for the
/// development account and `timeout` per call.
pub fn rest_registry(url: String, password: &str, timeout: Duration) -> Arc<RestRegistry> {
    Arc::new(
        RestRegistry::new(Account {
            base_url: url,
            username: Credentials::default().username,
            password: password.into(),
            timeout,
            ca_pem: None,
            bounds: lienthong_adapters::http::Bounds::default(),
        })
        .expect("REST adapter"),
    )
}

/// The population simulator as a real HTTP server on `addr`, without faults.
pub async fn population_simulator(addr: SocketAddr) -> population_api::Server {
    population_api::Server::start(
        addr,
        Credentials::default(),
        Faults::new(Duration::ZERO, 0.0),
    )
    .await
    .expect("simulator starts")
}

/// Starts a gateway in front of an in-process simulator; returns its faults too.
pub async fn start_with_sim(pki: &TestPki) -> (Running, Arc<Faults>) {
    let faults = Faults::new(Duration::ZERO, 0.0);
    let running = start(&config(pki), Arc::new(Population::new(faults.clone()))).await;
    (running, faults)
}

/// Which ledger a test's gateway keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ledger {
    /// The embedded redb file in the data dir.
    Redb,
    /// A fresh database on the test process's PostgreSQL cluster.
    Postgres,
}

impl Ledger {
    /// Points `config` at this ledger; false where PostgreSQL is not installed (and
    /// not required: then the test is skipped, saying so).
    pub async fn apply(self, config: &mut Config) -> bool {
        match self {
            Ledger::Redb => true,
            Ledger::Postgres => {
                let Some(cluster) = lienthong_testdb::Cluster::shared() else {
                    return false;
                };
                config.ledger.backend = lienthong_gateway::config::Backend::Postgres;
                config.ledger.url = cluster.database().await;
                true
            }
        }
    }
}

/// Runs each named `async fn(Ledger)` of the calling file as two tests, one per
/// ledger: `redb::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_ledgers {
    ($($test:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Ledger::Redb).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if lienthong_testdb::Cluster::shared().is_none() {
                        return;
                    }
                    super::$test($crate::Ledger::Postgres).await;
                }
            )*
        }
    };
}

/// Starts a gateway on `ledger` in front of an in-process simulator; `None` where
/// that ledger is not available; its faults too.
pub async fn start_on(pki: &TestPki, ledger: Ledger) -> (Running, Arc<Faults>) {
    let faults = Faults::new(Duration::ZERO, 0.0);
    let mut config = config(pki);
    assert!(ledger.apply(&mut config).await, "{ledger:?} is available");
    let running = start(&config, Arc::new(Population::new(faults.clone()))).await;
    (running, faults)
}

/// Starts a gateway on `ledger` whose dossier worker polls every 100 ms and backs
/// off from 20 ms, so that deliveries show within a test's patience.
pub async fn start_syncing(pki: &TestPki, ledger: Ledger) -> Running {
    let mut config = config(pki);
    assert!(ledger.apply(&mut config).await, "{ledger:?} is available");
    config.sync.poll_interval = Duration::from_millis(100);
    config.sync.backoff_base = Duration::from_millis(20);
    start(
        &config,
        Arc::new(Population::new(Faults::new(Duration::ZERO, 0.0))),
    )
    .await
}

/// The mTLS settings an agency uses to reach the gateway at `addr`.
pub fn grpc_config(addr: SocketAddr, paths: &Paths, agency: &str) -> GrpcConfig {
    let read = |p: std::path::PathBuf| {
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    GrpcConfig {
        url: format!("https://localhost:{}", addr.port()),
        ca_pem: read(paths.ca_cert()),
        cert_pem: read(paths.client_cert(agency)),
        key_pem: read(paths.client_key(agency)),
        server_name: None,
        timeout: Duration::from_secs(10),
        max_message_bytes: lienthong_adapters::population::grpc::MAX_MESSAGE_BYTES,
        max_header_bytes: lienthong_adapters::population::grpc::MAX_HEADER_BYTES,
    }
}

/// A channel to the gateway at `addr` as `agency`.
pub fn channel(addr: SocketAddr, paths: &Paths, agency: &str) -> Channel {
    grpc::channel(&grpc_config(addr, paths, agency)).expect("channel")
}

/// A valid request context.
pub fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: "H99.01-261122-0001".into(),
        officer_id: "cb-0001".into(),
    })
}

/// A citizen lookup with a valid context and no field mask.
pub fn citizen_request(personal_id: &str) -> GetCitizenRequest {
    GetCitizenRequest {
        context: context(),
        personal_id: personal_id.into(),
        fields: None,
    }
}

/// A residence lookup with a valid context.
pub fn residence_request(personal_id: &str) -> GetResidenceRequest {
    GetResidenceRequest {
        context: context(),
        personal_id: personal_id.into(),
    }
}

/// The first well-formed personal ID from `prefix` + serials that the simulator
/// does (or does not) have a record for.
pub fn sim_id(prefix: &str, registered: bool) -> String {
    (0..1_000_000u32)
        .map(|n| format!("{prefix}{n:06}"))
        .find(|s| {
            let id = lienthong_proto::PersonalId::parse(s).expect("valid test ID");
            lienthong_adapters::sim::citizens::is_registered(&id) == registered
        })
        .expect("such an ID exists")
}

/// Every audit record `req` selects, read to the end of the stream by an auditor.
pub async fn audit_records(
    client: &mut AuditServiceClient<Channel>,
    req: QueryAuditRequest,
) -> Vec<AuditRecord> {
    let mut stream = client
        .query_audit(req)
        .await
        .expect("auditor may query")
        .into_inner();
    let mut out = Vec::new();
    while let Some(r) = stream.message().await.expect("stream") {
        out.push(r);
    }
    out
}

/// An audit client of `gw` as the inspectorate (H99.90, role `auditor`).
pub fn auditor(gw: SocketAddr, pki: &TestPki) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(channel(gw, &pki.paths, "H99.90"))
}

/// A plain HTTP/1.0 GET of `path` at `addr` (the admin listener): status and body,
/// within ten seconds.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(10), get(addr, path))
        .await
        .expect("the admin listener answers within 10 s")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin listener");
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// The samples of a Prometheus scrape of the gateway at `addr`, parsed by an
/// independent parser (the text must be valid for it to get that far).
pub async fn scrape(addr: SocketAddr) -> Vec<prometheus_parse::Sample> {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines)
        .expect("valid Prometheus text")
        .samples
}

/// The value of the sample `name` whose labels include every pair of `labels`
/// (summed over the other labels); 0 if none.
pub fn sample(samples: &[prometheus_parse::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// An officer's move of dossier `code` to `status`, from `expected_revision`.
pub fn status_change(
    code: &str,
    status: DossierStatus,
    expected_revision: u64,
) -> UpdateDossierStatusRequest {
    UpdateDossierStatusRequest {
        dossier_code: code.into(),
        status: status as i32,
        expected_revision,
        handler: "cb-0001".into(),
        note: String::new(),
        at: None,
        due_at: None,
    }
}

/// Waits (up to `within`) until dossier `code` says it is delivered, and checks it
/// was delivered up to `revision`.
pub async fn marked_delivered(
    client: &mut DossierServiceClient<Channel>,
    code: &str,
    revision: u64,
    within: Duration,
) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let d = client
            .get_dossier(GetDossierRequest {
                dossier_code: code.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let sync = d.sync.unwrap();
        if sync.status == SyncStatus::Delivered as i32 {
            assert_eq!(sync.last_delivered_revision, revision, "{code}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{code} not marked delivered: {sync:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
