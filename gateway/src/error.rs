//! The gateway's one error type. [`crate::status`] turns it into a gRPC status.

use std::path::PathBuf;
use std::time::Duration;

/// One invalid field of a request, for `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `context.purpose`.
    pub field: String,
    /// What is wrong and what is expected.
    pub description: String,
}

/// Anything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks the contract; every violated field is listed.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The connection carries no verified agency identity.
    #[error("no verified agency identity on this connection")]
    Unauthenticated,
    /// The request's deadline passed before an answer was ready.
    #[error("no answer within {0:?}")]
    Deadline(Duration),
    /// The policy refuses the request.
    #[error("permission denied: {0}")]
    Denied(#[from] crate::policy::Denial),
    /// The audit log cannot record or read; nothing is released without a record.
    #[error("audit log: {0}")]
    Audit(String),
    /// A dossier change the rules refuse.
    #[error("{0}")]
    Dossier(#[from] crate::sync::outbox::Refusal),
    /// The ledger (dossiers and outbox) cannot be read or written.
    #[error("ledger: {0}")]
    Ledger(String),
    /// An upstream system failed.
    #[error(transparent)]
    Upstream(#[from] lienthong_adapters::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration value is wrong; `key` names it as written in the config file.
    #[error("config {key}: {detail}")]
    Config {
        /// The key, e.g. `population.rest.url`.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC server could not be built or stopped with an error.
    #[error("server: {0}")]
    Server(String),
    /// Certificates, keys or CRLs could not be made or used.
    #[error("pki: {0}")]
    Pki(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
