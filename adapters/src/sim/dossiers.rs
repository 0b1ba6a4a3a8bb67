//! A dossier as a one-stop shop's case system submits it, for demos, benchmarks
//! and tests: a birth registration received at the counter for the demo applicant.

use lienthong_proto::DossierCode;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Channel, Dossier, DossierStatus};

/// The dossier `code` (its agency is the code's) in `status`, received at `received_at`.
pub fn dossier(code: &str, status: DossierStatus, received_at: Timestamp) -> Dossier {
    Dossier {
        dossier_code: code.into(),
        procedure_code: "1.001193".into(),
        procedure_name: "Đăng ký khai sinh".into(),
        agency_code: DossierCode::parse(code)
            .map(|c| c.agency().as_str().to_owned())
            .unwrap_or_default(),
        applicant_name: "Ngô Anh Đạt".into(),
        applicant_personal_id: "001085012345".into(),
        channel: Channel::InPerson as i32,
        status: status as i32,
        received_at: Some(received_at),
        ..Default::default()
    }
}

/// 2026-11-22 08:00 in Vietnam, a fixed receipt time for tests.
pub const RECEIVED: Timestamp = Timestamp {
    seconds: 1_795_309_200,
    nanos: 0,
};
