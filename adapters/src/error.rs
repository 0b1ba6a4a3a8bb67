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

/// What was wrong with an upstream's answer: the `cause` label of
/// `lienthong_upstream_bad_responses_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadResponse {
    /// The body was larger than the bound for its kind of call.
    TooLarge,
    /// The header block was larger than its bound.
    Headers,
    /// The JSON was nested deeper than its bound.
    TooDeep,
    /// Not what the API sends: not JSON, not UTF-8, a duplicated key, a wrong type,
    /// a compressed body that was not asked for, a status without its payload.
    Malformed,
    /// A value outside the schema: too long, out of range, wrongly formatted.
    Schema,
    /// Text with control or invisible format characters.
    Text,
    /// A record other than the one asked for (another citizen, another dossier).
    WrongRecord,
    /// A redirect: never followed, the upstream is where the configuration says.
    Redirect,
    /// A feed that does not move on: the same page again, or a cursor going back.
    Stalled,
}

impl BadResponse {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            BadResponse::TooLarge => "too_large",
            BadResponse::Headers => "headers",
            BadResponse::TooDeep => "too_deep",
            BadResponse::Malformed => "malformed",
            BadResponse::Schema => "schema",
            BadResponse::Text => "text",
            BadResponse::WrongRecord => "wrong_record",
            BadResponse::Redirect => "redirect",
            BadResponse::Stalled => "stalled",
        }
    }
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
    /// The upstream asked to be called again later: a quota used up, a maintenance
    /// window. Retryable, not before `retry_after`.
    #[error("{endpoint} asked to wait {retry_after:?}: {detail}")]
    Busy {
        /// Which upstream.
        endpoint: String,
        /// The upstream's code and message.
        detail: String,
        /// How long it asked to wait.
        retry_after: Duration,
    },
    /// The upstream did not answer in time.
    #[error("{endpoint} did not answer within {after:?}")]
    Timeout {
        /// Which upstream.
        endpoint: String,
        /// How long we waited.
        after: Duration,
    },
    /// The upstream answered something that does not follow its own API, or more
    /// than it may send.
    #[error("{endpoint} answered with a bad response ({}): {detail}", cause.as_str())]
    Protocol {
        /// Which upstream.
        endpoint: String,
        /// What kind of wrong.
        cause: BadResponse,
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
    /// A bad response of `endpoint`.
    pub fn bad(
        endpoint: impl Into<String>,
        cause: BadResponse,
        detail: impl Into<String>,
    ) -> Error {
        Error::Protocol {
            endpoint: endpoint.into(),
            cause,
            detail: detail.into(),
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Timeout { .. } | Error::Busy { .. }
        )
    }

    /// How long the upstream asked to wait before the next call, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whose fault the failure is.
    pub fn fault(&self) -> Fault {
        match self {
            Error::NotFound { .. } | Error::Refused { .. } => Fault::Caller,
            Error::Unavailable { .. }
            | Error::Timeout { .. }
            | Error::Busy { .. }
            | Error::Protocol { .. } => Fault::Upstream,
            Error::Rejected { .. } => Fault::Gateway,
        }
    }
}
