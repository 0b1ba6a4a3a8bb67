//! The audit journal (`ledger.journal` beside the ledger): where a batch of plain
//! records becomes durable with one write and one `fdatasync` of fresh pages.
//!
//! A durable redb commit writes pages all over its file (copy-on-write B-tree
//! pages, the allocator state, the commit slot) and then fsyncs them: on the
//! project's VM about 0.6 ms and one exit to the hypervisor per page run. Most
//! batches are lookups' records alone, with nothing else to commit. The writer
//! makes those durable here instead, and commits them to redb without a sync
//! afterwards: the file is written full of zeros once, so a frame
//! overwrites allocated pages, the file's size never changes, and the sync flushes
//! only those pages (0.16 ms on the same VM). Every durable redb commit (a batch
//! with a dossier change or another ledger write, a signed checkpoint, a full
//! journal, the shutdown) covers every record before it, and the journal starts
//! again from its first page.
//!
//! A frame, all integers little-endian, padded with zeros to a whole page so that
//! no sync rewrites a page an earlier frame made durable:
//!
//! ```text
//! magic u32 | payload length u32 | first seq u64 | count u32 | crc32 u32 (of all before it and the payload)
//! payload: count × (length u32 | AuditRecord, protobuf)
//! ```
//!
//! Opening the ledger replays the journal ([`recover`]): frames are read from the
//! first page while they are whole (magic, bounds, checksum) and continue the one
//! before (sequence numbers); a frame of an earlier round always has lower numbers
//! than the round's first, so the walk stops there. The records beyond the
//! ledger's durable head are committed to it durably.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use lienthong_proto::v1::AuditRecord;
use prost::Message;
use redb::{Database, ReadableDatabase};

use super::Context;
use crate::Error;

/// The journal's size: a frame that would pass its end waits for a durable redb
/// commit instead.
pub const SIZE: u64 = 4 * 1024 * 1024;

/// Frames start on page boundaries.
const PAGE: usize = 4096;

/// "LTJ1".
const MAGIC: u32 = 0x314A_544C;

/// magic, length, first seq, count, checksum.
const HEADER: usize = 4 + 4 + 8 + 4 + 4;

/// The journal of the ledger file at `ledger`.
pub fn path_of(ledger: &Path) -> PathBuf {
    ledger.with_extension("journal")
}

fn io(path: &Path, what: &'static str) -> impl Fn(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |e| Error::Unavailable(format!("journal {path}: {what}: {e}"))
}

/// The open journal, written by the audit writer alone.
pub struct Journal {
    file: File,
    /// The same file opened for direct, synchronous writes, where the file
    /// system takes them.
    direct: Option<File>,
    path: PathBuf,
    /// Where the next frame goes.
    offset: u64,
    /// The frame being built, reused.
    frame: Vec<u8>,
    /// Room for a page-aligned copy of a frame, for [`Journal::direct`].
    aligned: Vec<u8>,
}

impl Journal {
    /// Opens the journal at `path`, making it (full of zeros, synced, its
    /// directory too) if it is missing or not [`SIZE`] long. Its frames must
    /// already be in the ledger ([`recover`]): the next frame goes on the first
    /// page.
    pub fn open(path: &Path) -> Result<Journal, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io(path, "open"))?;
        let len = file.metadata().map_err(io(path, "stat"))?.len();
        if len != SIZE {
            super::owner_only(path)?;
            file.set_len(0).map_err(io(path, "truncate"))?;
            let zeros = vec![0u8; 1024 * 1024];
            let mut writer = &file;
            for _ in 0..SIZE / zeros.len() as u64 {
                writer.write_all(&zeros).map_err(io(path, "fill"))?;
            }
            file.sync_all().map_err(io(path, "sync"))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(dir, "sync directory"))?;
            }
        }
        Ok(Journal {
            direct: open_direct(path),
            file,
            path: path.to_owned(),
            offset: 0,
            frame: Vec::with_capacity(64 * 1024),
            aligned: Vec::new(),
        })
    }

    /// Makes `records` (consecutive, complete) durable in one frame; false, with
    /// nothing written, when the frame does not fit in what is left. When it is
    /// false or fails, the caller makes them durable in the ledger.
    pub fn append(&mut self, records: &[AuditRecord]) -> Result<bool, Error> {
        let Some(first) = records.first() else {
            return Ok(true);
        };
        encode(&mut self.frame, first.seq, records);
        let end = self.offset + self.frame.len() as u64;
        if end > SIZE {
            return Ok(false);
        }
        let frame = std::mem::take(&mut self.frame);
        let written = self.write(&frame, self.offset);
        self.frame = frame;
        written?;
        self.offset = end;
        Ok(true)
    }

    /// Writes `bytes` (whole pages) at `offset` (a page boundary) and makes them
    /// durable: with one direct, synchronous write where the file system takes
    /// it (no page cache, and the data and the disk's cache flush in one call:
    /// on the project's VM a third of the CPU of a buffered write and
    /// `fdatasync`), else buffered and synced. A file system that refuses the
    /// direct write is not asked again.
    fn write(&mut self, bytes: &[u8], offset: u64) -> Result<(), Error> {
        if let Some(direct) = &self.direct {
            self.aligned.resize(bytes.len() + PAGE, 0);
            let start = self.aligned.as_ptr().align_offset(PAGE);
            let page_aligned = &mut self.aligned[start..start + bytes.len()];
            page_aligned.copy_from_slice(bytes);
            match direct.write_all_at(page_aligned, offset) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    tracing::info!(path = %self.path.display(), "the file system refuses direct writes to the audit journal; it writes and syncs instead");
                    self.direct = None;
                }
                Err(e) => return Err(io(&self.path, "write")(e)),
            }
        }
        self.file
            .write_all_at(bytes, offset)
            .map_err(io(&self.path, "write"))?;
        self.file.sync_data().map_err(io(&self.path, "sync"))
    }

    /// Starts again from the first page: everything written so far is durable in
    /// the ledger.
    pub fn restart(&mut self) {
        self.offset = 0;
    }

    /// Wipes the first page, after a clean stop: every record is durable in the
    /// ledger, and a later open finds nothing to replay (not even records the
    /// ledger has since lost, whose loss `audit verify` then shows).
    pub fn clear(&mut self) -> Result<(), Error> {
        self.write(&[0; PAGE], 0)?;
        self.offset = 0;
        Ok(())
    }

    /// Bytes used since the last restart.
    pub fn used(&self) -> u64 {
        self.offset
    }
}

