//! The `lienthong.v1` contract and the domain rules it carries.
//!
//! Generated code lives in [`v1`]; it is produced by `build.rs` from
//! `proto/lienthong/v1/*.proto` and never edited. The rules that every edge of the
//! gateway enforces — personal ID, legacy ID, agency code — live beside it so that
//! clients, adapters and the gateway agree on one definition.
//!
//! It depends on no other crate of the workspace and does no I/O: every other crate
//! builds on it.

#![forbid(unsafe_code)]

pub mod agency_code;
pub mod applicant;
pub mod calendar;
pub mod context;
pub mod dossier_code;
pub mod dossier_status;
mod error;
pub mod month;
pub mod personal_id;
pub mod procedure_code;
pub mod province;
pub mod text;

pub use agency_code::AgencyCode;
pub use dossier_code::DossierCode;
pub use error::Error;
pub use month::Month;
pub use personal_id::{LegacyId, PersonalId};
/// Well-known protobuf types used by the contract (timestamps, field masks).
pub use prost_types;

/// Vietnam's offset from UTC. Times travel as UTC; Vietnamese systems and dates of
/// the register (birth dates, "this year") are in +07:00.
pub const VIETNAM: time::UtcOffset = time::macros::offset!(+7);

/// The instant `unix_micros` as Vietnam shows it, RFC 3339 with its +07:00 offset
/// (e.g. `2026-11-29T08:15:02+07:00`); empty for an instant out of range.
pub fn in_vietnam(unix_micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_micros) * 1_000)
        .map(|t| t.to_offset(VIETNAM))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Today's date in Vietnam.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().to_offset(VIETNAM).date()
}

/// Generated messages, clients and servers of package `lienthong.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("lienthong.v1");
}

/// The encoded `FileDescriptorSet` of every `.proto` in the contract, for gRPC
/// server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/lienthong_descriptor.bin"));
