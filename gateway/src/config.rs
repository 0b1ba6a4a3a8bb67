//! The gateway's configuration: one typed tree, read from TOML, validated at start-up.
//!
//! [`Config::default`] is the embedded development setup that `lienthong serve` runs
//! with no file: loopback listener, dev PKI under `certs/`, state under `data/`, the
//! population simulator in-process. Unknown keys are refused so that a typo cannot
//! silently fall back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

mod limits;
mod operations;

pub use limits::{Limits, Rate, RateLimits};
pub use operations::{AdminConfig, LogConfig, LogFormat, ReloadConfig};

/// The default configuration as a commented TOML file (`lienthong config default`):
/// every key with its default and what it does. It parses to [`Config::default`].
pub const DEFAULT_FILE: &str = include_str!("../config.default.toml");

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the mTLS gRPC listener.
    pub listen: SocketAddr,
    /// Where the gateway keeps its state.
    pub data_dir: PathBuf,
    /// Certificates and the identity of agencies.
    pub tls: Tls,
    /// The national population database.
    pub population: Population,
    /// Deadlines.
    pub limits: Limits,
    /// Who may read what.
    pub policy: PolicyConfig,
    /// The audit log.
    pub audit: Audit,
    /// The cache of identity and residence records.
    pub cache: CacheConfig,
    /// The circuit breaker in front of the population registry.
    pub breaker: BreakerConfig,
    /// The National Public Service Portal.
    pub portal: Portal,
    /// Dossier exchange with the portal.
    pub sync: SyncConfig,
    /// The operations listener: metrics, liveness, readiness.
    pub admin: AdminConfig,
    /// Log lines.
    pub log: LogConfig,
    /// Picking up changed certificates, CRL and policy without a restart.
    pub reload: ReloadConfig,
}

/// Which adapter reaches the National Public Service Portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase", tag = "adapter")]
pub enum Portal {
    /// The portal simulator, in-process; it keeps its state in
    /// `<data_dir>/portal-sim.jsonl` so it remembers across restarts.
    Sim {
        /// Latency added to every answer.
        #[serde(with = "humantime_serde", default)]
        latency: Duration,
        /// Share of calls that fail (0.0–1.0).
        #[serde(default)]
        fail_rate: f64,
    },
    /// The portal's REST/JSON sync API (or `lienthong sim portal`).
    Rest(RestApi),
}

/// A national REST/JSON API: where it is, the account it is called with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestApi {
    /// Base URL.
    pub url: String,
    /// Account for the token endpoint.
    pub username: String,
    /// Its secret.
    pub password: String,
    /// Per-call deadline.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra CA bundle (PEM) for `https` URLs.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl RestApi {
    /// The API at `url` with the development account of the simulators.
    pub fn dev(url: &str, timeout: Duration) -> RestApi {
        let dev = lienthong_adapters::sim::gate::Credentials::default();
        RestApi {
            url: url.to_owned(),
            username: dev.username,
            password: dev.password,
            timeout,
            ca_file: None,
        }
    }

    /// The adapters' account, the CA bundle read.
    pub fn account(&self) -> Result<lienthong_adapters::http::Account, Error> {
        Ok(lienthong_adapters::http::Account {
            base_url: self.url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            timeout: self.timeout,
            ca_pem: self
                .ca_file
                .as_ref()
                .map(|p| std::fs::read(p).map_err(Error::io(p)))
                .transpose()?,
        })
    }

    /// Checks the URL and the deadline; errors name `section.url` / `section.timeout`.
    fn validate(&self, section: &str) -> Result<(), Error> {
        let bad = |key: &str, detail: &str| Error::Config {
            key: format!("{section}.{key}"),
            detail: detail.into(),
        };
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(bad("url", "must start with http:// or https://"));
        }
        if self.timeout.is_zero() {
            return Err(bad("timeout", "must be greater than zero"));
        }
        Ok(())
    }
}

