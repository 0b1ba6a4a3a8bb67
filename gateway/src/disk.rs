//! The disk under the data dir, watched: the gateway must never be surprised by its
//! own disk.
//!
//! Free space is read every `disk.check_interval`. Below `disk.soft_free_mb` the
//! gateway is **low**: readiness reports it degraded (still serving), the log and
//! `lienthong_disk_free_bytes` say so, days before it matters. Below
//! `disk.hard_free_mb` it is **full**: new audited requests are refused
//! (`UNAVAILABLE`, `AUDIT_UNAVAILABLE`, naming the cause) before the ledger itself
//! could fail a write half-way, and readiness fails. When space returns, the gateway
//! serves again by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::DiskConfig;

/// How much room is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Level {
    /// Above the soft threshold.
    Ample = 0,
    /// Below the soft threshold: warn.
    Low = 1,
    /// Below the hard threshold: refuse to record.
    Full = 2,
}

/// The watch over the data dir's file system.
pub struct Disk {
    dir: PathBuf,
    soft: u64,
    hard: u64,
    free: AtomicU64,
    level: AtomicU8,
}

const MB: u64 = 1024 * 1024;

impl Disk {
    /// Watches the file system of `dir` with `config`'s thresholds; reads it once.
    pub fn new(dir: &Path, config: &DiskConfig) -> Arc<Disk> {
        let disk = Arc::new(Disk {
            dir: dir.to_owned(),
            soft: config.soft_free_mb * MB,
            hard: config.hard_free_mb * MB,
            free: AtomicU64::new(u64::MAX),
            level: AtomicU8::new(Level::Ample as u8),
        });
        disk.check();
        disk
    }

    /// Reads the free space now; the level it puts the gateway at. A file system
    /// that cannot be read keeps the last level (the data dir check reports it).
    pub fn check(&self) -> Level {
        let Ok(free) = available(&self.dir) else {
            return self.level();
        };
        self.free.store(free, Ordering::Relaxed);
        let level = if free < self.hard {
            Level::Full
        } else if free < self.soft {
            Level::Low
        } else {
            Level::Ample
        };
        let before = self.level.swap(level as u8, Ordering::Relaxed);
        if before != level as u8 {
            let mib = free / MB;
            match level {
                Level::Full => tracing::error!(
                    free_mib = mib,
                    hard_free_mb = self.hard / MB,
                    "the disk is full: refusing audited requests until space is freed"
                ),
                Level::Low => tracing::warn!(
                    free_mib = mib,
                    soft_free_mb = self.soft / MB,
                    "the disk is running low: free space or grow it before it fills"
                ),
                Level::Ample => tracing::info!(free_mib = mib, "the disk has room again"),
            }
        }
        level
    }

    /// The level as last read.
    pub fn level(&self) -> Level {
        match self.level.load(Ordering::Relaxed) {
            2 => Level::Full,
            1 => Level::Low,
            _ => Level::Ample,
        }
    }

    /// Free bytes as last read.
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Why nothing may be recorded now, when the disk is full.
    pub fn refusal(&self) -> Option<String> {
        (self.level() == Level::Full).then(|| self.describe())
    }

    /// What the level means, in words an operator can act on.
    pub fn describe(&self) -> String {
        let (free, dir) = (self.free() / MB, self.dir.display());
        match self.level() {
            Level::Full => format!(
                "the disk holding {dir} has {free} MiB free, below disk.hard_free_mb ({}): \
                 nothing is recorded or released until space is freed",
                self.hard / MB
            ),
            Level::Low => format!(
                "the disk holding {dir} has {free} MiB free, below disk.soft_free_mb ({})",
                self.soft / MB
            ),
            Level::Ample => format!("{free} MiB free"),
        }
    }

    /// Reads the disk every `interval` until `shutdown`.
    pub fn spawn(self: &Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let disk = self.clone();
        crate::clock::every(interval, shutdown, move || {
            let disk = disk.clone();
            async move {
                let _ = tokio::task::spawn_blocking(move || disk.check()).await;
            }
        });
    }
}

/// Bytes an unprivileged writer may still use on the file system of `dir`.
fn available(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_set_the_level_and_a_full_disk_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let free = available(dir.path()).unwrap() / MB;
        let at = |soft, hard| {
            let config = DiskConfig {
                soft_free_mb: soft,
                hard_free_mb: hard,
                check_interval: Duration::from_secs(1),
            };
            Disk::new(dir.path(), &config)
        };
        assert_eq!(at(1, 0).level(), Level::Ample);
        assert_eq!(at(free + 1024, 0).level(), Level::Low);
        let full = at(free + 2048, free + 1024);
        assert_eq!(full.level(), Level::Full);
        let why = full.refusal().unwrap();
        assert!(why.contains("disk.hard_free_mb"), "{why}");
        assert!(at(1, 0).refusal().is_none());
    }
}
