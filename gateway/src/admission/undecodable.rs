//! A request whose body is not the protobuf message its method takes: tonic's codec
//! refuses it before any handler runs, as `INTERNAL`. It is the caller's fault, so
//! the door answers `INVALID_ARGUMENT` with a field violation instead, and records
//! the attempt like any invalid request, before the answer leaves.

use std::sync::Arc;

use lienthong_proto::v1::{AuditRecord, Decision};

use super::Response;
use crate::audit::Log;
use crate::tls::Peer;
use crate::{Error, FieldViolation};

/// How prost's decode errors begin (checked by a test, should a release change it).
const DECODE_ERROR: &str = "failed to decode Protobuf message";

/// True when `response` is tonic's answer to a body it could not decode.
pub(super) fn detect(response: &Response) -> bool {
    tonic::Status::from_header_map(response.headers())
        .is_some_and(|s| s.code() == tonic::Code::Internal && s.message().starts_with(DECODE_ERROR))
}

/// Who sent the request that could not be decoded, and to which method.
pub(super) struct Request<'a> {
    pub(super) peer: &'a Arc<Peer>,
    pub(super) service: &'static str,
    pub(super) method: &'static str,
    pub(super) request_id: &'a str,
}

/// Records the attempt in `audit` (when auditing is on) and answers it.
pub(super) async fn answer(audit: Option<&Log>, at: Request<'_>) -> Response {
    let short = at.service.rsplit('.').next().unwrap_or(at.service);
    let operation = format!("{short}/{}", at.method);
    let invalid = Error::Invalid(vec![FieldViolation {
        field: "(request)".into(),
        description: format!(
            "is not a {operation} request: the body could not be decoded as its protobuf message"
        ),
    }]);
    if let Some(log) = audit {
        let record = AuditRecord {
            agency_code: at.peer.agency.as_str().to_owned(),
            certificate_fingerprint: at.peer.fingerprint.clone(),
            operation,
            decision: Decision::Invalid as i32,
            reason: "INVALID_ARGUMENT".into(),
            outcome: tonic::Code::InvalidArgument as u32,
            request_id: at.request_id.to_owned(),
            ..Default::default()
        };
        if let Err(e) = log.append(record).await {
            tracing::error!(request_id = at.request_id, error = %e, "audit record not written; answer withheld");
            return tonic::Status::from(e).into_http();
        }
    }
    tonic::Status::from(invalid).into_http()
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn prost_still_says_what_the_door_looks_for() {
        let err = lienthong_proto::v1::GetCitizenRequest::decode(&[0xff, 0xff, 0xff][..])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(DECODE_ERROR), "{err}");
        let status = tonic::Status::internal(err);
        assert!(detect(&status.into_http()));
        assert!(!detect(
            &tonic::Status::internal("internal error").into_http()
        ));
        assert!(!detect(
            &tonic::Status::invalid_argument(DECODE_ERROR).into_http()
        ));
    }
}
