//! `lienthong audit archive`: move closed periods of the audit log into archive
//! files — online through `AdminService/ArchiveAudit` with an operator's
//! certificate (into the gateway's own archive directory), or offline on a stopped
//! gateway's data dir or a PostgreSQL ledger.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use lienthong_gateway::audit::archive::{self, Actor, Plan};
use lienthong_gateway::audit::{self, hex};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::{ArchiveAuditRequest, ArchiveFile};

use super::Source;
use crate::client::explain;
use crate::client::parse_time;

/// `audit archive`'s arguments.
#[derive(Debug, Args)]
pub struct Archive {
    /// Where the log is (online: call as an operator agency with --agency).
    #[command(flatten)]
    pub source: Source,
    /// Archive the records appended before this time (RFC 3339). Online, default:
    /// the gateway's audit.archive.keep_online ago; offline, required.
    #[arg(long, value_parser = parse_time)]
    pub before: Option<Timestamp>,
    /// Offline: where the archive files go (default: <data-dir>/archive).
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// First delete the archives whose records are all older than the retention,
    /// each noted in the log.
    #[arg(long)]
    pub expire: bool,
    /// Offline: the retention --expire applies, e.g. `5years` (online: the
    /// gateway's audit.archive.retention).
    #[arg(long, value_parser = humantime::parse_duration, requires = "expire")]
    pub retention: Option<Duration>,
    /// Offline: records per archive file at most.
    #[arg(long, default_value_t = 1_000_000)]
    pub per_file: u64,
    /// Offline: the key that signs the archives' closing checkpoints; default
    /// `<certs-dir>/audit-signing.key`.
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
}

fn line(verb: &str, f: &ArchiveFile) -> String {
    format!(
        "{verb} {}: records {} to {}, last hash {}{}",
        f.name,
        f.first_seq,
        f.last_seq,
        hex(&f.last_hash),
        if f.sha256.is_empty() {
            String::new()
        } else {
            format!(", sha256 {}", hex(&f.sha256))
        }
    )
}

fn file(n: &archive::Note) -> ArchiveFile {
    ArchiveFile {
        name: n.file.clone(),
        first_seq: n.first,
        last_seq: n.last,
        last_hash: n.last_hash.to_vec(),
        sha256: n.sha256.map(|s| s.to_vec()).unwrap_or_default(),
    }
}

/// Runs `audit archive`.
pub async fn run(a: &Archive, out: &mut impl Write) -> Result<bool, String> {
    let (archived, expired, dossiers) = match a.source.store().await? {
        None => {
            if a.to.is_some() || a.retention.is_some() {
                return Err(
                    "--to and --retention are for offline archiving (--data-dir or \
                            --ledger-url); online, the gateway's [audit.archive] applies"
                        .into(),
                );
            }
            // Archiving a large log takes minutes: wait up to an hour unless told
            // longer. A run cut off by the deadline goes on in the gateway.
            let connect = crate::client::Connect {
                timeout_ms: a.source.connect.timeout_ms.max(3_600_000),
                ..a.source.connect.clone()
            };
            let response = AdminServiceClient::new(connect.channel(&a.source.agency)?)
                .archive_audit(ArchiveAuditRequest {
                    before: a.before,
                    expire: a.expire,
                })
                .await
                .map_err(explain)?
                .into_inner();
            (
                response.archived,
                response.expired,
                response.dossiers_archived,
            )
        }
        Some(store) => {
            let before = a
                .before
                .as_ref()
                .ok_or("offline archiving needs --before")?;
            let dir = match (&a.to, &a.source.data_dir) {
                (Some(to), _) => to.clone(),
                (None, Some(data)) => data.join("archive"),
                (None, None) => return Err("--to is required with --ledger-url".into()),
            };
            let key = a
                .signing_key
                .clone()
                .unwrap_or_else(|| a.source.paths().audit_key());
            let signer = audit::Signer::load(&key).map_err(|e| e.to_string())?;
            let log = audit::Log::with_store(
                store,
                signer,
                audit::Settings {
                    checkpoint_every: 1000,
                    max_batch: 1024,
                },
                Duration::from_secs(10),
            )
            .map_err(|e| e.to_string())?;
            let plan = Plan {
                settings: archive::Settings {
                    dir,
                    per_file: a.per_file,
                    pace: Duration::ZERO,
                },
                keep_online: Duration::ZERO,
                retention: a.retention,
            };
            let by = Actor {
                purpose: "offline".into(),
                ..Actor::default()
            };
            let at = audit::record::micros(Some(before));
            let done = plan.run(&log, Some(at), a.expire, &by).await;
            // The notes' last checkpoint is signed, whatever happened.
            log.close().await;
            let ran = done.map_err(|e| e.to_string())?;
            (
                ran.archived.iter().map(file).collect(),
                ran.expired.iter().map(file).collect(),
                ran.dossiers,
            )
        }
    };
    for f in &expired {
        writeln!(out, "{}", line("expired", f)).map_err(|e| e.to_string())?;
    }
    for f in &archived {
        writeln!(out, "{}", line("archived", f)).map_err(|e| e.to_string())?;
    }
    if dossiers > 0 {
        writeln!(out, "archived {dossiers} closed dossiers").map_err(|e| e.to_string())?;
    }
    if archived.is_empty() && expired.is_empty() && dossiers == 0 {
        writeln!(out, "nothing to archive").map_err(|e| e.to_string())?;
    }
    Ok(true)
}
