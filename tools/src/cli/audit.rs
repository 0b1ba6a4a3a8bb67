//! `lienthong audit`: query, verify and export the audit log — online through
//! `AuditService` with an auditor's certificate, or offline from a stopped
//! gateway's data dir (or a copy of it).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::{
    AuditRecord, ExportAuditRequest, QueryAuditRequest, VerifyAuditRequest, VerifyAuditResponse,
    export_item,
};

use lienthong_gateway::audit::record::{decision_name, micros};
use std::sync::Arc;

use lienthong_ledger::Store;

use crate::client::{Connect, explain, parse_time};

mod archive;
mod prove;
use lienthong_gateway::audit::prove as proof;
use lienthong_gateway::audit::{self, Item, checkpoint, export, query};
use lienthong_pki::Paths;

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Records matching every filter given, as a table or JSON lines.
    Query {
        /// Where the log is.
        #[command(flatten)]
        source: Source,
        /// Only records about this citizen.
        #[arg(long)]
        subject: Option<String>,
        /// Only records of this calling agency.
        #[arg(long)]
        agency_code: Option<String>,
        /// Only this operation, e.g. IdentityService/GetCitizen.
        #[arg(long)]
        operation: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        from: Option<Timestamp>,
        /// Before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        to: Option<Timestamp>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after_seq: u64,
        /// At most this many records (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        /// JSON lines (the export format) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Recompute the hash chain and check the signed checkpoints.
    Verify {
        /// Where the log is.
        #[command(flatten)]
        source: Source,
        /// An export file to verify instead of a log.
        #[arg(long, conflicts_with_all = ["data_dir", "ledger_url"])]
        file: Option<PathBuf>,
        /// A proof document (`audit prove --json`) to check instead of a log.
        #[arg(long, conflicts_with_all = ["data_dir", "ledger_url", "file"])]
        proof: Option<PathBuf>,
        /// The public key to trust (offline and for files); default
        /// `<certs-dir>/audit-signing.pub`.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// First sequence number (0: the start).
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
        /// Last sequence number (0: the head).
        #[arg(long, default_value_t = 0)]
        to_seq: u64,
    },
    /// Move the records appended before a time into archive files: each written,
    /// fsynced, read back and verified, noted in the log, and only then removed
    /// from the live store.
    Archive(archive::Archive),
    /// The proof that a record is in the log as a signed checkpoint has it, or
    /// that the latest checkpoint extends an earlier tree.
    Prove(prove::Prove),
    /// Write a range of the log as JSON lines, sealed with a signed checkpoint.
    Export {
        /// Where the log is.
        #[command(flatten)]
        source: Source,
        /// From this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        from: Option<Timestamp>,
        /// Before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        to: Option<Timestamp>,
        /// First sequence number (0: the start).
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
        /// Last sequence number (0: the head).
        #[arg(long, default_value_t = 0)]
        to_seq: u64,
        /// Offline: the key that signs the export's seal; default
        /// `<certs-dir>/audit-signing.key`.
        #[arg(long)]
        signing_key: Option<PathBuf>,
    },
}

/// The log to read: a running gateway, or a data dir.
#[derive(Debug, Args)]
pub struct Source {
    /// The gateway.
    #[command(flatten)]
    pub connect: Connect,
    /// The auditor agency to call as.
    #[arg(long, default_value = "H99.90")]
    pub agency: String,
    /// Read this data dir's ledger directly (the gateway must be stopped).
    #[arg(long, conflicts_with = "ledger_url")]
    pub data_dir: Option<PathBuf>,
    /// Or read a PostgreSQL ledger directly (the gateways may run).
    #[command(flatten)]
    pub ledger: crate::cli::ledger::LedgerArgs,
    /// Offline: the archive files to read with the live log (default:
    /// `<data-dir>/archive` when it exists).
    #[arg(long)]
    pub archive: Option<PathBuf>,
}

impl Source {
    fn client(&self) -> Result<AuditServiceClient<tonic::transport::Channel>, String> {
        Ok(AuditServiceClient::new(self.connect.channel(&self.agency)?))
    }

    /// The ledger to read directly, when one is named.
    pub(crate) async fn store(&self) -> Result<Option<Arc<dyn Store>>, String> {
        if let Some(pg) = self.ledger.open().await? {
            return Ok(Some(pg));
        }
        self.data_dir
            .as_ref()
            .map(|dir| {
                lienthong_ledger::embedded::Embedded::in_dir(dir)
                    .map(|store| store as Arc<dyn Store>)
                    .map_err(|e| e.to_string())
            })
            .transpose()
    }

    /// The archives read with an offline log.
    fn archives(&self) -> Option<PathBuf> {
        self.archive.clone().or_else(|| {
            let dir = self.data_dir.as_ref()?.join("archive");
            dir.is_dir().then_some(dir)
        })
    }

    pub(crate) fn paths(&self) -> Paths {
        Paths::new(&self.connect.certs_dir)
    }
}

