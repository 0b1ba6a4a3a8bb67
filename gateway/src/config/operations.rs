//! The operations side: the admin listener, logs, reloads.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The operations listener (plain HTTP; keep it on loopback or a management network).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve `/metrics`, `/healthz` and `/readyz` at all.
    pub enabled: bool,
    /// Its address.
    pub listen: SocketAddr,
    /// How often readiness (data dir, audit log, upstream circuits) is checked.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            health_interval: Duration::from_secs(2),
        }
    }
}

/// The inspectors' web console (HTTPS, the gateway's server certificate; sign-in
/// with a one-time link minted on the server by `lienthong console login`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve it: `true` or `false`; unset, it runs exactly when the development
    /// PKI is generated (the embedded setup) and not in a production config.
    pub enabled: Option<bool>,
    /// Its address. Keep it on loopback or the inspectorate's network.
    pub listen: SocketAddr,
    /// The address sign-in links point at, when the browser reaches the console by
    /// another name than `listen` (a DNS name, a reverse tunnel).
    pub url: Option<String>,
    /// How long a sign-in link may wait to be used (once).
    #[serde(with = "humantime_serde")]
    pub link_ttl: Duration,
    /// How long a session lasts after sign-in.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            url: None,
            link_ttl: Duration::from_secs(5 * 60),
            session_ttl: Duration::from_secs(30 * 60),
        }
    }
}

impl ConsoleConfig {
    /// Whether it runs, given whether the development PKI is generated.
    pub fn on(&self, dev_pki: bool) -> bool {
        self.enabled.unwrap_or(dev_pki)
    }

    /// Where sign-in links point: `url`, or `https://` and the listen address
    /// (`localhost` for an unspecified one).
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.url {
            return url.trim_end_matches('/').to_owned();
        }
        match self.listen {
            a if a.ip().is_unspecified() => format!("https://localhost:{}", a.port()),
            a => format!("https://{a}"),
        }
    }
}

/// Distributed tracing (OpenTelemetry): off unless a collector is named.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The OTLP/gRPC collector spans are exported to, e.g. `http://127.0.0.1:4317`;
    /// unset, nothing is exported and no trace context is passed on (the trace id
    /// a client sends is still written to its audit record).
    pub otlp_endpoint: Option<String>,
    /// The share of traces started here that are kept (0.0–1.0); a trace the
    /// client started is kept as the client decided (its `traceparent` flag).
    pub sampling_ratio: f64,
    /// The `service.name` the spans carry.
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            otlp_endpoint: None,
            sampling_ratio: 1.0,
            service_name: "lienthong".into(),
        }
    }
}

/// The disk under the data dir: when to warn, and when to stop recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Below this much free space (MiB) readiness reports the gateway degraded.
    pub soft_free_mb: u64,
    /// Below this much free space (MiB) audited requests are refused.
    pub hard_free_mb: u64,
    /// How often free space is read.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            soft_free_mb: 2048,
            hard_free_mb: 256,
            check_interval: Duration::from_secs(1),
        }
    }
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A filter such as `info` or `info,lienthong_gateway=debug`.
    pub level: String,
    /// `text` for people, `json` for a log pipeline.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, with the request span's fields.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is not a log format: text or json")),
        }
    }
}

/// When changed files are picked up. SIGHUP reloads at once, whatever this says.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// How often the server certificate, key, CA, CRL and policy file are checked
    /// for changes; `0s` turns the check off (SIGHUP only).
    #[serde(with = "humantime_serde")]
    pub watch_interval: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            watch_interval: Duration::from_secs(5),
        }
    }
}
