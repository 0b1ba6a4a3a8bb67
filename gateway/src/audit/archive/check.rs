//! Verifying the whole log: the archives in order, then the live store, as one
//! chain. What is missing or altered is named: an archive file by its name, a gap
//! by the records it leaves out, a replaced file by the note that recorded it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lienthong_ledger::{Store, Walk};
use lienthong_proto::v1::{AuditRecord, VerifyAuditResponse};

use super::files::{self, Archive};
use super::note::Note;
use crate::Error;
use crate::audit::verify::Verifier;
use crate::audit::{Item, hex};

/// Verifies the log of `store` against the trusted key `key`: with `dir`, every
/// archive in it and then the live store, from record 1; without, the live store
/// alone, whose first record must continue from an archived or expired one that a
/// note in it names.
pub async fn check(
    store: Arc<dyn Store>,
    dir: Option<&Path>,
    key: &[u8],
) -> Result<VerifyAuditResponse, Error> {
    let mut whole = Whole::new(key, dir.is_some());
    // Archives are written before their records leave the live store: when the
    // live store starts past the archives read, an archiving run went on
    // meanwhile, and the directory holds what it moved.
    let first = loop {
        let after = whole.last().unwrap_or(0);
        let fresh: Vec<Archive> = match dir {
            Some(dir) => files::list(dir)?
                .into_iter()
                .filter(|a| a.first > after)
                .collect(),
            None => Vec::new(),
        };
        let read_any = !fresh.is_empty();
        for a in fresh {
            let (w, going) = super::background::run(move || {
                let mut w = whole;
                let going = w.archive(&a);
                Ok((w, going))
            })
            .await?;
            whole = w;
            if !going {
                return Ok(whole.finish());
            }
        }
        let first = store.audit_first().await.map_err(Error::audit)?;
        let behind = whole.last().is_some_and(|last| first > last + 1);
        if !(behind && read_any) {
            break first;
        }
    };
    let from = match whole.last() {
        Some(last) if first > last + 1 => {
            whole.fail(
                last + 1,
                format!(
                    "records {} to {} are neither in the archives nor in the live log \
                     (which starts at {first}): archive file {} is missing",
                    last + 1,
                    first - 1,
                    files::name(last + 1, first - 1)
                ),
            );
            return Ok(whole.finish());
        }
        // Records both archived and still live (a removal that was cut short) are
        // read once, from the archive.
        Some(last) => last + 1,
        None => first,
    };
    whole.live = Some(from);
    Walk::new(store, from, 0)
        .each(|item| whole.item(item, None))
        .await
        .map_err(Error::audit)?;
    Ok(whole.finish())
}

/// The walk over archives and live store.
struct Whole {
    v: Option<Verifier>,
    key: Vec<u8>,
    /// Whether the archives were read (or only the live store).
    with_archives: bool,
    /// The first record seen and its `prev_hash`.
    start: Option<(u64, Vec<u8>)>,
    /// The notes seen, with the record that holds each.
    notes: Vec<(u64, Note)>,
    /// Each archive read: its SHA-256 and last record's hash, by file name.
    read: HashMap<String, ([u8; 32], Vec<u8>)>,
    archives: u64,
    /// Where the live store was read from.
    live: Option<u64>,
    bad: Option<(u64, String)>,
}

impl Whole {
    fn new(key: &[u8], with_archives: bool) -> Whole {
        Whole {
            v: None,
            key: key.to_vec(),
            with_archives,
            start: None,
            notes: Vec::new(),
            read: HashMap::new(),
            archives: 0,
            live: None,
            bad: None,
        }
    }

    fn fail(&mut self, seq: u64, detail: String) -> bool {
        self.bad.get_or_insert((seq, detail));
        false
    }

    /// The last record verified.
    fn last(&self) -> Option<u64> {
        self.start.as_ref()?;
        self.v.as_ref().map(Verifier::last_seq)
    }