/// Runs an `audit` subcommand; `Ok(true)` when everything checked out.
pub async fn run(command: &Audit, out: &mut impl Write) -> Result<bool, String> {
    let io = |e: std::io::Error| e.to_string();
    match command {
        Audit::Query {
            source,
            subject,
            agency_code,
            operation,
            from,
            to,
            after_seq,
            limit,
            json,
        } => {
            let req = QueryAuditRequest {
                subject_personal_id: subject.clone().unwrap_or_default(),
                agency_code: agency_code.clone().unwrap_or_default(),
                operation: operation.clone().unwrap_or_default(),
                from: *from,
                to: *to,
                after_seq: *after_seq,
                limit: *limit,
            };
            if !json {
                writeln!(
                    out,
                    "{:>8}  {:<27}  {:<12}  {:<30}  {:<12}  {:<8}  {:<24}  request id",
                    "seq", "at (+07:00)", "agency", "operation", "subject", "decision", "reason"
                )
                .map_err(io)?;
            }
            let mut print = |r: AuditRecord| -> Result<(), String> {
                if *json {
                    writeln!(out, "{}", export::to_line(&Item::Record(r))).map_err(io)
                } else {
                    // Stored text is shown as it is: whatever an invalid request
                    // carried cannot move the inspector's cursor or hide itself.
                    let shown = |s: &str| lienthong_proto::text::printable(s).into_owned();
                    writeln!(
                        out,
                        "{:>8}  {:<27}  {:<12}  {:<30}  {:<12}  {:<8}  {:<24}  {}",
                        r.seq,
                        local(&r),
                        shown(&r.agency_code),
                        shown(&r.operation),
                        shown(&r.subject_personal_id),
                        decision_name(r.decision),
                        shown(&r.reason),
                        shown(&r.request_id)
                    )
                    .map_err(io)
                }
            };
            match source.store().await? {
                Some(store) => {
                    let archives = source.archives();
                    let mut records = query::Query::start(store, req, 0, archives.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                    while let Some(r) = records.next().await.map_err(|e| e.to_string())? {
                        print(r)?;
                    }
                }
                None => {
                    let mut stream = source
                        .client()?
                        .query_audit(req)
                        .await
                        .map_err(explain)?
                        .into_inner();
                    while let Some(r) = stream.message().await.map_err(explain)? {
                        print(r)?;
                    }
                }
            }
            Ok(true)
        }
        Audit::Verify {
            source,
            file,
            proof,
            public_key,
            from_seq,
            to_seq,
        } => {
            let trusted = || {
                let path = public_key
                    .clone()
                    .unwrap_or_else(|| source.paths().audit_public_key());
                checkpoint::load_public_key(&path).map_err(|e| e.to_string())
            };
            if let Some(path) = proof {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let document: proof::Document = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not a proof document: {e}", path.display()))?;
                let checked = document.check(&trusted()?);
                match &checked {
                    Ok(what) => writeln!(out, "OK: {what}"),
                    Err(why) => writeln!(out, "FAILED: {why}"),
                }
                .map_err(io)?;
                return Ok(checked.is_ok());
            }
            let report = if let Some(file) = file {
                let f =
                    std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
                export::verify(std::io::BufReader::new(f), &trusted()?)
                    .map_err(|e| e.to_string())?
            } else if let Some(store) = source.store().await? {
                audit::verify_store(
                    store,
                    &trusted()?,
                    *from_seq,
                    *to_seq,
                    source.archives().as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?
            } else {
                source
                    .client()?
                    .verify_audit(VerifyAuditRequest {
                        from_seq: *from_seq,
                        to_seq: *to_seq,
                    })
                    .await
                    .map_err(explain)?
                    .into_inner()
            };
            writeln!(out, "{}", summary(&report)).map_err(io)?;
            Ok(report.ok)
        }
        Audit::Archive(a) => archive::run(a, out).await,
        Audit::Prove(p) => prove::run(p, out).await,
        Audit::Export {
            source,
            from,
            to,
            from_seq,
            to_seq,
            signing_key,
        } => {
            match source.store().await? {
                Some(store) => {
                    let key = signing_key
                        .clone()
                        .unwrap_or_else(|| source.paths().audit_key());
                    let signer = audit::Signer::load(&key).map_err(|e| e.to_string())?;
                    let (lo, hi) =
                        query::range(&*store, *from_seq, *to_seq, from.as_ref(), to.as_ref())
                            .await
                            .map_err(|e| e.to_string())?;
                    let mut items = query::Export::new(store, lo, hi);
                    while let Some(item) = items.next(&signer).await.map_err(|e| e.to_string())? {
                        writeln!(out, "{}", export::to_line(&item)).map_err(io)?;
                    }
                }
                None => {
                    let req = ExportAuditRequest {
                        from_seq: *from_seq,
                        to_seq: *to_seq,
                        from: *from,
                        to: *to,
                    };
                    let mut stream = source
                        .client()?
                        .export_audit(req)
                        .await
                        .map_err(explain)?
                        .into_inner();
                    while let Some(item) = stream.message().await.map_err(explain)? {
                        let item = match item.item {
                            Some(export_item::Item::Record(r)) => Item::Record(r),
                            Some(export_item::Item::Checkpoint(c)) => Item::Checkpoint(c),
                            None => continue,
                        };
                        writeln!(out, "{}", export::to_line(&item)).map_err(io)?;
                    }
                }
            }
            Ok(true)
        }
    }
}

/// A record's time in Vietnam.
fn local(r: &AuditRecord) -> String {
    let nanos = i128::from(micros(r.at.as_ref())) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .map(|t| t.to_offset(lienthong_proto::VIETNAM))
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn summary(r: &VerifyAuditResponse) -> String {
    if r.ok {
        format!(
            "OK: {}\n  head hash: {}",
            r.detail,
            audit::hex(&r.head_hash)
        )
    } else {
        format!(
            "FAILED at record {}: {}\n  records checked before it: {}",
            r.first_bad_seq, r.detail, r.records_checked
        )
    }
}
