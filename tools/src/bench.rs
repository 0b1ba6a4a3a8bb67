//! `lienthong bench`: a gRPC load generator an agency can point at any lienthong
//! gateway, and a same-run comparison against the framework's own cost.
//!
//! Against `--url`, it connects with an agency's certificate, opens `--connections`
//! mTLS connections with `--in-flight` requests each, warms up, then runs the
//! workload `--mix` for `--duration`: closed loop (each slot sends its next request
//! when the last one is answered) or, with `--rate`, at a fixed total rate, where a
//! request's latency counts from when it was due, so a stalled server cannot hide its
//! queue (no coordinated omission).
//!
//! With `--local`, it starts two gateways from this very binary, side by side on
//! loopback with the in-process simulators: the **full** gateway (policy, field mask,
//! durable audit record, cache) and the **baseline** (policy, audit and cache off:
//! mTLS, validation and gRPC alone). It measures them alternately in one run and
//! reports every figure as a ratio to the baseline, with the gateways' resident memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use clap::Args;
use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;

use lienthong_pki::Paths;

mod local;
mod report;
mod workload;

pub use local::Resources;
use local::{sample, start_local};
pub use report::{Report, text};
use workload::{Citizens, Clients, Load, Rng};
pub use workload::{Mix, Op};

/// `bench` options.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// The gateway to load (ignored with `--local`).
    #[arg(long, default_value = "https://localhost:50051")]
    pub url: String,
    /// Certificates directory: the CA and `clients/<agency>.{crt,key}`.
    #[arg(long, default_value = "certs")]
    pub certs_dir: PathBuf,
    /// The agency whose certificate is presented.
    #[arg(long, default_value = "H99.01")]
    pub agency: String,
    /// Start a full and a baseline gateway from this binary and compare them.
    #[arg(long)]
    pub local: bool,
    /// With `--local`: how many times each gateway is measured, alternately.
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// With `--local`: measure the full gateway only (e.g. a long memory run).
    #[arg(long, requires = "local")]
    pub full_only: bool,
    /// With `--local`: the gateways' configuration file (e.g. a smaller cache);
    /// their listeners, data dirs, certificates, limits and log level are still
    /// the bench's own.
    #[arg(long, requires = "local")]
    pub gateway_config: Option<PathBuf>,
    /// Connections (each one HTTP/2 connection, one TLS session).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Measured time.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Time run before measuring (connections warm, hot set cached).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// A fixed total rate in requests/s (open loop); without it, closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// The workload: operations with weights, e.g.
    /// `citizen-hit=80,citizen-miss=5,residence=5,verify=5,dossier-submit=2,dossier-update=3`.
    #[arg(long, default_value = "citizen-hit=1")]
    pub mix: String,
    /// Distinct citizens in the hot set (looked up again and again: cache hits).
    #[arg(long, default_value_t = 100)]
    pub hot_set: u32,
    /// Fields asked for in citizen lookups (a field mask); empty: every granted field.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "full_name,birth_date,sex"
    )]
    pub fields: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What one slot saw while measuring.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    by_op: BTreeMap<Op, u64>,
}

