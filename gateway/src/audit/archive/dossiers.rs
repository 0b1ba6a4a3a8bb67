//! Closed dossiers moved out of the live store: a dossier whose status is final
//! and whose every revision the portal acknowledged, received before the cut, is
//! written whole to an archive file (gzip-compressed JSON lines, one dossier per
//! line), the file fsynced and read back, the move noted in the audit log, and
//! only then is the live dossier replaced by its stub: code, procedure, agency,
//! status, receipt, revision, sync and the archive's name. The stub keeps the
//! code taken (a new submission under it is refused), the revision counting, and
//! nothing of the applicant's personal data. Its history was audited change by
//! change, and is archived with the audit log.

use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use lienthong_ledger::Filter;
use lienthong_proto::v1::{AuditRecord, Decision, Dossier, DossierStatus};

use super::files::{Writer, io};
use super::{Actor, background};
use crate::Error;
use crate::audit::record::micros;
use crate::audit::{Log, hex};
use crate::sync::json;

/// The operation of the record that notes closed dossiers archived.
pub const ARCHIVED: &str = "AuditLog/DossiersArchived";

/// Dossiers per archive file at most.
const PER_FILE: usize = 10_000;

/// What stays live of an archived dossier.
fn stub(d: &Dossier, file: &str) -> Dossier {
    Dossier {
        dossier_code: d.dossier_code.clone(),
        procedure_code: d.procedure_code.clone(),
        agency_code: d.agency_code.clone(),
        status: d.status,
        received_at: d.received_at,
        revision: d.revision,
        sync: d.sync.clone(),
        archived_in: file.to_owned(),
        ..Dossier::default()
    }
}

/// Whether `d` is closed and was received before `before` (µs).
fn closed(d: &Dossier, before: i64) -> bool {
    let status = DossierStatus::try_from(d.status).unwrap_or_default();
    let received = d.received_at.as_ref().or(d.submitted_at.as_ref());
    d.archived_in.is_empty()
        && lienthong_proto::dossier_status::is_final(status)
        && d.sync.as_ref().map(|s| s.last_delivered_revision) == Some(d.revision)
        && received.is_some_and(|t| micros(Some(t)) < before)
}

/// Archives the closed dossiers received before `before` (µs) into `dir`;
/// returns how many left the live store. Memory: one file's dossiers at most.
pub async fn archive(log: &Log, dir: &Path, before: i64, by: &Actor) -> Result<u64, Error> {
    let store = log.store().clone();
    let (mut after, mut moved) = (String::new(), 0);
    loop {
        let mut batch = Vec::new();
        let mut more = true;
        while batch.len() < PER_FILE && more {
            let (page, next) = store
                .dossiers(&after, 500, &Filter::default())
                .await
                .map_err(Error::ledger)?;
            more = next;
            if let Some(last) = page.last() {
                after.clone_from(&last.dossier_code);
            } else {
                more = false;
            }
            batch.extend(page.into_iter().filter(|d| closed(d, before)));
        }
        if !batch.is_empty() {
            moved += archive_batch(log, dir, batch, by).await?;
        }
        if !more {
            return Ok(moved);
        }
    }
}

/// Writes `batch` to its file, reads it back, notes it, then stubs the dossiers.
async fn archive_batch(
    log: &Log,
    dir: &Path,
    batch: Vec<Dossier>,
    by: &Actor,
) -> Result<u64, Error> {
    let (first, last) = (
        batch[0].dossier_code.clone(),
        batch[batch.len() - 1].dossier_code.clone(),
    );
    let name = format!(
        "dossiers-{first}-{last}-{}.jsonl.gz",
        crate::clock::now_micros()
    );
    let lines: Vec<String> = batch.iter().map(|d| json::dossier(d).to_string()).collect();
    let count = lines.len();
    let sha = {
        let (dir, name) = (dir.to_owned(), name.clone());
        background::run(move || write(&dir, &name, &lines)).await?
    };
    let mut note = AuditRecord {
        request_id: by.request_id.clone(),
        agency_code: by.agency_code.clone(),
        certificate_fingerprint: by.certificate_fingerprint.clone(),
        operation: ARCHIVED.into(),
        purpose: by.purpose.clone(),
        case_ref: name.clone(),
        decision: Decision::Granted as i32,
        reason: format!("count={count} sha256={}", hex(&sha)),
        ..AuditRecord::default()
    };
    note.reason.truncate(crate::audit::record::MAX_FIELD_CHARS);
    log.append(note).await?;
    let stubs: Vec<Dossier> = batch.iter().map(|d| stub(d, &name)).collect();
    let mut retired = 0;
    for chunk in stubs.chunks(500) {
        retired += log
            .store()
            .retire_dossiers(chunk)
            .await
            .map_err(Error::ledger)?;
    }
    tracing::info!(file = %name, dossiers = retired, "closed dossiers archived");
    Ok(retired)
}

/// Writes `lines` to the file `name` in `dir` durably and reads them back; the
/// file's SHA-256.
fn write(dir: &Path, name: &str, lines: &[String]) -> Result<[u8; 32], Error> {
    let mut file = Writer::create(dir, name)?;
    for line in lines {
        file.line(line)?;
    }
    let (path, sha) = file.finish()?;
    let back = BufReader::new(MultiGzDecoder::new(
        std::fs::File::open(&path).map_err(io(&path))?,
    ));
    let mut read = 0;
    for (line, expected) in back.lines().zip(lines) {
        if line.map_err(io(&path))? != *expected {
            break;
        }
        read += 1;
    }
    if read != lines.len() {
        let _ = std::fs::remove_file(&path);
        return Err(Error::Audit(format!(
            "{} did not read back as written; no dossier was archived",
            path.display()
        )));
    }
    Ok(sha)
}
