//! Where the durable state lives: the embedded redb file in the data dir (one
//! node), or a PostgreSQL database that several replicas share.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Which ledger backend, and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// `redb` (one node, `data_dir/ledger.redb`) or `postgres` (shared).
    pub backend: Backend,
    /// `postgres://user@host:port/database`; PostgreSQL only. A password in it is
    /// refused: name a file or a variable instead. The connection is plain TCP (or a
    /// Unix socket: `host=/var/run/postgresql`): keep the database on the replicas'
    /// private network.
    pub url: String,
    /// A file holding the database password (its first line).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the database password.
    pub password_env: Option<String>,
    /// Connections this replica keeps to the database at most.
    pub pool_size: usize,
    /// A statement running longer is cancelled by the server.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Connecting (and each reconnect) gives up after this.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// This replica's name in the outbox claims and leases it holds; unique per
    /// replica. Empty: host name, process id and a random suffix.
    pub replica: String,
}

/// A ledger backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded redb file: one node.
    Redb,
    /// A PostgreSQL database shared by the replicas.
    Postgres,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            backend: Backend::Redb,
            url: String::new(),
            password_file: None,
            password_env: None,
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            replica: String::new(),
        }
    }
}

impl LedgerConfig {
    /// Checks the keys; the error names the offending one.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |key: &str, detail: &str| {
            Err(Error::Config {
                key: key.into(),
                detail: detail.into(),
            })
        };
        if self.pool_size == 0 || self.pool_size > 1024 {
            return bad("ledger.pool_size", "must be between 1 and 1024");
        }
        if self.statement_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad(
                "ledger.statement_timeout",
                "ledger.statement_timeout and ledger.connect_timeout must be greater than zero",
            );
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            return bad(
                "ledger.password_file",
                "name a password file or a variable, not both",
            );
        }
        if self.backend == Backend::Postgres {
            if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
                return bad(
                    "ledger.url",
                    "must be postgres://user@host:port/database with backend = \"postgres\"",
                );
            }
            if let Err(e) = lienthong_ledger::postgres::check_url(&self.url) {
                return bad("ledger.url", &e);
            }
        }
        Ok(())
    }

    /// The database password, read from where the configuration says; never logged.
    pub fn password(&self) -> Result<Option<String>, Error> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
            return Ok(Some(text.lines().next().unwrap_or_default().to_owned()));
        }
        if let Some(name) = &self.password_env {
            return std::env::var(name).map(Some).map_err(|_| Error::Config {
                key: "ledger.password_env".into(),
                detail: format!("the variable {name} is not set"),
            });
        }
        Ok(None)
    }

    /// How to reach the PostgreSQL ledger, the password read from where the
    /// configuration says.
    pub fn options(&self) -> Result<lienthong_ledger::postgres::Options, Error> {
        Ok(lienthong_ledger::postgres::Options {
            url: self.url.clone(),
            password: self.password()?,
            pool_size: self.pool_size,
            statement_timeout: self.statement_timeout,
            connect_timeout: self.connect_timeout,
        })
    }

    /// This replica's name: the configured one, or host, process and a random part.
    pub fn replica_name(&self) -> String {
        if !self.replica.is_empty() {
            return self.replica.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        let mut random = [0u8; 4];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        format!("{host}-{}-{suffix}", std::process::id())
    }
}