/// Runs the workload against `url` and measures it.
async fn measure(
    options: &Options,
    url: &str,
    target: &str,
    pid: Option<u32>,
) -> Result<Report, String> {
    lienthong_gateway::install_crypto_provider();
    let paths = Paths::new(&options.certs_dir);
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
    let config = GrpcConfig {
        url: url.to_owned(),
        ca_pem: read(paths.ca_cert())?,
        cert_pem: read(paths.client_cert(&options.agency))?,
        key_pem: read(paths.client_key(&options.agency))?,
        server_name: None,
        timeout: Duration::from_secs(30),
        max_message_bytes: lienthong_adapters::population::grpc::MAX_MESSAGE_BYTES,
        max_header_bytes: lienthong_adapters::population::grpc::MAX_HEADER_BYTES,
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let load = Arc::new(Load {
        mix: Mix::parse(&options.mix)?,
        citizens: Citizens::new(options.hot_set, seed),
        fields: options.fields.clone(),
        agency: options.agency.clone(),
        serial: AtomicU64::new(seed % 900_000_000),
    });
    let mut channels = Vec::new();
    for _ in 0..options.connections.max(1) {
        let channel = grpc::channel(&config).map_err(|e| e.to_string())?;
        // Connect now, not on the first request.
        let mut probe = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        probe
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map_err(|s| format!("{url}: {}", s.message()))?;
        channels.push(channel);
    }
    let slots = options.connections.max(1) * options.in_flight.max(1);
    // The hot set is cached before the clock starts (the warm-up repeats it).
    let mut warm = IdentityServiceClient::new(channels[0].clone());
    for id in &load.citizens.hot {
        let _ = warm.get_citizen(load.citizen(id.clone())).await;
    }

    let started = Instant::now();
    let measure_from = started + options.warmup;
    let until = measure_from + options.duration;
    let interval = options
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(slots as f64 / r));
    let resources = pid.map(|pid| tokio::spawn(sample(pid, until)));
    let tasks: Vec<_> = (0..slots)
        .map(|slot| {
            let channel = channels[slot % channels.len()].clone();
            let mut clients = Clients {
                identity: IdentityServiceClient::new(channel.clone()),
                residency: ResidencyServiceClient::new(channel.clone()),
                dossiers: DossierServiceClient::new(channel),
            };
            let load = load.clone();
            tokio::spawn(async move {
                let mut rng =
                    Rng(seed.wrapping_add((slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                let mut mine = Vec::new();
                let mut tally = Tally::default();
                // Spread the slots' schedules over one interval.
                let mut due = interval.map(|i| started + i.mul_f64(slot as f64 / slots as f64));
                loop {
                    let sent = match due {
                        Some(at) => {
                            tokio::time::sleep_until(at.into()).await;
                            at
                        }
                        None => Instant::now(),
                    };
                    if sent >= until {
                        return tally;
                    }
                    let op = load.mix.pick(rng.next());
                    let code = load.send(op, &mut clients, &mut rng, &mut mine).await;
                    if sent >= measure_from {
                        *tally.by_op.entry(op).or_default() += 1;
                        if code == "OK" {
                            let us = sent.elapsed().as_micros().min(u128::from(u32::MAX));
                            tally.latencies_us.push(us as u32);
                        } else {
                            *tally.errors.entry(code.to_owned()).or_default() += 1;
                        }
                    }
                    if let (Some(at), Some(i)) = (due.as_mut(), interval) {
                        *at += i;
                    }
                }
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await.map_err(|e| e.to_string())?;
        all.latencies_us.extend(t.latencies_us);
        for (k, v) in t.errors {
            *all.errors.entry(k).or_default() += v;
        }
        for (k, v) in t.by_op {
            *all.by_op.entry(k).or_default() += v;
        }
    }
    let resources = match resources {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    all.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let v = &all.latencies_us;
        if v.is_empty() {
            0
        } else {
            u64::from(v[((v.len() as f64 * p) as usize).min(v.len() - 1)])
        }
    };
    let seconds = options.duration.as_secs_f64();
    Ok(Report {
        target: target.to_owned(),
        connections: options.connections,
        in_flight: options.in_flight,
        seconds,
        ok: all.latencies_us.len() as u64,
        errors: all.errors,
        requests_per_second: all.latencies_us.len() as f64 / seconds,
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: all.latencies_us.last().map_or(0, |v| u64::from(*v)),
        by_op: all
            .by_op
            .into_iter()
            .map(|(op, n)| {
                let name = serde_json::to_value(op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (name, n)
            })
            .collect(),
        resources,
    })
}

/// Runs the bench: against `--url`, or `--local` full versus baseline.
pub async fn run(options: &Options) -> Result<Vec<Report>, String> {
    Mix::parse(&options.mix)?;
    if !options.local {
        return Ok(vec![
            measure(options, &options.url, &options.url, None).await?,
        ]);
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let certs = Paths::new(dir.path().join("certs"));
    lienthong_pki::init(&certs, false).map_err(|e| e.to_string())?;
    let options = Options {
        certs_dir: certs.dir.clone(),
        ..options.clone()
    };
    let base = match &options.gateway_config {
        Some(path) => lienthong_gateway::Config::load(path).map_err(|e| e.to_string())?,
        None => lienthong_gateway::Config::default(),
    };
    let baseline = match options.full_only {
        true => None,
        false => Some(start_local(dir.path(), "baseline", true, base.clone()).await?),
    };
    let full = start_local(dir.path(), "full", false, base).await?;
    let mut reports = Vec::new();
    for _ in 0..options.rounds.max(1) {
        let targets = baseline.iter().map(|b| ("baseline", b));
        for (name, gw) in targets.chain([("full", &full)]) {
            reports.push(measure(&options, &gw.url, name, Some(gw.child.id())).await?);
        }
    }
    Ok(reports)
}
