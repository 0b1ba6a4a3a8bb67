//! `lienthong sync`: the dossier sync of a running gateway, for its operator
//! (`AdminService`, role `operator`).

use clap::Subcommand;
use lienthong_proto::v1::admin_service_client::AdminServiceClient;
use lienthong_proto::v1::{RetryDeadRequest, SyncStatusRequest};

use crate::client::{Connect, explain};

/// `sync` subcommands.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Outbox depth, the oldest pending update's age, the dead letters.
    Status {
        /// The running gateway.
        #[command(flatten)]
        connect: Connect,
        /// The operator agency to call as.
        #[arg(long, default_value = "H99.99")]
        agency: String,
    },
    /// Put dead letters back in the outbox, after their cause was fixed.
    Retry {
        /// The running gateway.
        #[command(flatten)]
        connect: Connect,
        /// The operator agency to call as.
        #[arg(long, default_value = "H99.99")]
        agency: String,
        /// Requeue the dead letters (the only kind of retry there is; say so).
        #[arg(long, required = true)]
        dead: bool,
        /// Only this dossier's.
        #[arg(long, default_value = "")]
        dossier: String,
    },
}

/// Runs a `sync` subcommand; the text to print.
pub async fn run(command: &SyncCommand) -> Result<String, String> {
    match command {
        SyncCommand::Status { connect, agency } => {
            let s = AdminServiceClient::new(connect.channel(agency)?)
                .sync_status(SyncStatusRequest {})
                .await
                .map_err(explain)?
                .into_inner();
            let mut out = format!(
                "outbox: {} updates waiting; the oldest for {} s\ndead letters: {}",
                s.outbox_depth,
                s.oldest_pending_age_seconds,
                s.dead_letters.len()
            );
            for d in &s.dead_letters {
                out.push_str(&format!(
                    "\n  {} revision {}: {}",
                    d.dossier_code, d.revision, d.reason
                ));
            }
            Ok(out)
        }
        SyncCommand::Retry {
            connect,
            agency,
            dossier,
            ..
        } => {
            let r = AdminServiceClient::new(connect.channel(agency)?)
                .retry_dead(RetryDeadRequest {
                    dossier_code: dossier.clone(),
                })
                .await
                .map_err(explain)?
                .into_inner();
            Ok(format!("requeued {} updates", r.requeued))
        }
    }
}
