//! What a test reads from an answer or an error: its request id, its code, its
//! `ErrorInfo` reason, the fields its `BadRequest` names.

use tonic::metadata::MetadataMap;
use tonic_types::StatusExt;

/// (request id, code, reason) of an answer or error.
pub fn seen<T>(result: Result<tonic::Response<T>, tonic::Status>) -> (String, tonic::Code, String) {
    match result {
        Ok(r) => (request_id(r.metadata()), tonic::Code::Ok, String::new()),
        Err(s) => (request_id(s.metadata()), s.code(), reason(&s)),
    }
}

/// The fields named by the BadRequest details of an INVALID_ARGUMENT status.
pub fn violated(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.metadata().get("x-request-id").is_some());
    let details = status.get_error_details();
    let bad = details.bad_request().expect("BadRequest details");
    bad.field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

/// The `ErrorInfo` reason of an error status (empty without one).
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The `x-request-id` the gateway put on an answer.
pub fn request_id(metadata: &MetadataMap) -> String {
    metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("every answer carries x-request-id")
        .to_owned()
}
