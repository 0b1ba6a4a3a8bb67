//! What a witness keeps on disk, in its directory: its key (`witness.key`, the
//! C2SP private key text, owner-only) and verifier key (`witness.vkey`); per log,
//! the last checkpoint it cosigned (`state/<origin>.json`, replaced atomically,
//! and made durable *before* the cosignature leaves); the evidence of every
//! refusal (`evidence/<time>-<kind>.json`); and its counters for Prometheus's
//! textfile collector (`witness.prom`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The last checkpoint cosigned for one log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// The log's origin.
    pub origin: String,
    /// The tree size cosigned.
    pub size: u64,
    /// Its root, hex.
    pub root: String,
    /// The checkpoint's note as the log signed it.
    pub note: String,
    /// When it was cosigned (seconds since the Unix epoch).
    pub cosigned_at: u64,
    /// Refusals so far.
    #[serde(default)]
    pub refusals: u64,
}

/// The witness's directory.
pub struct Dir(pub PathBuf);

/// A file name for `origin` (which holds slashes).
fn slug(origin: &str) -> String {
    origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `bytes` to `path` atomically and durably: a temporary file synced,
/// renamed over it, the directory synced.
pub fn replace(path: &Path, bytes: &[u8], private: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = private;
    let mut f = options.open(&tmp).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}

impl Dir {
    /// The private key file.
    pub fn key(&self) -> PathBuf {
        self.0.join("witness.key")
    }

    /// The verifier key file.
    pub fn vkey(&self) -> PathBuf {
        self.0.join("witness.vkey")
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.0.join("state").join(format!("{}.json", slug(origin)))
    }

    /// The last checkpoint cosigned for `origin`, if any.
    pub fn state(&self, origin: &str) -> Result<Option<State>, String> {
        let path = self.state_path(origin);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Keeps `state`, durably.
    pub fn save(&self, state: &State) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(state).expect("plain data serializes");
        replace(&self.state_path(&state.origin), &bytes, false)
    }

    /// Keeps the evidence of a refusal; its path.
    pub fn evidence(&self, kind: &str, body: &serde_json::Value) -> Result<PathBuf, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = self.0.join("evidence").join(format!("{now}-{kind}.json"));
        let bytes = serde_json::to_vec_pretty(body).expect("plain data serializes");
        replace(&path, &bytes, false)?;
        Ok(path)
    }

    /// Writes the counters of `state` for Prometheus's textfile collector.
    pub fn metrics(&self, state: &State) -> Result<(), String> {
        let origin = state.origin.replace('\\', "\\\\").replace('"', "\\\"");
        let text = format!(
            "# HELP lienthong_witness_cosigned_tree_size The tree size of the last checkpoint cosigned.\n\
             # TYPE lienthong_witness_cosigned_tree_size gauge\n\
             lienthong_witness_cosigned_tree_size{{origin=\"{origin}\"}} {}\n\
             # HELP lienthong_witness_cosigned_timestamp_seconds When it was cosigned.\n\
             # TYPE lienthong_witness_cosigned_timestamp_seconds gauge\n\
             lienthong_witness_cosigned_timestamp_seconds{{origin=\"{origin}\"}} {}\n\
             # HELP lienthong_witness_refusals_total Checkpoints refused: not extending the one cosigned.\n\
             # TYPE lienthong_witness_refusals_total counter\n\
             lienthong_witness_refusals_total{{origin=\"{origin}\"}} {}\n",
            state.size, state.cosigned_at, state.refusals
        );
        replace(&self.0.join("witness.prom"), text.as_bytes(), false)
    }
}
