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

mod cache;
mod ledger;
mod limits;
mod operations;
mod trust;
mod upstreams;

pub use cache::{BreakerConfig, CacheConfig, Freshness};
pub use ledger::{Backend, LedgerConfig};
pub use limits::{AgencyLimits, Limits, Rate, RateLimits, UpstreamLimits};
pub use operations::{
    AdminConfig, ConsoleConfig, DiskConfig, LogConfig, LogFormat, ReloadConfig, TracingConfig,
};
pub use trust::{ArchiveConfig, Audit, PolicyConfig, Tls};
pub use upstreams::{DossiersConfig, Population, Portal, RestApi, SyncConfig};

/// Reads the file the config names at `key` (`path`), or takes `dev` without one,
/// and parses it; an error names the key and the file.
pub fn load_file<T>(
    key: &str,
    path: Option<&std::path::Path>,
    dev: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Error> {
    let bad = |detail: String| Error::Config {
        key: key.into(),
        detail,
    };
    match path {
        None => parse(dev).map_err(bad),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            parse(&text).map_err(|e| bad(format!("{}: {e}", p.display())))
        }
    }
}

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
    /// Where the audit log, the dossiers and the outbox are kept.
    pub ledger: LedgerConfig,
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
    /// Working days and the procedures' time limits.
    pub dossiers: DossiersConfig,
    /// The operations listener: metrics, liveness, readiness.
    pub admin: AdminConfig,
    /// The inspectors' web console.
    pub console: ConsoleConfig,
    /// The disk under the data dir.
    pub disk: DiskConfig,
    /// Log lines.
    pub log: LogConfig,
    /// Traces across systems (OpenTelemetry).
    pub tracing: TracingConfig,
    /// Picking up changed certificates, CRL and policy without a restart.
    pub reload: ReloadConfig,
}

impl Config {
    /// Where audit archives go.
    pub fn archive_dir(&self) -> PathBuf {
        self.audit
            .archive
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("archive"))
    }

    /// The audit signing key's path.
    pub fn audit_signing_key(&self) -> PathBuf {
        self.audit
            .signing_key
            .clone()
            .unwrap_or_else(|| lienthong_pki::Paths::new(&self.tls.certs_dir).audit_key())
    }
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
            dossiers: DossiersConfig::default(),
            ledger: LedgerConfig::default(),
            disk: DiskConfig::default(),
            admin: AdminConfig::default(),
            console: ConsoleConfig::default(),
            tracing: TracingConfig::default(),
            log: LogConfig::default(),
            reload: ReloadConfig::default(),
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
        self.ledger.validate()?;
        if self.disk.hard_free_mb >= self.disk.soft_free_mb || self.disk.check_interval.is_zero() {
            return bad(
                "disk.hard_free_mb",
                "must be below disk.soft_free_mb (and disk.check_interval above zero)",
            );
        }
        if self.admin.health_interval.is_zero() {
            return bad("admin.health_interval", "must be greater than zero");
        }
        if !(0.0..=1.0).contains(&self.tracing.sampling_ratio) {
            return bad("tracing.sampling_ratio", "must be between 0.0 and 1.0");
        }
        if let Some(endpoint) = &self.tracing.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return bad(
                "tracing.otlp_endpoint",
                "must be a URL such as http://127.0.0.1:4317",
            );
        }
        if self.console.link_ttl.is_zero() || self.console.session_ttl.is_zero() {
            return bad(
                "console.link_ttl",
                "must be greater than zero (and console.session_ttl too)",
            );
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
        if self.audit.archive.per_file == 0 {
            return bad("audit.archive.per_file", "must be at least 1");
        }
        if self.audit.archive.every.is_zero() {
            return bad("audit.archive.every", "must be greater than zero");
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
        if self.sync.lease < Duration::from_secs(1) {
            return bad("sync.lease", "must be at least 1s");
        }
        if !(1..=100).contains(&self.sync.batch) {
            return bad("sync.batch", "must be 1 to 100 dossiers");
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