/// How dossiers travel to and from the portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// The province's agency code prefix: online dossiers for agencies under it are
    /// fetched from the portal.
    pub unit: String,
    /// How often the portal's online feed is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Deliveries in flight at most (each to a different dossier).
    pub concurrency: usize,
    /// The first retry of a failed delivery waits about this long, doubling after.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// No retry waits longer.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            unit: "H99".into(),
            poll_interval: Duration::from_secs(2),
            concurrency: 16,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The read-through cache (`cache/` and `cache.key` in the data dir).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Cache records at all. Off, every lookup goes upstream (still one call per
    /// record at a time, still behind the breaker).
    pub enabled: bool,
    /// Bytes of sealed records on disk at most (keys and values; sled's files take
    /// up to about twice that); the oldest go first.
    pub max_bytes: u64,
    /// Records kept decrypted in memory at most.
    pub memory_entries: usize,
    /// How often expired records are swept from disk.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// Identity records (GetCitizen, VerifyCitizen).
    pub citizen: Freshness,
    /// Residence records (GetResidence).
    pub residence: Freshness,
}

/// How long a cached record serves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Served from the cache this long after it was fetched.
    #[serde(with = "humantime_serde")]
    pub fresh: Duration,
    /// Then, while the upstream is down or its circuit open, served (marked stale)
    /// for this much longer.
    #[serde(with = "humantime_serde")]
    pub stale_if_error: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            fresh: Duration::from_secs(5 * 60),
            stale_if_error: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_bytes: 256 * 1024 * 1024,
            memory_entries: 10_000,
            sweep_interval: Duration::from_secs(600),
            citizen: Freshness::default(),
            residence: Freshness::default(),
        }
    }
}

/// When the upstream's circuit opens and when it is probed again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive upstream failures that open the circuit.
    pub failures: u32,
    /// How long it stays open before one probe goes through.
    #[serde(with = "humantime_serde")]
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// Where the policy comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Decide every request by the policy. Switch off only to measure the
    /// framework's own cost (the benchmark baseline): off, everyone reads everything.
    pub enabled: bool,
    /// The policy file (TOML, see `gateway/policy.dev.toml`); without it, the
    /// embedded development policy.
    pub file: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            enabled: true,
            file: None,
        }
    }
}

/// The audit log (`ledger.redb` in the data dir).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Record every request. Switch off only to measure the framework's own cost
    /// (the benchmark baseline): a gateway that releases personal data must audit.
    pub enabled: bool,
    /// Ed25519 key (PKCS#8 PEM) that signs checkpoints; default
    /// `<certs_dir>/audit-signing.key`.
    pub signing_key: Option<PathBuf>,
    /// Sign a checkpoint after this many records.
    pub checkpoint_every: u64,
    /// And at least this often while records arrive.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Records per durable commit at most (group commit).
    pub max_batch: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            enabled: true,
            signing_key: None,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            max_batch: 1024,
        }
    }
}

impl Config {
    /// The audit signing key's path.
    pub fn audit_signing_key(&self) -> PathBuf {
        self.audit
            .signing_key
            .clone()
            .unwrap_or_else(|| lienthong_pki::Paths::new(&self.tls.certs_dir).audit_key())
    }
}

/// Files of the PKI and how identities are read from certificates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Directory with `ca.crt`, `ca.crl`, `server.crt`, `server.key` (the layout
    /// `lienthong pki init` writes). With the default config, a missing dev PKI is
    /// generated here at start-up.
    pub certs_dir: PathBuf,
    /// The SAN URI prefix that carries the agency code in client certificates.
    pub agency_uri_prefix: String,
    /// A TLS handshake that takes longer is abandoned.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Generate the development PKI into `certs_dir` when it has none. Never in production.
    pub generate_dev_pki: bool,
}

