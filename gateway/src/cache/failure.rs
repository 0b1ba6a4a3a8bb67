//! Why a fetch failed, kept in a form every waiter of one single flight can share
//! and turn back into the gateway's error.

use std::time::Duration;

use lienthong_adapters::Fault;

use crate::Error;

/// Why a fetch failed, in a form every waiter of a single flight can share.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    Upstream(lienthong_adapters::Error),
    Deadline(Duration),
    Open {
        endpoint: String,
        retry_in: Duration,
    },
}

impl Failure {
    pub(super) fn of(e: Error, endpoint: &str) -> Failure {
        match e {
            Error::Upstream(e) => Failure::Upstream(e),
            Error::Deadline(d) => Failure::Deadline(d),
            other => Failure::Upstream(lienthong_adapters::Error::Unavailable {
                endpoint: endpoint.into(),
                detail: other.to_string(),
            }),
        }
    }

    /// Whether a stale record may answer instead: the upstream is down or slow, not
    /// "no such citizen".
    pub(super) fn stale_ok(&self) -> bool {
        match self {
            Failure::Upstream(e) => e.fault() == Fault::Upstream,
            Failure::Deadline(_) | Failure::Open { .. } => true,
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Upstream(e) => Error::Upstream(e),
            Failure::Deadline(d) => Error::Deadline(d),
            Failure::Open { endpoint, retry_in } => {
                Error::Upstream(lienthong_adapters::Error::Unavailable {
                    endpoint,
                    detail: format!(
                        "circuit open after repeated failures; next probe in {} ms",
                        retry_in.as_millis()
                    ),
                })
            }
        }
    }
}
