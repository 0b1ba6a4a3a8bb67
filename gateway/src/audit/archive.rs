//! Archives: closed periods of the audit log moved out of the live store into
//! files, so that the store stays small while the record stays verifiable.
//!
//! Archiving a period, one file of at most `per_file` records at a time:
//! 1. its records and checkpoints are written in the export format, gzip-compressed,
//!    ending with a checkpoint signed now over its last record, to a `.partial`
//!    file that is fsynced, then renamed to its name (the directory fsynced too);
//! 2. the file is read back and verified: the chain from its first record, every
//!    checkpoint, the closing one, its record count, its last hash;
//! 3. a record noting it ([`note::ARCHIVED`]: the file, its records, its last hash,
//!    the file's SHA-256) is appended to the log and is durable;
//! 4. only then are its records removed from the live store, in short transactions.
//!
//! An archiving run that stops anywhere resumes: a `.partial` file is written
//! again; an archive whose removal had begun is checked and its removal finished.
//! The chain is never cut: the first live record still names the last archived one
//! as its `prev_hash`, and [`check`] verifies archives and live store as one log.
//!
//! Retention: [`expire`] deletes archives whose every record is older than the
//! retention, each noted first ([`note::EXPIRED`]: the file, its records and last
//! hash), so that what was deleted stays accountable.

mod background;
pub mod check;
pub mod dossiers;
pub mod files;
pub mod note;
mod plan;
pub mod read;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_ledger::Walk;

use super::verify::Verifier;
use super::{Item, Log, export};
use crate::Error;
pub use note::{Actor, Note};
pub use plan::{LEASE, Plan, Ran, schedule};

/// Records removed from the live store per transaction.
pub const REMOVE_CHUNK: usize = 500;

/// How archives are made.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the archive files go.
    pub dir: PathBuf,
    /// Records per file at most.
    pub per_file: u64,
    /// A pause after each removal transaction, so that appends hardly wait.
    pub pace: Duration,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    background::run(f).await
}

/// Archives every record of `log` appended before `before` (µs since the epoch),
/// except the last record of the log, into `settings.dir`; returns what each new
/// archive holds. One run at a time per gateway.
pub async fn archive(
    log: &Log,
    settings: &Settings,
    before: i64,
    by: &Actor,
) -> Result<Vec<Note>, Error> {
    let _one = log.archiving.lock().await;
    let dir = settings.dir.clone();
    let store = log.store().clone();
    let mut done = Vec::new();
    // Fixed for the run: the notes it appends are not archived by it.
    let head = store.audit_head().await.map_err(Error::audit)?.seq;
    let before_seq = store.audit_seq_at(before).await.map_err(Error::audit)?;
    let end = before_seq.saturating_sub(1).min(head.saturating_sub(1));
    loop {
        let first = store.audit_first().await.map_err(Error::audit)?;
        if end < first {
            return Ok(done);
        }
        // An archive that already holds the first live record: an earlier run
        // stopped after writing it.
        let existing = files::list(&dir)?
            .into_iter()
            .find(|a| a.first <= first && first <= a.last);
        let note = match existing {
            Some(a) => {
                let key = log.public_key().to_vec();
                let path = a.path.clone();
                let (first_a, last_a) = (a.first, a.last);
                let checked = blocking(move || read_back(&path, &key, first_a, last_a)).await;
                match checked {
                    Ok(c) if matches_live(log, a.last, &c.last_hash).await? => {
                        let note = Note {
                            expired: false,
                            file: a.name(),
                            first: a.first,
                            last: a.last,
                            last_hash: c.last_hash,
                            sha256: Some(c.sha256),
                        };
                        if a.first == first {
                            // Its note may be missing; a second one is harmless.
                            log.append(note.record(by)).await?;
                        }
                        note
                    }
                    _ if a.first < first => {
                        return Err(Error::Audit(format!(
                            "archive file {} is damaged or differs from the live log, and \
                             records {}..{} are only in it: restore it from a copy",
                            a.name(),
                            a.first,
                            first - 1
                        )));
                    }
                    _ => write_and_note(log, &dir, first, a.last.min(end), by).await?,
                }
            }
            None => {
                let last = end.min(first.saturating_add(settings.per_file.max(1) - 1));
                write_and_note(log, &dir, first, last, by).await?
            }
        };
        remove(log, note.last, settings.pace).await?;
        tracing::info!(
            file = %note.file,
            first = note.first,
            last = note.last,
            "audit records archived"
        );
        done.push(note);
    }
}

/// Whether record `seq` of the live store (if still there) has `hash`.
async fn matches_live(log: &Log, seq: u64, hash: &[u8; 32]) -> Result<bool, Error> {
    let r = log.store().audit_record(seq).await.map_err(Error::audit)?;
    Ok(r.is_none_or(|r| r.hash[..] == hash[..]))
}

