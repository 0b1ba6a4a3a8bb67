//! The adapters' one error type.

use std::time::Duration;

/// Whose fault a failure is: decides the status code and whether an operator is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller asked for something the upstream does not have.
    Caller,
    /// The upstream system is down, slow or broken.
    Upstream,
    /// This gateway is misconfigured (e.g. its credentials are refused).
    Gateway,
}

/// A failed call to an upstream system.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The upstream has no such record.
    #[error("{endpoint}: no such record")]
    NotFound {
        /// Which upstream answered.
        endpoint: String,
    },
    /// The upstream could not be reached, or said it is temporarily unable to answer.
    #[error("{endpoint} is unavailable: {detail}")]
    Unavailable {
        /// Which upstream.
        endpoint: String,
        /// What happened, for the operator.
        detail: String,
    },
    /// The upstream did not answer in time.
    #[error("{endpoint} did not answer within {after:?}")]
    Timeout {
        /// Which upstream.
        endpoint: String,
        /// How long we waited.
        after: Duration,
    },
    /// The upstream answered something that does not follow its own API.
    #[error("{endpoint} answered with a malformed response: {detail}")]
    Protocol {
        /// Which upstream.
        endpoint: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The upstream refused this record for good (an illegal status change, a
    /// malformed dossier): sending it again cannot help.
    #[error("{endpoint} refused the record: {detail}")]
    Refused {
        /// Which upstream.
        endpoint: String,
        /// The upstream's code and message.
        detail: String,
    },
    /// The upstream refused this gateway (credentials, permissions, a bad request).
    #[error("{endpoint} refused the request: {detail}")]
    Rejected {
        /// Which upstream.
        endpoint: String,
        /// The upstream's code and message.
        detail: String,
    },
}

impl Error {
    /// Whether the same call may succeed if tried again later.
    pub fn retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. })
    }

    /// Whose fault the failure is.
    pub fn fault(&self) -> Fault {
        match self {
            Error::NotFound { .. } | Error::Refused { .. } => Fault::Caller,
            Error::Unavailable { .. } | Error::Timeout { .. } | Error::Protocol { .. } => {
                Fault::Upstream
            }
            Error::Rejected { .. } => Fault::Gateway,
        }
    }
}
