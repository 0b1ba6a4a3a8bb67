//! What keeps requests honest: the PKI files and identities, the policy file, and
//! the audit log's signing and checkpoints.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
