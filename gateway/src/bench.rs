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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use lienthong_adapters::population::grpc::{self, GrpcConfig};
use lienthong_proto::prost_types::FieldMask;
use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{
    Dossier, DossierStatus, GetCitizenRequest, GetResidenceRequest, RequestContext,
    SubmitDossierRequest, UpdateDossierStatusRequest, VerifyCitizenRequest,
};
use serde::Serialize;
use tonic::transport::Channel;

use crate::pki::Paths;

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

/// One kind of request in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// GetCitizen of a citizen in the hot set.
    CitizenHit,
    /// GetCitizen of a citizen never asked for before.
    CitizenMiss,
    /// GetResidence of a citizen in the hot set.
    Residence,
    /// VerifyCitizen of a citizen in the hot set.
    Verify,
    /// SubmitDossier of a new dossier.
    DossierSubmit,
    /// UpdateDossierStatus of one of this slot's dossiers (submits one if it has none).
    DossierUpdate,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "citizen-hit" => Op::CitizenHit,
            "citizen-miss" => Op::CitizenMiss,
            "residence" => Op::Residence,
            "verify" => Op::Verify,
            "dossier-submit" => Op::DossierSubmit,
            "dossier-update" => Op::DossierUpdate,
            _ => return None,
        })
    }
}

/// The mix: cumulative weights.
#[derive(Debug, Clone)]
pub struct Mix(Vec<(Op, u32)>);

impl Mix {
    /// Parses `op=weight,…`.
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut total = 0;
        let mut ops = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let op = Op::parse(name.trim()).ok_or_else(|| {
                format!("--mix: unknown operation {name:?}; known: citizen-hit, citizen-miss, residence, verify, dossier-submit, dossier-update")
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("--mix: weight of {name} must be a whole number"))?;
            total += weight;
            ops.push((op, total));
        }
        if total == 0 {
            return Err("--mix: no operation with a weight above 0".into());
        }
        Ok(Mix(ops))
    }

    fn pick(&self, roll: u64) -> Op {
        let total = self.0.last().map_or(1, |(_, t)| *t);
        let r = (roll % u64::from(total)) as u32;
        self.0
            .iter()
            .find(|(_, upto)| r < *upto)
            .map_or(Op::CitizenHit, |(op, _)| *op)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `full`, `baseline` or the URL.
    pub target: String,
    /// Connections × in flight.
    pub connections: usize,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Requests answered OK.
    pub ok: u64,
    /// Errors by gRPC status code.
    pub errors: BTreeMap<String, u64>,
    /// OK answers per second.
    pub requests_per_second: f64,
    /// Latency percentiles of OK answers, µs.
    pub p50_us: u64,
    /// 90th.
    pub p90_us: u64,
    /// 99th.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
    /// Requests per operation.
    pub by_op: BTreeMap<String, u64>,
    /// Resident memory of the gateway process (MiB): at start, at the end, highest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<[f64; 3]>,
    /// Its trend over the second half of the run (MiB per minute, least squares):
    /// near zero when memory does not grow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_trend_mib_per_min: Option<f64>,
}

/// A tiny PRNG (xorshift64*): the mix and the hot set need spread, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Registered citizens of the simulator: the hot set, and a stream of new ones.
struct Citizens {
    hot: Vec<String>,
    fresh: AtomicU64,
}

fn registered(prefix: &str, from: u64) -> impl Iterator<Item = String> + '_ {
    (from..)
        .map_while(move |n| (n < 1_000_000).then(|| format!("{prefix}{n:06}")))
        .filter(|s| {
            lienthong_proto::PersonalId::parse(s)
                .is_ok_and(|id| lienthong_adapters::sim::citizens::is_registered(&id))
        })
}

impl Citizens {
    fn new(hot: u32, seed: u64) -> Citizens {
        Citizens {
            hot: registered("001085", 0).take(hot.max(1) as usize).collect(),
            // Misses start somewhere new each run, so a long-lived gateway's cache
            // has not seen them.
            fresh: AtomicU64::new(seed % 1_000_000),
        }
    }

    /// A citizen not asked for in this run (nor, likely, before).
    fn fresh(&self) -> String {
        loop {
            let n = self.fresh.fetch_add(1, Ordering::Relaxed);
            let prefix = ["079195", "001190", "048088", "092193"][(n / 1_000_000 % 4) as usize];
            let id = format!("{prefix}{:06}", n % 1_000_000);
            if lienthong_proto::PersonalId::parse(&id)
                .is_ok_and(|p| lienthong_adapters::sim::citizens::is_registered(&p))
            {
                return id;
            }
        }
    }
}

