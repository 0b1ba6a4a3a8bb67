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
    /// Moving closed periods out of the live store.
    pub archive: ArchiveConfig,
    /// The agency directory (code → name) for citizens' access lists; default:
    /// the demo agencies (`gateway/agencies.dev.toml`).
    pub agency_directory: Option<PathBuf>,
    /// The witnesses whose cosignatures the gateway keeps: each one's C2SP
    /// verifier key (`<name>+<hex id>+<base64>`, as `lienthong witness init`
    /// prints it). None: no witness.
    pub witnesses: Vec<String>,
    /// How many of them must cosign (default: all).
    pub witness_quorum: Option<usize>,
    /// `/readyz` reports the log degraded when no checkpoint signed within this
    /// of the latest has the quorum of cosignatures.
    #[serde(with = "humantime_serde")]
    pub witness_grace: Duration,
}

/// Archives of the audit log (`[audit.archive]`, see `docs/AUDIT.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Archive on a schedule (`lienthong audit archive` works either way).
    pub enabled: bool,
    /// Where archive files go; default `<data_dir>/archive`. On several replicas,
    /// a directory they share (only the replica holding the archiver's lease
    /// writes to it).
    pub dir: Option<PathBuf>,
    /// How often the schedule archives.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// How much of the log stays in the live store.
    #[serde(with = "humantime_serde")]
    pub keep_online: Duration,
    /// Records per archive file at most.
    pub per_file: u64,
    /// Archives whose records are all older than this are deleted by the schedule
    /// and by `audit archive --expire`, each noted in the log; none: kept forever.
    #[serde(with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// A pause between the short transactions that remove archived records from
    /// the live store, so that appends hardly wait.
    #[serde(with = "humantime_serde")]
    pub pace: Duration,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: true,
            dir: None,
            every: Duration::from_secs(6 * 3600),
            keep_online: Duration::from_secs(30 * 86_400),
            per_file: 1_000_000,
            retention: None,
            pace: Duration::from_millis(2),
        }
    }
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            enabled: true,
            signing_key: None,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            max_batch: 1024,
            archive: ArchiveConfig::default(),
            agency_directory: None,
            witnesses: Vec::new(),
            witness_quorum: None,
            witness_grace: Duration::from_secs(300),
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
