//! What the benchmarks share: a dev PKI, gateways on loopback in front of the
//! in-process simulator, and timed lookups over mTLS.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_adapters::sim::{Faults, Population};
use lienthong_gateway::Config;
use lienthong_gateway::server::{self, Running};
use lienthong_pki::{self as pki, Paths};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, RequestContext};
use tonic::transport::Channel;

/// A PKI and data dirs that live as long as the bench.
pub struct Bench {
    /// Removed at the end.
    pub dir: tempfile::TempDir,
    /// The PKI in it.
    pub paths: Paths,
}

impl Bench {
    /// A fresh dev PKI.
    pub fn new() -> Bench {
        lienthong_gateway::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("certs"));
        pki::init(&paths, false).unwrap();
        Bench { dir, paths }
    }

    /// The default config on a free port, with state in `data`.
    pub fn config(&self, data: &str) -> Config {
        let mut config = Config {
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: self.dir.path().join(data),
            ..Default::default()
        };
        config.tls.certs_dir = self.paths.dir.clone();
        config.tls.generate_dev_pki = false;
        config.admin.listen = ([127, 0, 0, 1], 0).into();
        config.limits.lift();
        config
    }

    /// A gateway with `config` in front of the simulator answering after `latency`.
    pub async fn start(&self, config: &Config, latency: Duration) -> Running {
        let sim = Arc::new(Population::new(Faults::new(latency, 0.0)));
        server::start(config, sim).await.unwrap()
    }

    /// An mTLS channel to `gw` as H99.01.
    pub fn channel(&self, gw: &Running) -> Channel {
        self.channel_as(gw, "H99.01", Duration::from_secs(5))
    }

    /// An mTLS channel to `gw` as `agency`, each call within `timeout`.
    pub fn channel_as(&self, gw: &Running, agency: &str, timeout: Duration) -> Channel {
        let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
        grpc::channel(&GrpcConfig {
            url: format!("https://localhost:{}", gw.addr().port()),
            ca_pem: read(self.paths.ca_cert()),
            cert_pem: read(self.paths.client_cert(agency)),
            key_pem: read(self.paths.client_key(agency)),
            server_name: None,
            timeout,
            max_message_bytes: lienthong_adapters::population::grpc::MAX_MESSAGE_BYTES,
            max_header_bytes: lienthong_adapters::population::grpc::MAX_HEADER_BYTES,
        })
        .unwrap()
    }
}

/// A lookup of `personal_id` as the one-stop shop.
pub fn request(personal_id: &str) -> GetCitizenRequest {
    GetCitizenRequest {
        context: Some(RequestContext {
            purpose: "dossier-processing".into(),
            legal_basis: "ND-47/2020".into(),
            case_ref: String::new(),
            officer_id: "cb-0001".into(),
        }),
        personal_id: personal_id.into(),
        fields: None,
    }
}

/// Latencies (µs) of sequential lookups of `ids` on one channel.
pub async fn timed(channel: Channel, ids: &[String]) -> Vec<f64> {
    let mut client = IdentityServiceClient::new(channel);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let t = Instant::now();
        client.get_citizen(request(id)).await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out
}

/// The `p` quantile of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sorts latencies for [`pct`].
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// `n` distinct personal IDs the simulator has citizens for, from `serial` on.
pub fn distinct_ids(n: usize, serial: usize) -> Vec<String> {
    (serial..)
        .map(|i| format!("0{:02}085{:06}", 1 + (i / 1_000_000) % 2, i % 1_000_000))
        .filter(|s| {
            let id = lienthong_proto::PersonalId::parse(s).expect("well-formed");
            lienthong_adapters::sim::citizens::is_registered(&id)
        })
        .take(n)
        .collect()
}

/// Requests/s with `tasks` concurrent callers spread over 4 connections, each
/// looking up its share of `ids` in turn.
pub async fn throughput(
    bench: &Bench,
    gw: &lienthong_gateway::server::Running,
    ids: &[String],
    tasks: usize,
) -> f64 {
    let channels: Vec<_> = (0..4).map(|_| bench.channel(gw)).collect();
    let per = ids.len() / tasks;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let channel = channels[t % channels.len()].clone();
            let mine = ids[t * per..(t + 1) * per].to_vec();
            tokio::spawn(async move { timed(channel, &mine).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    (per * tasks) as f64 / started.elapsed().as_secs_f64()
}

/// Points `config` at a fresh database on the throw-away PostgreSQL cluster;
/// false (saying so) where PostgreSQL is not installed.
pub async fn on_postgres(config: &mut Config) -> bool {
    let Some(cluster) = lienthong_testdb::Cluster::shared() else {
        println!("(PostgreSQL is not installed: its figures are left out)");
        return false;
    };
    config.ledger.backend = lienthong_gateway::config::Backend::Postgres;
    config.ledger.url = cluster.database().await;
    true
}

/// An audit record of a served lookup, as large as a real one; numbered `n`.
pub fn audit_record(n: u64) -> lienthong_proto::v1::AuditRecord {
    lienthong_proto::v1::AuditRecord {
        agency_code: "H99.01".into(),
        certificate_fingerprint: "ab".repeat(32),
        officer_id: "cb-0001".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: format!("001085{:06}", n % 1_000_000),
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: "H99.01-261122-0001".into(),
        decision: lienthong_proto::v1::Decision::Granted as i32,
        fields_released: vec!["citizen.full_name".into(), "citizen.birth_date".into()],
        request_id: format!("{:08x}-0000-4000-8000-{n:012x}", n as u32),
        ..Default::default()
    }
}

/// The number after the flag `name` on the bench's command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

/// A config whose embedded ledger holds a large log (`--records N`, default
/// 10,000,000: [`fill_log`]), with nothing running beside the lookups measured
/// (no archiving, no indicators); and how many records.
pub async fn large_log(bench: &Bench) -> (Config, u64) {
    let records: u64 = arg("--records", 10_000_000);
    let mut config = bench.config("data");
    config.audit.archive.enabled = false;
    config.dossiers.indicators_every = Duration::ZERO;
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let filling = Instant::now();
    fill_log(bench, &config.data_dir, records).await;
    let fill = filling.elapsed().as_secs_f64();
    println!(
        "{records} records filled in {fill:.0} s ({:.0} records/s)",
        records as f64 / fill
    );
    (config, records)
}

/// Fills the embedded ledger in `data_dir` with `records` records
/// ([`audit_record`]), through the audit log's writer in large group commits from
/// 512 tasks, signed with the bench's audit key.
pub async fn fill_log(bench: &Bench, data_dir: &std::path::Path, records: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let signer = lienthong_gateway::audit::Signer::load(&bench.paths.audit_key()).unwrap();
    let settings = lienthong_gateway::audit::Settings {
        checkpoint_every: 1000,
        max_batch: 8192,
    };
    let log = Arc::new(
        lienthong_gateway::audit::Log::open(
            &data_dir.join("ledger.redb"),
            signer,
            settings,
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..512)
        .map(|_| {
            let (log, next) = (log.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= records {
                        break;
                    }
                    log.append(audit_record(n)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    log.close().await;
}
