//! Where the national systems are and how the gateway reaches them: the population
//! registry, the National Public Service Portal, and the dossier sync with it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

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

    /// The adapters' account, the CA bundle read, answers held to `bounds`.
    pub fn account(
        &self,
        bounds: lienthong_adapters::http::Bounds,
    ) -> Result<lienthong_adapters::http::Account, Error> {
        Ok(lienthong_adapters::http::Account {
            bounds,
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
    pub(super) fn validate(&self, section: &str) -> Result<(), Error> {
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
    /// The province's agency code prefix: the unit code the gateway logs in to the
    /// portal with (`dstcode`, `madonvi`), and online dossiers for agencies under it
    /// are fetched from the portal.
    pub unit: String,
    /// How often the portal's online feed is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Deliveries in flight at most (each to a different dossier).
    pub concurrency: usize,
    /// Dossiers in one call of the portal (`DongBoHoSoMC`) at most.
    pub batch: usize,
    /// The first retry of a failed delivery waits about this long, doubling after.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// No retry waits longer.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// How long a replica's claim on outbox work, and on the portal's feed, holds
    /// without renewal: when a replica dies, its deliveries resume elsewhere after
    /// at most this long.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            unit: "H99".into(),
            poll_interval: Duration::from_secs(2),
            concurrency: 16,
            batch: 20,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            lease: Duration::from_secs(15),
        }
    }
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

/// The rules dossiers are counted by (`[dossiers]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DossiersConfig {
    /// The working-day calendar (days off, weekends worked); default: the one
    /// shipped for 2024–2027 (`proto/calendar/vietnam.toml`).
    pub calendar: Option<std::path::PathBuf>,
    /// The procedures' time limits in working days; default: the development
    /// catalogue (`gateway/catalogue.dev.toml`).
    pub catalogue: Option<std::path::PathBuf>,
    /// How often the current month's QĐ 766 indicators are computed for the
    /// metrics; zero: never.
    #[serde(with = "humantime_serde")]
    pub indicators_every: Duration,
}

impl Default for DossiersConfig {
    fn default() -> Self {
        DossiersConfig {
            calendar: None,
            catalogue: None,
            indicators_every: Duration::from_secs(60),
        }
    }
}

impl DossiersConfig {
    /// The calendar it names, read and checked.
    pub fn calendar(&self) -> Result<lienthong_proto::calendar::Calendar, crate::Error> {
        let Some(path) = &self.calendar else {
            return Ok(lienthong_proto::calendar::Calendar::shipped());
        };
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| lienthong_proto::calendar::Calendar::parse(&text))
            .map_err(|detail| crate::Error::Config {
                key: "dossiers.calendar".into(),
                detail: format!("{}: {detail}", path.display()),
            })
    }
}