/// Everything the slots share.
struct Load {
    mix: Mix,
    citizens: Citizens,
    fields: Vec<String>,
    agency: String,
    serial: AtomicU64,
}

fn context() -> Option<RequestContext> {
    Some(RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: String::new(),
        officer_id: "bench".into(),
    })
}

/// One slot's clients on its connection.
#[derive(Clone)]
struct Clients {
    identity: IdentityServiceClient<Channel>,
    residency: ResidencyServiceClient<Channel>,
    dossiers: DossierServiceClient<Channel>,
}

/// A dossier this slot submitted: its code, revision and status.
struct Mine {
    code: String,
    revision: u64,
    status: DossierStatus,
}

impl Load {
    fn submit(&self) -> (SubmitDossierRequest, Mine) {
        let n = self.serial.fetch_add(1, Ordering::Relaxed) % 1_000_000_000;
        let code =
            lienthong_proto::DossierCode::compose(&self.agency, lienthong_proto::today(), n as u32);
        let request = SubmitDossierRequest {
            dossier: Some(Dossier {
                dossier_code: code.clone(),
                procedure_code: "1.001193".into(),
                agency_code: self.agency.clone(),
                applicant_name: "Ngô Anh Đạt".into(),
                applicant_personal_id: self.citizens.hot[0].clone(),
                channel: 1,
                status: DossierStatus::Registered as i32,
                received_at: Some(std::time::SystemTime::now().into()),
                ..Default::default()
            }),
        };
        let mine = Mine {
            code,
            revision: 1,
            status: DossierStatus::Registered,
        };
        (request, mine)
    }

    /// Sends one request of kind `op`; the status code's name, `OK` on success.
    async fn send(
        &self,
        op: Op,
        clients: &mut Clients,
        rng: &mut Rng,
        mine: &mut Vec<Mine>,
    ) -> &'static str {
        let mut hot =
            || self.citizens.hot[(rng.next() % self.citizens.hot.len() as u64) as usize].clone();
        let mask = (!self.fields.is_empty()).then(|| FieldMask {
            paths: self.fields.clone(),
        });
        let code = |r: Result<(), tonic::Status>| match r {
            Ok(()) => "OK",
            Err(s) => crate::metrics::code_name(s.code()),
        };
        match op {
            Op::CitizenHit | Op::CitizenMiss => {
                let personal_id = if op == Op::CitizenHit {
                    hot()
                } else {
                    self.citizens.fresh()
                };
                let request = GetCitizenRequest {
                    context: context(),
                    personal_id,
                    fields: mask,
                };
                code(clients.identity.get_citizen(request).await.map(drop))
            }
            Op::Residence => {
                let request = GetResidenceRequest {
                    context: context(),
                    personal_id: hot(),
                };
                code(clients.residency.get_residence(request).await.map(drop))
            }
            Op::Verify => {
                let request = VerifyCitizenRequest {
                    context: context(),
                    personal_id: hot(),
                    full_name: "Ngô Anh Đạt".into(),
                    birth_date: String::new(),
                };
                code(clients.identity.verify_citizen(request).await.map(drop))
            }
            Op::DossierSubmit => self.submit_one(clients, mine).await,
            Op::DossierUpdate => {
                let Some(d) = mine.pop() else {
                    return self.submit_one(clients, mine).await;
                };
                // Accepted → processing, then back and forth with supplement requests.
                let to = match d.status {
                    DossierStatus::Processing => DossierStatus::SupplementRequested,
                    DossierStatus::Registered => DossierStatus::Accepted,
                    _ => DossierStatus::Processing,
                };
                let request = UpdateDossierStatusRequest {
                    dossier_code: d.code.clone(),
                    status: to as i32,
                    expected_revision: d.revision,
                    handler: "bench".into(),
                    note: String::new(),
                    at: None,
                };
                let answer = clients.dossiers.update_dossier_status(request).await;
                if answer.is_ok() {
                    mine.push(Mine {
                        revision: d.revision + 1,
                        status: to,
                        ..d
                    });
                }
                code(answer.map(drop))
            }
        }
    }

    async fn submit_one(&self, clients: &mut Clients, mine: &mut Vec<Mine>) -> &'static str {
        let (request, dossier) = self.submit();
        match clients.dossiers.submit_dossier(request).await {
            Ok(_) => {
                mine.push(dossier);
                "OK"
            }
            Err(s) => crate::metrics::code_name(s.code()),
        }
    }
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
    crate::install_crypto_provider();
    let paths = Paths::new(&options.certs_dir);
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
    let config = GrpcConfig {
        url: url.to_owned(),
        ca_pem: read(paths.ca_cert())?,
        cert_pem: read(paths.client_cert(&options.agency))?,
        key_pem: read(paths.client_key(&options.agency))?,
        server_name: None,
        timeout: Duration::from_secs(30),
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
    let mut warm = Clients {
        identity: IdentityServiceClient::new(channels[0].clone()),
        residency: ResidencyServiceClient::new(channels[0].clone()),
        dossiers: DossierServiceClient::new(channels[0].clone()),
    };
    for id in &load.citizens.hot {
        let mask = (!load.fields.is_empty()).then(|| FieldMask {
            paths: load.fields.clone(),
        });
        let _ = warm
            .identity
            .get_citizen(GetCitizenRequest {
                context: context(),
                personal_id: id.clone(),
                fields: mask,
            })
            .await;
    }

    let started = Instant::now();
    let measure_from = started + options.warmup;
    let until = measure_from + options.duration;
    let interval = options
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(slots as f64 / r));
    let rss = pid.map(|pid| tokio::spawn(sample_rss(pid, until)));
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
    let rss = match rss {
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
        rss_mib: rss.map(|(r, _)| r),
        rss_trend_mib_per_min: rss.map(|(_, t)| t),
    })
}

