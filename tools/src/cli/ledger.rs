//! The ledger on the command line: the `--ledger-url` flag that points `serve` and
//! the offline commands at a PostgreSQL ledger, and `lienthong ledger migrate`,
//! which moves an embedded ledger into PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use lienthong_ledger::Store;
use lienthong_ledger::postgres::{Postgres, redacted};

/// Where a PostgreSQL ledger is.
#[derive(Debug, Args, Default)]
pub struct LedgerArgs {
    /// A PostgreSQL ledger: postgres://user@host:port/database (no password in
    /// it; see --ledger-password-file).
    #[arg(long)]
    pub ledger_url: Option<String>,
    /// A file holding the database password (its first line).
    #[arg(long, requires = "ledger_url")]
    pub ledger_password_file: Option<PathBuf>,
}

impl LedgerArgs {
    /// Points `config` at the PostgreSQL ledger, when one is given.
    pub fn apply(&self, config: &mut lienthong_gateway::Config) {
        if let Some(url) = &self.ledger_url {
            config.ledger.backend = lienthong_gateway::config::Backend::Postgres;
            config.ledger.url = url.clone();
        }
        if let Some(file) = &self.ledger_password_file {
            config.ledger.password_file = Some(file.clone());
            config.ledger.password_env = None;
        }
    }

    /// Opens the PostgreSQL ledger, when one is given (its schema brought up to date).
    pub async fn open(&self) -> Result<Option<Arc<Postgres>>, String> {
        let Some(url) = &self.ledger_url else {
            return Ok(None);
        };
        let mut config = lienthong_gateway::Config::default();
        self.apply(&mut config);
        // An offline command is one client with long statements (a whole export,
        // a migration), not a replica serving requests.
        config.ledger.pool_size = 4;
        config.ledger.statement_timeout = std::time::Duration::from_secs(300);
        config.ledger.validate().map_err(|e| e.to_string())?;
        let options = config.ledger.options().map_err(|e| e.to_string())?;
        Postgres::open(&options)
            .await
            .map(Some)
            .map_err(|e| format!("{}: {e}", redacted(url)))
    }
}

/// `ledger` subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Copy a stopped gateway's embedded ledger (chain, checkpoints, dossiers,
    /// outbox, dead letters, inbound dossiers) into an empty PostgreSQL database.
    Migrate {
        /// The data dir holding ledger.redb.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The PostgreSQL ledger to fill: postgres://user@host:port/database.
        #[arg(long = "to")]
        to: String,
        /// A file holding the database password (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// Runs a `ledger` subcommand; what to print.
pub async fn run(command: &LedgerCommand) -> Result<String, String> {
    match command {
        LedgerCommand::Migrate {
            data_dir,
            to,
            password_file,
        } => {
            let file = data_dir.join(lienthong_ledger::embedded::FILE);
            if !file.exists() {
                return Err(format!("{}: no ledger here to migrate", file.display()));
            }
            let from: Arc<dyn Store> = lienthong_ledger::embedded::Embedded::in_dir(data_dir)
                .map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let target = LedgerArgs {
                ledger_url: Some(to.clone()),
                ledger_password_file: password_file.clone(),
            };
            let pg = target.open().await?.expect("a URL was given");
            let started = std::time::Instant::now();
            let done = pg.import(&*from).await.map_err(|e| e.to_string())?;
            let head = from.audit_head().await.map_err(|e| e.to_string())?;
            Ok(format!(
                "copied into {} in {:.1} s: {} audit records (head {}), {} checkpoints, \
                 {} dossiers, {} outbox entries, {} dead letters, {} inbound dossiers\n\
                 check it: lienthong audit verify --ledger-url {}",
                redacted(to),
                started.elapsed().as_secs_f64(),
                done.records,
                head.seq,
                done.checkpoints,
                done.dossiers,
                done.outbox,
                done.dead,
                done.inbound,
                redacted(to),
            ))
        }
    }
}