/// `path` opened for writes that bypass the page cache and return once durable
/// (`O_DIRECT | O_DSYNC`); `None` where the file system does not offer them.
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::DIRECT | rustix::fs::OFlags::DSYNC;
    OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .inspect_err(|e| {
            tracing::info!(path = %path.display(), error = %e, "the audit journal is written and synced without direct writes");
        })
        .ok()
}

/// Encodes one frame of `records`, padded to whole pages, into `out`.
fn encode(out: &mut Vec<u8>, first: u64, records: &[AuditRecord]) {
    out.clear();
    out.resize(HEADER, 0);
    for r in records {
        let len = r.encoded_len();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        r.encode(out).expect("a Vec grows");
    }
    let payload = (out.len() - HEADER) as u32;
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&payload.to_le_bytes());
    out[8..16].copy_from_slice(&first.to_le_bytes());
    out[16..20].copy_from_slice(&(records.len() as u32).to_le_bytes());
    let crc = checksum(out);
    out[20..24].copy_from_slice(&crc.to_le_bytes());
    out.resize(out.len().next_multiple_of(PAGE), 0);
}

/// The crc32 of a frame's header before the checksum, and its payload.
fn checksum(frame: &[u8]) -> u32 {
    let payload = u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes")) as usize;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..20]);
    crc.update(&frame[HEADER..HEADER + payload]);
    crc.finalize()
}

/// The records of the whole frames at the start of `bytes` that continue each
/// other; stops at the first frame that is torn, foreign or from an earlier round.
pub fn frames(bytes: &[u8]) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::new();
    let mut at = 0;
    while let Some(frame) = bytes.get(at..at + HEADER) {
        let word = |i: usize| u32::from_le_bytes(frame[i..i + 4].try_into().expect("4 bytes"));
        let (magic, payload, count) = (word(0), word(4) as usize, word(16) as usize);
        let first = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
        if magic != MAGIC || at + HEADER + payload > bytes.len() || count == 0 {
            break;
        }
        let whole = &bytes[at..at + HEADER + payload];
        if checksum(whole) != word(20) || out.last().is_some_and(|r| r.seq + 1 != first) {
            break;
        }
        let Some(records) = decode(&whole[HEADER..], first, count) else {
            break;
        };
        out.extend(records);
        at += (HEADER + payload).next_multiple_of(PAGE);
    }
    out
}

/// The `count` records of a payload, numbered from `first`; `None` if it does not
/// hold exactly that.
fn decode(mut payload: &[u8], first: u64, count: usize) -> Option<Vec<AuditRecord>> {
    let mut records = Vec::with_capacity(count.min(payload.len() / 4));
    for seq in first..first.checked_add(count as u64)? {
        let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
        let record = AuditRecord::decode(payload.get(4..4 + len)?).ok()?;
        if record.seq != seq {
            return None;
        }
        records.push(record);
        payload = &payload[4 + len..];
    }
    payload.is_empty().then_some(records)
}

/// Commits to the ledger `db`, durably, the journal's records beyond its head;
/// returns how many. A missing or empty journal (the usual case, after a clean
/// stop) holds none, and the ledger is not touched.
pub fn recover(db: &Database, path: &Path) -> Result<usize, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path, "read")(e)),
    };
    let journaled = frames(&bytes);
    if journaled.is_empty() {
        return Ok(0);
    }
    let head = super::audit::head(&db.begin_read().ctx("recover the audit journal")?)?.seq;
    let missing: Vec<AuditRecord> = journaled.into_iter().filter(|r| r.seq > head).collect();
    let Some(first) = missing.first() else {
        return Ok(0);
    };
    if first.seq != head + 1 {
        // Cannot happen while the ledger and its journal stay together; keep what
        // is there, and `audit verify` names the gap.
        tracing::error!(
            head,
            first = first.seq,
            "the audit journal does not continue the ledger: records are missing"
        );
    }
    let txn = db.begin_write().ctx("recover the audit journal")?;
    super::audit::insert(&txn, &missing, None)?;
    txn.commit().ctx("recover the audit journal")?;
    tracing::warn!(
        records = missing.len(),
        from = first.seq,
        "audit records recovered from the journal after an unclean stop"
    );
    Ok(missing.len())
}

#[cfg(test)]
mod tests;
