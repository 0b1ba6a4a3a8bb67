//! What the national REST/JSON APIs share, whichever system serves them: the answer
//! envelope `{MaKetQua, ThongDiep, DuLieu}` and its result codes, the exchange of a
//! province's account for an access token, and time stamps as `yyyyMMddHHmmss` in
//! Vietnam time (+07:00).

use lienthong_proto::VIETNAM;
use lienthong_proto::prost_types::Timestamp;
use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Result code: success.
pub const OK: i32 = 0;
/// Result code: no citizen with this personal ID.
pub const NOT_FOUND: i32 = 201;
/// Result code: the request body is invalid.
pub const BAD_REQUEST: i32 = 400;
/// Result code: the access token is missing, invalid or expired.
pub const UNAUTHORIZED: i32 = 401;
/// Result code: the caller's quota is used up.
pub const QUOTA_EXCEEDED: i32 = 429;
/// Result code: an internal error of the national system.
pub const SYSTEM_ERROR: i32 = 500;
/// Result code: the national system is in maintenance.
pub const MAINTENANCE: i32 = 503;

/// The envelope of every answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Result code, [`OK`] on success.
    #[serde(rename = "MaKetQua")]
    pub code: i32,
    /// Human-readable message, in Vietnamese.
    #[serde(rename = "ThongDiep")]
    pub message: String,
    /// The payload, present on success.
    #[serde(rename = "DuLieu", default = "Option::default")]
    pub data: Option<T>,
}

/// Credentials for an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Client account issued to the province.
    #[serde(rename = "TenDangNhap")]
    pub username: String,
    /// Its secret.
    #[serde(rename = "MatKhau")]
    pub password: String,
}

/// The access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Token {
    /// Bearer token for the lookup calls.
    #[serde(rename = "MaTruyCap")]
    pub access_token: String,
    /// Lifetime in seconds.
    #[serde(rename = "ThoiHanGiay")]
    pub expires_in: u64,
}

const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");

/// Describes a JSON error by its kind and position only: serde_json's own message
/// quotes the offending value, which may be a citizen's personal data, and error
/// details end up in logs.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Formats a UTC instant as the API's `yyyyMMddHHmmss` in +07:00.
pub fn format_stamp(at: OffsetDateTime) -> String {
    at.to_offset(VIETNAM).format(STAMP).unwrap_or_default()
}

/// Parses the API's `yyyyMMddHHmmss` (+07:00) into a UTC timestamp.
pub fn parse_stamp(s: &str) -> Result<Timestamp, String> {
    let local = PrimitiveDateTime::parse(s, STAMP)
        .map_err(|e| format!("NgayCapNhat is not yyyyMMddHHmmss: {e}"))?;
    let utc = local.assume_offset(VIETNAM);
    Ok(Timestamp {
        seconds: utc.unix_timestamp(),
        nanos: 0,
    })
}