/// Which adapter answers for the national population database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase", tag = "adapter")]
pub enum Population {
    /// The simulator, in-process.
    Sim {
        /// Latency added to every answer.
        #[serde(with = "humantime_serde", default)]
        latency: Duration,
        /// Share of calls that fail (0.0–1.0).
        #[serde(default)]
        error_rate: f64,
    },
    /// A national REST/JSON API (or `lienthong sim population`).
    Rest(RestApi),
    /// Another lienthong gateway over mTLS (federation).
    Grpc {
        /// `https://host:port`.
        url: String,
        /// CA of the upstream's server certificate.
        ca_file: PathBuf,
        /// This gateway's client certificate at the upstream.
        cert_file: PathBuf,
        /// Its key.
        key_file: PathBuf,
        /// Name to check the upstream certificate against, if not the URL's host.
        #[serde(default)]
        server_name: Option<String>,
        /// Per-call deadline.
        #[serde(with = "humantime_serde")]
        timeout: Duration,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("data"),
            tls: Tls::default(),
            population: Population::Sim {
                latency: Duration::ZERO,
                error_rate: 0.0,
            },
            limits: Limits::default(),
            policy: PolicyConfig::default(),
            audit: Audit::default(),
            cache: CacheConfig::default(),
            breaker: BreakerConfig::default(),
            portal: Portal::Sim {
                latency: Duration::ZERO,
                fail_rate: 0.0,
            },
            sync: SyncConfig::default(),
            admin: AdminConfig::default(),
            log: LogConfig::default(),
            reload: ReloadConfig::default(),
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            certs_dir: PathBuf::from("certs"),
            agency_uri_prefix: lienthong_pki::AGENCY_URI_PREFIX.to_owned(),
            handshake_timeout: Duration::from_secs(10),
            generate_dev_pki: true,
        }
    }
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            key: path.display().to_string(),
            detail: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot; the error names the offending key.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |key: &str, detail: &str| {
            Err(Error::Config {
                key: key.into(),
                detail: detail.into(),
            })
        };
        if self.limits.request_timeout.is_zero() {
            return bad("limits.request_timeout", "must be greater than zero");
        }
        if self.limits.upstream_timeout.is_zero()
            || self.limits.upstream_timeout > self.limits.request_timeout
        {
            return bad(
                "limits.upstream_timeout",
                "must be greater than zero and at most limits.request_timeout",
            );
        }
        self.validate_limits()?;
        if self.admin.health_interval.is_zero() {
            return bad("admin.health_interval", "must be greater than zero");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(
                "log.level",
                "must be a filter such as info or info,lienthong_gateway=debug",
            );
        }
        if self.audit.checkpoint_every == 0 {
            return bad("audit.checkpoint_every", "must be at least 1");
        }
        if self.audit.checkpoint_interval.is_zero() {
            return bad("audit.checkpoint_interval", "must be greater than zero");
        }
        if !(1..=65_536).contains(&self.audit.max_batch) {
            return bad("audit.max_batch", "must be between 1 and 65536");
        }
        if self.cache.memory_entries == 0 {
            return bad("cache.memory_entries", "must be at least 1");
        }
        if self.cache.sweep_interval.is_zero() {
            return bad("cache.sweep_interval", "must be greater than zero");
        }
        for (key, f) in [
            ("cache.citizen.fresh", &self.cache.citizen),
            ("cache.residence.fresh", &self.cache.residence),
        ] {
            if f.fresh.is_zero() {
                return bad(
                    key,
                    "must be greater than zero (turn the cache off with cache.enabled = false)",
                );
            }
        }
        if lienthong_proto::AgencyCode::parse(&self.sync.unit).is_err() {
            return bad("sync.unit", "must be an agency code prefix, e.g. H99");
        }
        if self.sync.concurrency == 0 || self.sync.poll_interval.is_zero() {
            return bad(
                "sync.concurrency",
                "sync.concurrency and sync.poll_interval must be greater than zero",
            );
        }
        match &self.portal {
            Portal::Sim { fail_rate, .. } if !(0.0..=1.0).contains(fail_rate) => {
                return bad("portal.fail_rate", "must be between 0.0 and 1.0");
            }
            Portal::Rest(api) => api.validate("portal")?,
            Portal::Sim { .. } => {}
        }
        if self.breaker.failures == 0 {
            return bad("breaker.failures", "must be at least 1");
        }
        if self.breaker.cool_down.is_zero() {
            return bad("breaker.cool_down", "must be greater than zero");
        }
        if self.tls.handshake_timeout.is_zero() {
            return bad("tls.handshake_timeout", "must be greater than zero");
        }
        if !self.tls.agency_uri_prefix.contains(':') {
            return bad(
                "tls.agency_uri_prefix",
                "must be a URI prefix such as urn:lienthong:agency:",
            );
        }
        match &self.population {
            Population::Sim { error_rate, .. } if !(0.0..=1.0).contains(error_rate) => {
                bad("population.error_rate", "must be between 0.0 and 1.0")
            }
            Population::Rest(api) => api.validate("population"),
            Population::Grpc { url, timeout, .. } => {
                if !url.starts_with("https://") {
                    return bad(
                        "population.url",
                        "must start with https:// (federation is always mTLS)",
                    );
                }
                if timeout.is_zero() {
                    return bad("population.timeout", "must be greater than zero");
                }
                Ok(())
            }
            Population::Sim { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