/// The resident memory of `pid` in MiB, from `/proc` (Linux).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Samples `pid`'s memory every 250 ms until `until`: start, end, highest, and
/// the trend over the second half (MiB per minute).
async fn sample_rss(pid: u32, until: Instant) -> Option<([f64; 3], f64)> {
    let started = Instant::now();
    let first = rss_mib(pid)?;
    let (mut last, mut max) = (first, first);
    let mut samples = vec![(0.0, first)];
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(now) = rss_mib(pid) {
            last = now;
            max = max.max(now);
            samples.push((started.elapsed().as_secs_f64(), now));
        }
    }
    let half = &samples[samples.len() / 2..];
    Some(([first, last, max], slope(half) * 60.0))
}

/// The least-squares slope of `points` (y per x); 0 for fewer than two.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

/// A gateway started from this binary for `--local`.
struct Local {
    child: std::process::Child,
    url: String,
}

impl Drop for Local {
    fn drop(&mut self) {
        // SIGTERM would be kinder, but these are throw-away gateways in a temp dir.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The config of a `--local` gateway: full, or the baseline with policy, audit and
/// cache off. Rate limits are lifted for both (they would measure the limit).
pub fn local_config(dir: &Path, name: &str, baseline: bool) -> Result<crate::Config, String> {
    let mut config = crate::Config {
        listen: ([127, 0, 0, 1], free_port()?).into(),
        data_dir: dir.join(format!("data-{name}")),
        ..Default::default()
    };
    config.admin.listen = ([127, 0, 0, 1], free_port()?).into();
    config.tls.certs_dir = dir.join("certs");
    config.tls.generate_dev_pki = false;
    lift_limits(&mut config);
    config.log.level = "warn".into();
    if baseline {
        config.policy.enabled = false;
        config.audit.enabled = false;
        config.cache.enabled = false;
    }
    Ok(config)
}

/// Lifts the rate and in-flight limits, which would otherwise be what a benchmark
/// measures.
pub fn lift_limits(config: &mut crate::Config) {
    config.limits.rate.per_second = 1e9;
    config.limits.rate.burst = u32::MAX;
    config.limits.max_in_flight = 100_000;
    config.limits.max_in_flight_per_connection = 10_000;
    config.limits.max_concurrent_streams = 10_000;
}

async fn start_local(dir: &Path, name: &str, baseline: bool) -> Result<Local, String> {
    let config = local_config(dir, name, baseline)?;
    let file = dir.join(format!("{name}.toml"));
    let text = toml::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start the {name} gateway: {e}"))?;
    let local = Local {
        child,
        url: format!("https://localhost:{}", config.listen.port()),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(config.admin.listen)
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err(format!("the {name} gateway did not start; see {name}.log"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(local)
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
    crate::pki::init(&certs, false).map_err(|e| e.to_string())?;
    let options = Options {
        certs_dir: certs.dir.clone(),
        ..options.clone()
    };
    let baseline = match options.full_only {
        true => None,
        false => Some(start_local(dir.path(), "baseline", true).await?),
    };
    let full = start_local(dir.path(), "full", false).await?;
    let mut reports = Vec::new();
    for _ in 0..options.rounds.max(1) {
        let targets = baseline.iter().map(|b| ("baseline", b));
        for (name, gw) in targets.chain([("full", &full)]) {
            reports.push(measure(&options, &gw.url, name, Some(gw.child.id())).await?);
        }
    }
    Ok(reports)
}

/// The reports as a table, with ratios to the baseline when there is one.
pub fn text(options: &Options, reports: &[Report]) -> String {
    let mut out = format!(
        "{} connections x {} in flight, {} measured after {} warm-up, {}; mix {}\n",
        options.connections,
        options.in_flight,
        humantime::format_duration(options.duration),
        humantime::format_duration(options.warmup),
        options
            .rate
            .map_or("closed loop".to_owned(), |r| format!("{r} req/s open loop")),
        options.mix,
    );
    out.push_str(&format!(
        "{:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}  {}\n",
        "target",
        "req/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "errors",
        "RSS MiB start/end/max, trend"
    ));
    for r in reports {
        let errors: u64 = r.errors.values().sum();
        let rss = match (r.rss_mib, r.rss_trend_mib_per_min) {
            (Some([a, b, c]), Some(t)) => format!("{a:.0}/{b:.0}/{c:.0}, {t:+.2} MiB/min"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<10} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>8}  {}\n",
            r.target, r.requests_per_second, r.p50_us, r.p90_us, r.p99_us, r.max_us, errors, rss
        ));
        for (code, n) in &r.errors {
            out.push_str(&format!("           {code}: {n}\n"));
        }
    }
    let sum = |name: &str| {
        let rs: Vec<_> = reports.iter().filter(|r| r.target == name).collect();
        let n = rs.len().max(1) as f64;
        (
            rs.iter().map(|r| r.requests_per_second).sum::<f64>() / n,
            rs.iter().map(|r| r.p99_us as f64).sum::<f64>() / n,
            rs.iter().map(|r| r.p50_us as f64).sum::<f64>() / n,
        )
    };
    if reports.iter().any(|r| r.target == "baseline") {
        let (b_rps, b_p99, b_p50) = sum("baseline");
        let (f_rps, f_p99, f_p50) = sum("full");
        out.push_str(&format!(
            "full / baseline: {:.2}x the requests/s; p50 {:+.0} µs, p99 {:+.0} µs\n",
            f_rps / b_rps.max(1e-9),
            f_p50 - b_p50,
            f_p99 - b_p99
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_parses_and_picks_by_weight() {
        let mix = Mix::parse("citizen-hit=3,dossier-update=1").unwrap();
        let picks: Vec<_> = (0..4).map(|r| mix.pick(r)).collect();
        assert_eq!(
            picks,
            [
                Op::CitizenHit,
                Op::CitizenHit,
                Op::CitizenHit,
                Op::DossierUpdate
            ]
        );
        assert!(
            Mix::parse("citizen=1")
                .unwrap_err()
                .contains("unknown operation")
        );
        assert!(Mix::parse("verify=0").is_err());
        assert!(Mix::parse("verify=x").is_err());
        assert_eq!(Mix::parse("verify").unwrap().pick(7), Op::Verify);
    }

    #[test]
    fn the_trend_is_a_least_squares_slope() {
        assert_eq!(slope(&[(0.0, 5.0)]), 0.0);
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert!(slope(&[(0.0, 4.0), (1.0, 4.0), (2.0, 4.0)]).abs() < 1e-9);
    }

    #[test]
    fn citizens_are_registered_and_misses_are_new() {
        let c = Citizens::new(5, 42);
        assert_eq!(c.hot.len(), 5);
        let a = c.fresh();
        let b = c.fresh();
        assert_ne!(a, b);
        for id in c.hot.iter().chain([&a, &b]) {
            let id = lienthong_proto::PersonalId::parse(id).unwrap();
            assert!(lienthong_adapters::sim::citizens::is_registered(&id));
        }
    }
}
