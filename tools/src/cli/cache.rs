//! `lienthong cache`: look into a stopped gateway's cache, and purge records —
//! through a running gateway (`AdminService`, role `operator`), or from a stopped
//! one's data dir.

use std::path::PathBuf;

use clap::Subcommand;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::PurgeCacheRequest;
use lienthong_proto::v1::admin_service_client::AdminServiceClient;

use crate::client::{Connect, explain};
use lienthong_gateway::cache::Cache;

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
        /// The running gateway.
        #[command(flatten)]
        connect: Connect,
        /// The operator agency to call as.
        #[arg(long, default_value = "H99.99")]
        agency: String,
        /// Purge a stopped gateway's data dir instead.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Only this citizen's identity and residence records; without it, all.
        #[arg(long)]
        personal_id: Option<String>,
    },
}

/// Runs a `cache` subcommand; the text to print, or what went wrong.
pub async fn run(command: &CacheCommand) -> Result<String, String> {
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
            connect,
            agency,
            data_dir,
            personal_id,
        } => {
            let removed = match data_dir {
                Some(dir) => {
                    let cache = Cache::open_offline(dir).map_err(|e| e.to_string())?;
                    match personal_id {
                        Some(id) => {
                            let id =
                                PersonalId::parse(id).map_err(|e| format!("--personal-id: {e}"))?;
                            cache.purge(id.as_str())
                        }
                        None => cache.purge_all().map_err(|e| e.to_string())?,
                    }
                }
                None => {
                    let request = PurgeCacheRequest {
                        personal_id: personal_id.clone().unwrap_or_default(),
                        all: personal_id.is_none(),
                    };
                    AdminServiceClient::new(connect.channel(agency)?)
                        .purge_cache(request)
                        .await
                        .map_err(explain)?
                        .into_inner()
                        .records_removed
                }
            };
            Ok(format!("removed {removed} records"))
        }
    }
}

fn local(micros: i64) -> String {
    if micros == 0 {
        return "-".into();
    }
    lienthong_proto::in_vietnam(micros)
}
