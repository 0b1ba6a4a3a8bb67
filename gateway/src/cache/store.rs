//! The cache's sled database (`data/cache/`): sealed records under keyed hashes.
//!
//! It is only a cache. If it cannot be opened (a crash during sled's own recovery
//! can leave it so), it is moved aside to `cache.broken-<time>` and a new one is
//! made; the gateway never refuses to start because of it. Writes are not flushed
//! one by one (sled flushes in the background; concurrent `flush_async` calls are
//! known to deadlock sled 0.34): a crash may lose the last moments of the cache,
//! which only makes it colder.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::seal::stored_at;
use crate::Error;

/// What `cache stats` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records held.
    pub entries: u64,
    /// Their keys' and values' bytes.
    pub bytes: u64,
    /// When the oldest was stored (µs), 0 when empty.
    pub oldest: i64,
    /// When the newest was stored (µs), 0 when empty.
    pub newest: i64,
    /// What sled occupies on disk.
    pub disk_bytes: u64,
}

/// The sled side of the cache.
pub struct Store {
    db: sled::Db,
    /// Bytes of keys and values held, kept as records come and go.
    bytes: AtomicU64,
}

impl Store {
    /// Opens the database in `dir`; if it cannot be opened, moves it aside and makes
    /// a new one there.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        let db = match open_db(dir) {
            Ok(db) => db,
            // Another process (a running gateway) holds it: not broken, not ours.
            Err(why) if why.contains("could not acquire lock") => {
                return Err(Error::Config {
                    key: "cache".into(),
                    detail: format!(
                        "{} is in use by another process (a running gateway?)",
                        dir.display()
                    ),
                });
            }
            Err(why) => {
                let aside = aside(dir);
                tracing::error!(dir = %dir.display(), aside = %aside.display(), error = %why, "the cache cannot be opened; moving it aside and starting cold");
                std::fs::rename(dir, &aside).map_err(Error::io(dir))?;
                open_db(dir).map_err(|why| Error::Config {
                    key: "cache".into(),
                    detail: format!("{}: {why}", dir.display()),
                })?
            }
        };
        let bytes = db
            .iter()
            .filter_map(Result::ok)
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        Ok(Store {
            db,
            bytes: AtomicU64::new(bytes),
        })
    }

    /// The sealed value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.db.get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => {
                tracing::warn!(error = %e, "cache read failed; treated as a miss");
                None
            }
        }
    }

    /// Stores `value` under `key`.
    pub fn put(&self, key: &[u8], value: &[u8]) {
        match self.db.insert(key, value) {
            Ok(old) => {
                let old = old.map_or(0, |o| (key.len() + o.len()) as u64);
                self.bytes
                    .fetch_add((key.len() + value.len()) as u64, Ordering::Relaxed);
                self.bytes.fetch_sub(old, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "cache write failed; the record is not cached"),
        }
    }

    /// Removes the record under `key`; true if there was one.
    pub fn remove(&self, key: &[u8]) -> bool {
        match self.db.remove(key) {
            Ok(Some(old)) => {
                self.bytes
                    .fetch_sub((key.len() + old.len()) as u64, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Bytes of records held.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Removes records stored before `horizon` (µs); then, if more than
    /// `max_bytes` remain, the oldest until at most [`LOW_WATER`] of it do, so that
    /// the next sweep is some way off. Tells `removed` each key removed; returns
    /// how many went each way.
    pub fn sweep(
        &self,
        horizon: i64,
        max_bytes: u64,
        mut removed: impl FnMut(&[u8]),
    ) -> (u64, u64) {
        let mut ages: Vec<(i64, sled::IVec)> = Vec::new();
        let mut expired = 0;
        for (k, v) in self.db.iter().filter_map(Result::ok) {
            let at = stored_at(&v).unwrap_or(i64::MIN);
            if at < horizon {
                self.remove(&k);
                removed(&k);
                expired += 1;
            } else {
                ages.push((at, k));
            }
        }
        let mut evicted = 0;
        if self.bytes() > max_bytes {
            let low = (max_bytes as f64 * LOW_WATER) as u64;
            ages.sort_unstable_by_key(|(at, _)| *at);
            for (_, k) in ages {
                if self.bytes() <= low {
                    break;
                }
                self.remove(&k);
                removed(&k);
                evicted += 1;
            }
        }
        (expired, evicted)
    }

    /// Counts and ages.
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            bytes: self.bytes(),
            disk_bytes: self.db.size_on_disk().unwrap_or(0),
            ..Stats::default()
        };
        for (_, v) in self.db.iter().filter_map(Result::ok) {
            let at = stored_at(&v).unwrap_or(0);
            s.oldest = if s.entries == 0 { at } else { s.oldest.min(at) };
            s.newest = s.newest.max(at);
            s.entries += 1;
        }
        s
    }

    /// Removes every record; returns how many there were.
    pub fn clear(&self) -> Result<u64, Error> {
        let count = self.db.len() as u64;
        self.db.clear().map_err(|e| Error::Config {
            key: "cache".into(),
            detail: e.to_string(),
        })?;
        self.bytes.store(0, Ordering::Relaxed);
        self.flush();
        Ok(count)
    }

    /// Writes what sled holds in memory to disk (once, at shutdown or after a purge).
    pub fn flush(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(error = %e, "cache flush failed");
        }
    }
}

/// Where a sweep over the size bound stops evicting, as a share of the bound: one
/// sweep then makes room for many new records, instead of a sweep (a walk of the
/// whole store) for every record stored at the bound.
pub const LOW_WATER: f64 = 0.9;

/// Opens sled, turning its panics on damaged files into errors.
/// sled's own page cache (its default is 1 GiB): the decrypted LRU in front of it
/// already keeps the hot records, so sled needs only enough to keep its index warm.
const SLED_CACHE: u64 = 4 * 1024 * 1024;

fn open_db(dir: &Path) -> Result<sled::Db, String> {
    let fresh = !dir.exists();
    let path = dir.to_path_buf();
    let db = std::panic::catch_unwind(move || {
        sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE)
            .open()
    })
    .map_err(|_| "sled panicked while opening".to_owned())?
    .map_err(|e| e.to_string())?;
    // sled makes its files as the umask says; a directory only its owner can enter
    // keeps them all to the owner.
    if fresh {
        crate::data_dir::restrict(dir, 0o700).map_err(|e| e.to_string())?;
    }
    Ok(db)
}

/// Where a broken cache directory is moved.
fn aside(dir: &Path) -> PathBuf {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let name = dir
        .file_name()
        .map_or("cache".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!("{name}.broken-{stamp}"))
}
