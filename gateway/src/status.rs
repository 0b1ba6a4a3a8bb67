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

/// The `ErrorInfo.domain` of every error the gateway reports.
pub const DOMAIN: &str = "lienthong.v1";

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match error {
            Error::Invalid(violations) => {
                let message = match violations.first() {
                    Some(v) => format!("invalid {}: {}", v.field, v.description),
                    None => "invalid request".to_owned(),
                };
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Unauthenticated => info(
                Code::Unauthenticated,
                "NO_AGENCY_IDENTITY",
                "no verified agency identity",
                None,
            ),
            Error::Deadline(after) => info(
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
                &format!("no answer within {} ms", after.as_millis()),
                None,
            ),
            Error::Denied(denial) => info(
                Code::PermissionDenied,
                denial.reason.as_str(),
                &denial.detail,
                None,
            ),
            Error::Audit(_) => info(
                Code::Unavailable,
                "AUDIT_UNAVAILABLE",
                "the audit log cannot record this request, so nothing is released",
                Some(Duration::from_secs(5)),
            ),
            Error::Upstream(e) => upstream(&e),
            Error::Io { .. }
            | Error::Config { .. }
            | Error::Listen { .. }
            | Error::Server(_)
            | Error::Pki(_) => info(
                Code::Internal,
                "INTERNAL",
                "internal error; see the gateway log",
                None,
            ),
        }
    }
}

fn upstream(e: &Upstream) -> Status {
    let retry = Some(Duration::from_secs(1));
    match e {
        Upstream::NotFound { .. } => info(
            Code::NotFound,
            "CITIZEN_NOT_FOUND",
            "no citizen is registered under this personal ID",
            None,
        ),
        Upstream::Timeout { after, .. } => info(
            Code::DeadlineExceeded,
            "UPSTREAM_TIMEOUT",
            &format!(
                "the national system did not answer within {} ms",
                after.as_millis()
            ),
            retry,
        ),
        Upstream::Unavailable { .. } => info(
            Code::Unavailable,
            "UPSTREAM_UNAVAILABLE",
            "the national system is unavailable",
            retry,
        ),
        Upstream::Protocol { .. } => info(
            Code::Unavailable,
            "UPSTREAM_BAD_RESPONSE",
            "the national system answered with a malformed response",
            retry,
        ),
        Upstream::Rejected { .. } => info(
            Code::Internal,
            "UPSTREAM_REJECTED",
            "the national system refused this gateway",
            None,
        ),
    }
}

fn info(code: Code, reason: &str, message: &str, retry: Option<Duration>) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, []);
    if let Some(delay) = retry {
        details.set_retry_info(Some(delay));
    }
    Status::with_error_details(code, message, details)
}