    /// Reads one archive into the walk; false once something is wrong.
    fn archive(&mut self, a: &Archive) -> bool {
        let name = a.name();
        if let Some(last) = self.last() {
            if a.first > last + 1 {
                return self.fail(
                    last + 1,
                    format!(
                        "records {} to {} are missing from the archives: archive file {} is missing",
                        last + 1,
                        a.first - 1,
                        files::name(last + 1, a.first - 1)
                    ),
                );
            }
            if a.first <= last {
                return self.fail(
                    a.first,
                    format!("archive file {name} overlaps the one before it"),
                );
            }
        }
        let mut reader = match files::Reader::open(&a.path) {
            Ok(r) => r,
            Err(e) => return self.fail(a.first, e.to_string()),
        };
        let (mut sealed, mut first, mut last_hash) = (false, None, Vec::new());
        loop {
            let item = match reader.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => return self.fail(self.last().unwrap_or(a.first) + 1, e.to_string()),
            };
            sealed = matches!(&item, Item::Checkpoint(c) if c.seq == a.last);
            if let Item::Record(r) = &item {
                first.get_or_insert(r.seq);
                last_hash.clone_from(&r.hash);
            }
            if !self.item(item, Some(&name)) {
                return false;
            }
        }
        let holds = (first, self.last());
        if holds != (Some(a.first), Some(a.last)) || !sealed {
            return self.fail(
                a.first,
                format!(
                    "archive file {name} does not hold records {} to {} closed by a signed \
                     checkpoint: cut or renamed",
                    a.first, a.last
                ),
            );
        }
        self.read.insert(name, (reader.sha256(), last_hash));
        self.archives += 1;
        true
    }

    /// Takes the next item; `file` is the archive it comes from.
    fn item(&mut self, item: Item, file: Option<&str>) -> bool {
        if self.bad.is_some() {
            return false;
        }
        let key = &self.key;
        let going = match &item {
            Item::Record(r) => {
                if self.start.is_none() {
                    self.start = Some((r.seq, r.prev_hash.clone()));
                }
                let v = self.v.get_or_insert_with(|| Verifier::new(key, r.seq));
                v.record(r) && self.noted(r)
            }
            Item::Checkpoint(c) => {
                let v = self.v.get_or_insert_with(|| Verifier::new(key, c.seq + 1));
                v.checkpoint(c)
            }
        };
        if !going
            && self.bad.is_none()
            && let Some((seq, detail)) = self.v.as_ref().and_then(Verifier::failure).cloned()
        {
            let detail = match file {
                Some(f) => format!("in archive file {f}: {detail}"),
                None => detail,
            };
            self.fail(seq, detail);
        }
        going
    }

    /// Keeps the note `r` is, if it is one; checks an archive note against the file
    /// it names when that was read.
    fn noted(&mut self, r: &AuditRecord) -> bool {
        let Some(note) = Note::of(r) else {
            return true;
        };
        if let (Some(sha), Some((read_sha, read_last))) = (note.sha256, self.read.get(&note.file)) {
            if sha != *read_sha {
                return self.fail(
                    r.seq,
                    format!(
                        "archive file {} is not the one record {} noted (its SHA-256 is {}, \
                         not {}): altered or replaced",
                        note.file,
                        r.seq,
                        hex(read_sha),
                        hex(&sha)
                    ),
                );
            }
            if read_last[..] != note.last_hash[..] {
                return self.fail(
                    r.seq,
                    format!(
                        "record {}'s note of {} names another last hash",
                        r.seq, note.file
                    ),
                );
            }
        }
        self.notes.push((r.seq, note));
        true
    }

    /// Whether the records before `start` (whose first is `prev`-chained) are
    /// accounted for by the notes: with archives, every one of them expired; with
    /// the live store alone, archived or expired up to the one before.
    fn accounted(&self, start: u64, prev: &[u8]) -> Result<(), String> {
        let joins = |n: &Note| n.last + 1 == start && n.last_hash[..] == prev[..];
        if !self.with_archives {
            return if self.notes.iter().any(|(_, n)| joins(n)) {
                Ok(())
            } else {
                Err(format!(
                    "the live log starts at record {start} and no note in it says where \
                     records 1 to {} went",
                    start - 1
                ))
            };
        }
        let mut expired: Vec<&Note> = self
            .notes
            .iter()
            .filter_map(|(_, n)| n.expired.then_some(n))
            .collect();
        expired.sort_by_key(|n| n.first);
        let mut covered = 0;
        for n in &expired {
            if n.first <= covered + 1 {
                covered = covered.max(n.last);
            }
        }
        if covered + 1 >= start && expired.iter().any(|n| joins(n)) {
            return Ok(());
        }
        let named: Vec<&str> = self
            .notes
            .iter()
            .filter(|(_, n)| !n.expired && n.first < start && !self.read.contains_key(&n.file))
            .map(|(_, n)| n.file.as_str())
            .collect();
        Err(format!(
            "records {} to {} are missing and were not expired: archive file {} is missing",
            covered + 1,
            start - 1,
            if named.is_empty() {
                files::name(covered + 1, start - 1)
            } else {
                named.join(", ")
            }
        ))
    }

    fn finish(mut self) -> VerifyAuditResponse {
        if self.bad.is_none()
            && let Some((start, prev)) = self.start.clone()
            && start > 1
            && let Err(why) = self.accounted(start, &prev)
        {
            self.fail(1, why);
        }
        let mut report = match self.v.take() {
            Some(v) => v.finish(false),
            None => Verifier::new(&self.key, 1).finish(false),
        };
        match self.bad {
            Some((seq, detail)) => {
                report.ok = false;
                report.first_bad_seq = seq;
                report.detail = detail;
            }
            None => {
                report.detail = format!(
                    "{}; {} archive files, live log from record {}",
                    report.detail,
                    self.archives,
                    self.live.unwrap_or(0)
                );
            }
        }
        report
    }
}
