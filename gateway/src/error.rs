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

/// Why a request was turned away at the door.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Shed {
    /// The agency is over its rate; a token is due after the delay.
    #[error("agency {agency} is over its rate of {per_second}/s; retry in {retry:?}")]
    RateLimited {
        /// The agency.
        agency: String,
        /// Its configured rate.
        per_second: String,
        /// When a token is due.
        retry: Duration,
    },
    /// Too many requests in flight over all connections.
    #[error("the gateway has {0} requests in flight, its limit")]
    Overloaded(usize),
    /// Too many requests in flight on this connection.
    #[error("this connection has {0} requests in flight, its limit")]
    ConnectionOverloaded(usize),
    /// The agency has its share of calls in flight.
    #[error("agency {agency} has {limit} calls in flight, its limit")]
    AgencyOverloaded {
        /// The agency.
        agency: String,
        /// Its cap.
        limit: usize,
    },
    /// The agency holds its share of open streams.
    #[error("agency {agency} has {limit} streams open, its limit; close one, or resume later")]
    TooManyStreams {
        /// The agency.
        agency: String,
        /// Its cap.
        limit: usize,
    },
    /// The call's deadline is shorter than the gateway can answer in.
    #[error(
        "grpc-timeout {asked:?} is shorter than the {min:?} this gateway needs to answer; send at least {min:?}"
    )]
    DeadlineTooShort {
        /// What the client asked for.
        asked: Duration,
        /// The shortest served.
        min: Duration,
    },
    /// The caller's certificate is on the CRL reloaded since it connected.
    #[error("the client certificate has been revoked")]
    Revoked,
}

impl Shed {
    /// The `ErrorInfo` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Shed::RateLimited { .. } => "RATE_LIMITED",
            Shed::Overloaded(_) => "OVERLOADED",
            Shed::ConnectionOverloaded(_) => "CONNECTION_OVERLOADED",
            Shed::AgencyOverloaded { .. } => "AGENCY_OVERLOADED",
            Shed::TooManyStreams { .. } => "TOO_MANY_STREAMS",
            Shed::DeadlineTooShort { .. } => "DEADLINE_TOO_SHORT",
            Shed::Revoked => "CERTIFICATE_REVOKED",
        }
    }
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
    /// The client went away (it reset its stream, or its deadline passed at the
    /// door) before its answer was ready.
    #[error("the client went away before its answer was ready")]
    Cancelled,
    /// A stream sent nothing, or its client took nothing, for the configured time.
    #[error("nothing for {0:?}: the stream is closed; resume from the last cursor")]
    Idle(Duration),
    /// The request's deadline passed before an answer was ready.
    #[error("no answer within {0:?}")]
    Deadline(Duration),
    /// Refused before its handler by a limit, or because the caller's certificate
    /// was revoked since its connection opened.
    #[error("{0}")]
    Shed(#[from] Shed),
    /// The policy refuses the request.
    #[error("permission denied: {0}")]
    Denied(#[from] crate::policy::Denial),
    /// The audit log cannot record or read; nothing is released without a record.
    #[error("audit log: {0}")]
    Audit(String),
    /// The disk under the data dir is below `disk.hard_free_mb`: nothing is
    /// recorded, so nothing is released, until space is freed.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// A dossier change the rules refuse.
    #[error("{0}")]
    Dossier(#[from] lienthong_ledger::Refusal),
    /// What was asked for is not there (a record, a signed tree size).
    #[error("not found: {0}")]
    NotFound(String),
    /// A proof the audit log cannot give: the checkpoint was signed before the
    /// log kept its Merkle tree, or the record is archived.
    #[error("no proof: {0}")]
    Unprovable(String),
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

impl From<lienthong_pki::Error> for Error {
    fn from(e: lienthong_pki::Error) -> Error {
        match e {
            lienthong_pki::Error::Io { path, source } => Error::Io { path, source },
            lienthong_pki::Error::Pki(detail) => Error::Pki(detail),
        }
    }
}

impl From<crate::policy::LoadError> for Error {
    fn from(e: crate::policy::LoadError) -> Error {
        match e {
            crate::policy::LoadError::Read { path, source } => Error::Io { path, source },
            crate::policy::LoadError::Parse { origin, detail } => Error::Config {
                key: format!("policy file {origin}"),
                detail,
            },
        }
    }
}

impl Error {
    /// The audit log could not record or read: [`Error::Audit`].
    pub fn audit(e: lienthong_ledger::Error) -> Error {
        Error::Audit(e.to_string())
    }

    /// The dossier ledger could not be read or written: [`Error::Ledger`].
    pub fn ledger(e: lienthong_ledger::Error) -> Error {
        Error::Ledger(e.to_string())
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
