//! The one place where an [`Error`] becomes a `tonic::Status`.
//!
//! Clients get a code they can act on, a message without internal addresses, and
//! rich details: `BadRequest` field violations for invalid input, `ErrorInfo` with a
//! stable reason for everything else, `RetryInfo` where trying again may help. The
//! full error, upstream URL included, goes to the log only.

use std::time::Duration;

use lienthong_adapters::Error as Upstream;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::Error;
use crate::error::Shed;

/// The `ErrorInfo.domain` of every error the gateway reports.
pub const DOMAIN: &str = "lienthong.v1";

/// How an error is reported: code, stable reason, message, retry delay.
struct Parts {
    code: Code,
    reason: &'static str,
    message: String,
    retry: Option<Duration>,
}

fn parts(error: &Error) -> Parts {
    let p = |code, reason, message: &str, retry| Parts {
        code,
        reason,
        message: message.to_owned(),
        retry,
    };
    match error {
        Error::Invalid(violations) => p(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            &match violations.first() {
                Some(v) => format!("invalid {}: {}", v.field, v.description),
                None => "invalid request".to_owned(),
            },
            None,
        ),
        Error::Unauthenticated => p(
            Code::Unauthenticated,
            "NO_AGENCY_IDENTITY",
            "no verified agency identity",
            None,
        ),
        Error::Cancelled => p(
            Code::Cancelled,
            "CLIENT_CANCELLED",
            "the client went away before its answer was ready; nothing was released",
            None,
        ),
        Error::Idle(after) => p(
            Code::Unavailable,
            "STREAM_IDLE",
            &format!(
                "nothing for {} s: this stream is closed; open another from the last cursor",
                after.as_secs()
            ),
            Some(Duration::ZERO),
        ),
        Error::Deadline(after) => p(
            Code::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            &format!("no answer within {} ms", after.as_millis()),
            None,
        ),
        Error::Shed(shed) => {
            let (code, retry) = match shed {
                Shed::RateLimited { retry, .. } => (Code::ResourceExhausted, Some(*retry)),
                Shed::Overloaded(_)
                | Shed::ConnectionOverloaded(_)
                | Shed::AgencyOverloaded { .. } => {
                    (Code::ResourceExhausted, Some(Duration::from_millis(100)))
                }
                Shed::TooManyStreams { .. } => {
                    (Code::ResourceExhausted, Some(Duration::from_secs(1)))
                }
                Shed::DeadlineTooShort { .. } => (Code::DeadlineExceeded, None),
                Shed::Revoked => (Code::Unauthenticated, None),
            };
            p(code, shed.reason(), &shed.to_string(), retry)
        }
        Error::Denied(denial) => p(
            Code::PermissionDenied,
            denial.reason.as_str(),
            &denial.detail,
            None,
        ),
        Error::Audit(_) => p(
            Code::Unavailable,
            "AUDIT_UNAVAILABLE",
            "the audit log cannot record this request, so nothing is released",
            Some(Duration::from_secs(5)),
        ),
        Error::DiskFull(_) => p(
            Code::Unavailable,
            "AUDIT_UNAVAILABLE",
            "the gateway's disk is full, so the audit log cannot record this request and \
             nothing is released; its operator is alerted, retry later",
            Some(Duration::from_secs(30)),
        ),
        Error::Dossier(refusal) => {
            use lienthong_ledger::Refusal;
            let (code, reason) = match refusal {
                Refusal::Exists(_) => (Code::AlreadyExists, "DOSSIER_EXISTS"),
                Refusal::NotFound(_) => (Code::NotFound, "DOSSIER_NOT_FOUND"),
                Refusal::StaleRevision { .. } => (Code::Aborted, "STALE_REVISION"),
                Refusal::IllegalTransition { .. } => {
                    (Code::FailedPrecondition, "ILLEGAL_TRANSITION")
                }
                Refusal::DueNotLater { .. } => (Code::FailedPrecondition, "DUE_NOT_LATER"),
            };
            p(code, reason, &refusal.to_string(), None)
        }
        Error::NotFound(detail) => p(Code::NotFound, "NOT_FOUND", detail, None),
        Error::Unprovable(detail) => p(Code::FailedPrecondition, "NOT_PROVABLE", detail, None),
        Error::Ledger(_) => p(
            Code::Unavailable,
            "LEDGER_UNAVAILABLE",
            "the dossier ledger cannot be written; nothing was changed",
            Some(Duration::from_secs(5)),
        ),
        Error::Upstream(e) => upstream(e),
        Error::Io { .. }
        | Error::Config { .. }
        | Error::Listen { .. }
        | Error::Server(_)
        | Error::Pki(_) => p(
            Code::Internal,
            "INTERNAL",
            "internal error; see the gateway log",
            None,
        ),
    }
}

/// The stable `ErrorInfo` reason reported for `error` (also kept in audit records).
pub fn reason(error: &Error) -> &'static str {
    parts(error).reason
}

/// The gRPC status code reported for `error`.
pub fn code(error: &Error) -> Code {
    parts(error).code
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        let parts = parts(&error);
        let details = match error {
            Error::Invalid(violations) => ErrorDetails::with_bad_request(
                violations
                    .into_iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>(),
            ),
            _ => {
                let mut details = ErrorDetails::with_error_info(parts.reason, DOMAIN, []);
                if let Some(delay) = parts.retry {
                    details.set_retry_info(Some(delay));
                }
                details
            }
        };
        Status::with_error_details(parts.code, parts.message, details)
    }
}

fn upstream(e: &Upstream) -> Parts {
    let retry = Some(Duration::from_secs(1));
    let (code, reason, message) = match e {
        Upstream::NotFound { .. } => (
            Code::NotFound,
            "CITIZEN_NOT_FOUND",
            "no citizen is registered under this personal ID".to_owned(),
        ),
        Upstream::Timeout { after, .. } => (
            Code::DeadlineExceeded,
            "UPSTREAM_TIMEOUT",
            format!(
                "the national system did not answer within {} ms",
                after.as_millis()
            ),
        ),
        Upstream::Unavailable { .. } => (
            Code::Unavailable,
            "UPSTREAM_UNAVAILABLE",
            "the national system is unavailable".to_owned(),
        ),
        Upstream::Busy { .. } => (
            Code::Unavailable,
            "UPSTREAM_BUSY",
            "the national system asked to be called again later".to_owned(),
        ),
        Upstream::Protocol { .. } => (
            Code::Unavailable,
            "UPSTREAM_BAD_RESPONSE",
            "the national system answered with a malformed response".to_owned(),
        ),
        Upstream::Refused { .. } => (
            Code::FailedPrecondition,
            "UPSTREAM_REFUSED",
            "the national system refused this record".to_owned(),
        ),
        Upstream::Rejected { .. } => (
            Code::Internal,
            "UPSTREAM_REJECTED",
            "the national system refused this gateway".to_owned(),
        ),
    };
    let retry = match e {
        Upstream::NotFound { .. } | Upstream::Refused { .. } | Upstream::Rejected { .. } => None,
        Upstream::Busy { retry_after, .. } => Some(*retry_after),
        _ => retry,
    };
    Parts {
        code,
        reason,
        message,
        retry,
    }
}
