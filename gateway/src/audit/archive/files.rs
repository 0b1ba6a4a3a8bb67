//! Archive files on disk: their names, the directory that holds them, and reading
//! one back, item by item, with the SHA-256 of its bytes.
//!
//! An archive holds records `first..=last` in the export format (one JSON line per
//! record or checkpoint, `docs/AUDIT.md`), gzip-compressed, and ends with a
//! checkpoint signed when it was written over its last record. Its name says which
//! records it holds, so that a missing one can be named from the gap it leaves:
//! `audit-<first>-<last>.jsonl.gz`, both numbers 20 digits wide so that names sort
//! in log order.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::super::{Item, export};
use crate::Error;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl.gz";
/// Ending of a file still being written (never read as an archive).
pub const PARTIAL: &str = ".partial";

/// The name of the archive of records `first..=last`.
pub fn name(first: u64, last: u64) -> String {
    format!("{PREFIX}{first:020}-{last:020}{SUFFIX}")
}

/// The records an archive's file name says it holds.
pub fn parse_name(name: &str) -> Option<(u64, u64)> {
    let middle = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (first, last) = middle.split_once('-')?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first >= 1 && first <= last).then_some((first, last))
}

/// One archive in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Its path.
    pub path: PathBuf,
    /// The first and last record it holds, by its name.
    pub first: u64,
    /// See `first`.
    pub last: u64,
}

impl Archive {
    /// The file's name.
    pub fn name(&self) -> String {
        name(self.first, self.last)
    }
}

/// The archives in `dir`, in log order (none when it does not exist). Files that
/// are not archives are left alone.
pub fn list(dir: &Path) -> Result<Vec<Archive>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Audit(format!("read {}: {e}", dir.display()))),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Audit(format!("read {}: {e}", dir.display())))?;
        let name = entry.file_name();
        if let Some((first, last)) = name.to_str().and_then(parse_name) {
            files.push(Archive {
                path: entry.path(),
                first,
                last,
            });
        }
    }
    files.sort_by_key(|f| (f.first, f.last));
    Ok(files)
}

/// An I/O error about `what`.
pub fn io(what: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Audit(format!("{}: {e}", what.display()))
}

/// An archive file being written: gzip-compressed lines, hashed as they go, into
/// `<name>.partial`, which [`Writer::finish`] makes durable under its name. A
/// writer dropped unfinished leaves only the partial file, which no reader takes
/// for an archive.
pub struct Writer {
    gz: GzEncoder<Hashing<BufWriter<File>>>,
    partial: PathBuf,
    path: PathBuf,
    dir: PathBuf,
}

impl Writer {
    /// Starts the file `name` in `dir` (made if missing).
    pub fn create(dir: &Path, name: &str) -> Result<Writer, Error> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let partial = dir.join(format!("{name}{PARTIAL}"));
        let file = File::create(&partial).map_err(io(&partial))?;
        Ok(Writer {
            gz: GzEncoder::new(
                Hashing::new(BufWriter::with_capacity(1 << 16, file)),
                Compression::default(),
            ),
            partial,
            path: dir.join(name),
            dir: dir.to_owned(),
        })
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), Error> {
        writeln!(self.gz, "{text}").map_err(io(&self.partial))
    }

    /// Ends the file: fsynced, renamed to its name, the directory fsynced; its
    /// path and SHA-256.
    pub fn finish(self) -> Result<(PathBuf, [u8; 32]), Error> {
        let partial = &self.partial;
        let (buffered, sha) = self.gz.finish().map_err(io(partial))?.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| io(partial)(e.into_error()))?;
        file.sync_all().map_err(io(partial))?;
        std::fs::rename(partial, &self.path).map_err(io(&self.path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok((self.path, sha))
    }
}

/// Passes bytes through, hashing them.
pub struct Hashing<T> {
    inner: T,
    sha: Sha256,
}

impl<T> Hashing<T> {
    /// Hashes what goes through `inner`.
    pub fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            sha: Sha256::new(),
        }
    }

    /// The inner reader or writer, and the SHA-256 of everything so far.
    pub fn finish(self) -> (T, [u8; 32]) {
        (self.inner, self.sha.finalize().into())
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// An archive read back item by item.
pub struct Reader {
    name: String,
    inner: BufReader<MultiGzDecoder<Hashing<BufReader<File>>>>,
    text: String,
    line: usize,
}

impl Reader {
    /// Opens the archive at `path`.
    pub fn open(path: &Path) -> Result<Reader, Error> {
        let file =
            File::open(path).map_err(|e| Error::Audit(format!("{}: {e}", path.display())))?;
        let decoder = MultiGzDecoder::new(Hashing::new(BufReader::with_capacity(1 << 16, file)));
        Ok(Reader {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            inner: BufReader::with_capacity(1 << 16, decoder),
            text: String::with_capacity(1024),
            line: 0,
        })
    }

    /// The next item, or `None` at the end; a damaged file (bad compression, a line
    /// that is not an item) is an error naming it.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        loop {
            self.text.clear();
            let n = self
                .inner
                .read_line(&mut self.text)
                .map_err(|e| Error::Audit(format!("archive file {} is damaged: {e}", self.name)))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if self.text.trim().is_empty() {
                continue;
            }
            return export::from_line(self.text.trim_end())
                .map(Some)
                .map_err(|e| {
                    Error::Audit(format!(
                        "archive file {} is damaged at line {}: {e}",
                        self.name, self.line
                    ))
                });
        }
    }

    /// The SHA-256 of the file's bytes, once every item was read.
    pub fn sha256(self) -> [u8; 32] {
        // Whatever the decoder did not need (there is nothing after the gzip member
        // of an archive we wrote) is hashed too.
        let decoder = self.inner.into_inner();
        let mut hashing = decoder.into_inner();
        let _ = std::io::copy(&mut hashing, &mut std::io::sink());
        hashing.finish().1
    }
}