/// Writes the archive of `first..=last`, reads it back, and notes it in the log.
async fn write_and_note(
    log: &Log,
    dir: &Path,
    first: u64,
    last: u64,
    by: &Actor,
) -> Result<Note, Error> {
    let (path, written) = write(log, dir, first, last).await?;
    let key = log.public_key().to_vec();
    let checked = {
        let path = path.clone();
        blocking(move || read_back(&path, &key, first, last)).await
    };
    match checked {
        Ok(c) if (c.sha256, c.last_hash) == written => {}
        Ok(_) => {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Audit(format!(
                "archive file {} read back differently from what was written; \
                 nothing was removed",
                path.display()
            )));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Audit(format!("{e}; nothing was removed")));
        }
    }
    let note = Note {
        expired: false,
        file: files::name(first, last),
        first,
        last,
        last_hash: written.1,
        sha256: Some(written.0),
    };
    log.append(note.record(by)).await?;
    Ok(note)
}

/// Writes records `first..=last` with their checkpoints and a closing one to their
/// archive file in `dir`, durably; returns its path, its SHA-256 and the last
/// record's hash. Memory: one page of the walk at a time.
async fn write(
    log: &Log,
    dir: &Path,
    first: u64,
    last: u64,
) -> Result<(PathBuf, ([u8; 32], [u8; 32])), Error> {
    let mut file = files::Writer::create(dir, &files::name(first, last))?;
    let mut walk = Walk::new(log.store().clone(), first, last);
    let (mut expect, mut last_hash) = (first, [0u8; 32]);
    while let Some(items) = walk.page().await.map_err(Error::audit)? {
        for item in &items {
            if let Item::Record(r) = item {
                if r.seq != expect {
                    return Err(Error::Audit(format!(
                        "record {expect} is missing from the live log; nothing was archived"
                    )));
                }
                expect += 1;
                last_hash.copy_from_slice(&r.hash);
            }
        }
        file = blocking(move || {
            for item in &items {
                file.line(&export::to_line(item))?;
            }
            Ok(file)
        })
        .await?;
    }
    if expect != last + 1 {
        return Err(Error::Audit(format!(
            "the live log ends at record {} before {last}; nothing was archived",
            expect - 1
        )));
    }
    let seal = log
        .signer()
        .sign(last, &last_hash, crate::clock::now_micros());
    blocking(move || {
        file.line(&export::to_line(&Item::Checkpoint(seal)))?;
        let (path, sha) = file.finish()?;
        Ok((path, (sha, last_hash)))
    })
    .await
}

/// What reading an archive back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The file's SHA-256.
    pub sha256: [u8; 32],
    /// Its last record's hash.
    pub last_hash: [u8; 32],
    /// Its last record's time (µs since the epoch).
    pub last_at: i64,
}

/// Reads the archive at `path` back and verifies it holds records `first..=last`,
/// chained, with valid checkpoints, closed by one over its last record.
pub fn read_back(path: &Path, key: &[u8], first: u64, last: u64) -> Result<Checked, Error> {
    let mut reader = files::Reader::open(path)?;
    let mut v = Verifier::new(key, first);
    let mut last_at = 0;
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Record(r) => {
                last_at = super::record::micros(r.at.as_ref());
                v.record(&r)
            }
            Item::Checkpoint(c) => v.checkpoint(&c),
        };
    }
    let report = v.finish(true);
    let name = files::name(first, last);
    if !report.ok {
        return Err(Error::Audit(format!(
            "archive file {name} does not verify: {}",
            report.detail
        )));
    }
    if report.records_checked != last - first + 1 {
        return Err(Error::Audit(format!(
            "archive file {name} holds {} records, not {}",
            report.records_checked,
            last - first + 1
        )));
    }
    let last_hash = report
        .head_hash
        .try_into()
        .map_err(|_| Error::Audit(format!("archive file {name} has no last hash")))?;
    Ok(Checked {
        sha256: reader.sha256(),
        last_hash,
        last_at,
    })
}

/// Removes records up to `last` from the live store, a short transaction at a time.
async fn remove(log: &Log, last: u64, pace: Duration) -> Result<(), Error> {
    loop {
        let gone = {
            let _alone = log.removing().await;
            log.store()
                .audit_remove(last, REMOVE_CHUNK)
                .await
                .map_err(Error::audit)?
        };
        if gone < REMOVE_CHUNK as u64 {
            return Ok(());
        }
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
}

/// Deletes the archives in `dir` whose every record was appended before `before`
/// (µs since the epoch), each noted in the log first; returns the notes.
pub async fn expire(log: &Log, dir: &Path, before: i64, by: &Actor) -> Result<Vec<Note>, Error> {
    let _one = log.archiving.lock().await;
    let mut done = Vec::new();
    for a in files::list(dir)? {
        let key = log.public_key().to_vec();
        let path = a.path.clone();
        let (first, last) = (a.first, a.last);
        let checked = blocking(move || read_back(&path, &key, first, last)).await?;
        if checked.last_at >= before {
            break;
        }
        let note = Note {
            expired: true,
            file: a.name(),
            first,
            last,
            last_hash: checked.last_hash,
            sha256: None,
        };
        log.append(note.record(by)).await?;
        std::fs::remove_file(&a.path).map_err(files::io(&a.path))?;
        tracing::info!(file = %note.file, "audit archive expired");
        done.push(note);
    }
    if !done.is_empty() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(files::io(dir))?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
