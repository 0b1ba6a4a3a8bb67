//! `lienthong cache`: look into and empty the cache of a stopped gateway's data dir.

use std::path::PathBuf;

use clap::Subcommand;
use lienthong_proto::PersonalId;

use crate::cache::Cache;

/// `cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// How many records, how many bytes, how old.
    Stats {
        /// The gateway's data dir (the gateway must be stopped).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Remove one citizen's records (after a correction at the register), or all.
    Purge {
        /// The gateway's data dir (the gateway must be stopped).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Only this citizen's identity and residence records.
        #[arg(long)]
        personal_id: Option<String>,
    },
}

/// Runs a `cache` subcommand; the text to print, or what went wrong.
pub fn run(command: &CacheCommand) -> Result<String, String> {
    match command {
        CacheCommand::Stats { data_dir } => {
            let cache = Cache::open_offline(data_dir).map_err(|e| e.to_string())?;
            let s = cache.stats().unwrap_or_default();
            Ok(format!(
                "records: {}\nbytes: {} (sealed records; sled's files: {})\noldest: {}\nnewest: {}",
                s.entries,
                s.bytes,
                s.disk_bytes,
                local(s.oldest),
                local(s.newest)
            ))
        }
        CacheCommand::Purge {
            data_dir,
            personal_id,
        } => {
            let cache = Cache::open_offline(data_dir).map_err(|e| e.to_string())?;
            let before = cache.stats().unwrap_or_default().entries;
            match personal_id {
                Some(id) => {
                    let id = PersonalId::parse(id).map_err(|e| format!("--personal-id: {e}"))?;
                    cache.purge(id.as_str());
                }
                None => cache.purge_all().map_err(|e| e.to_string())?,
            }
            let after = cache.stats().unwrap_or_default().entries;
            Ok(format!(
                "removed {} records; {after} remain",
                before - after
            ))
        }
    }
}

fn local(micros: i64) -> String {
    if micros == 0 {
        return "-".into();
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map(|t| t.to_offset(lienthong_proto::VIETNAM))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
