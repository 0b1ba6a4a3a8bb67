//! The JSON schema of the portal's dossier sync API, and its mapping to the
//! `lienthong.v1` contract.
//!
//! Shaped like the national portal's sync API: a session token from credentials,
//! then `POST /api/dvcqg/hoso/dongbo` with one dossier revision in the portal's
//! Vietnamese field names (`MaHoSo`, `MaTTHC`, `TrangThaiHoSo`, `NgayTiepNhan`,
//! `NgayHenTra`, `NgayKetThucXuLy`, `KenhThucHien`, …; times `yyyyMMddHHmmss` in
//! +07:00), create-or-update by dossier code and revision; and
//! `GET /api/dvcqg/hoso/tructuyen` for dossiers citizens submitted online. Answers
//! use the envelope of the national APIs ([`crate::national::Envelope`]).

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{ApplicantKind, Dossier};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::national::{format_stamp, parse_stamp};

/// Result code: the revision arrived before the one it follows (retry later, in order).
pub const OUT_OF_ORDER: i32 = 409;
/// Result code: the portal refuses this update for good (e.g. an illegal status change).
pub const UNPROCESSABLE: i32 = 422;

/// One revision of a dossier, as the portal stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoSo {
    /// Dossier code.
    #[serde(rename = "MaHoSo")]
    pub dossier_code: String,
    /// Administrative procedure code.
    #[serde(rename = "MaTTHC")]
    pub procedure_code: String,
    /// Its name.
    #[serde(rename = "TenTTHC", default)]
    pub procedure_name: String,
    /// Receiving agency.
    #[serde(rename = "MaCoQuan")]
    pub agency_code: String,
    /// Applicant.
    #[serde(rename = "ChuHoSo")]
    pub applicant_name: String,
    /// Applicant's personal ID (a citizen's; an organisation's representative's,
    /// or empty).
    #[serde(rename = "SoDinhDanh", default)]
    pub applicant_personal_id: String,
    /// 1 a person, 2 an organisation (LoaiDoiTuong).
    #[serde(rename = "LoaiDoiTuong", default = "person")]
    pub applicant_kind: i32,
    /// The organisation's tax code, or a foreigner's passport number
    /// (MaDoiTuong); empty for a citizen.
    #[serde(rename = "MaDoiTuong", default)]
    pub applicant_code: String,
    /// A foreigner's nationality. The public source shows no field for it; this
    /// name is ours, and a portal that does not know it ignores it.
    #[serde(rename = "QuocTich", default, skip_serializing_if = "String::is_empty")]
    pub applicant_nationality: String,
    /// 1 in person, 2 online, 3 by post.
    #[serde(rename = "KenhThucHien")]
    pub channel: i32,
    /// The portal's status number, 1–10.
    #[serde(rename = "TrangThaiHoSo")]
    pub status: i32,
    /// Submitted (yyyyMMddHHmmss, +07:00), if known.
    #[serde(rename = "NgayNopHoSo", default)]
    pub submitted_at: String,
    /// Received.
    #[serde(rename = "NgayTiepNhan")]
    pub received_at: String,
    /// Due.
    #[serde(rename = "NgayHenTra", default)]
    pub due_at: String,
    /// Processing finished.
    #[serde(rename = "NgayKetThucXuLy", default)]
    pub completed_at: String,
    /// Result returned.
    #[serde(rename = "NgayTraKetQua", default)]
    pub returned_at: String,
    /// The dossier's revision; the portal keeps them in order.
    #[serde(rename = "PhienBan")]
    pub revision: u64,
}

/// The answer to a sync call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KetQuaDongBo {
    /// Dossier code.
    #[serde(rename = "MaHoSo")]
    pub dossier_code: String,
    /// The revision now held.
    #[serde(rename = "PhienBan")]
    pub revision: u64,
    /// True when this revision was already held (a redelivery): nothing changed.
    #[serde(rename = "TrungLap")]
    pub duplicate: bool,
}

/// A dossier submitted online, with its place in the portal's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoSoTrucTuyen {
    /// Where the feed stands after this dossier: ask for `SauConTro` = this next time.
    #[serde(rename = "ConTro")]
    pub cursor: String,
    /// The dossier.
    #[serde(rename = "HoSo")]
    pub dossier: HoSo,
}

/// A page of the online feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DanhSachTrucTuyen {
    /// Dossiers after the cursor asked for, in order.
    #[serde(rename = "DanhSach")]
    pub items: Vec<HoSoTrucTuyen>,
    /// True when more follow.
    #[serde(rename = "ConTiep")]
    pub more: bool,
}

fn stamp(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(format_stamp)
        .unwrap_or_default()
}

fn instant(field: &str, s: &str) -> Result<Option<Timestamp>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    parse_stamp(s)
        .map(Some)
        .map_err(|_| format!("{field} is not yyyyMMddHHmmss"))
}

fn person() -> i32 {
    1
}

impl From<&Dossier> for HoSo {
    fn from(d: &Dossier) -> HoSo {
        HoSo {
            dossier_code: d.dossier_code.clone(),
            procedure_code: d.procedure_code.clone(),
            procedure_name: d.procedure_name.clone(),
            agency_code: d.agency_code.clone(),
            applicant_name: d.applicant_name.clone(),
            applicant_personal_id: d.applicant_personal_id.clone(),
            applicant_kind: if d.applicant_kind == ApplicantKind::Organisation as i32 {
                2
            } else {
                1
            },
            applicant_code: match ApplicantKind::try_from(d.applicant_kind) {
                Ok(ApplicantKind::Organisation) => d.applicant_tax_code.clone(),
                Ok(ApplicantKind::Foreigner) => d.applicant_passport.clone(),
                _ => String::new(),
            },
            applicant_nationality: d.applicant_nationality.clone(),
            channel: d.channel,
            status: d.status,
            submitted_at: stamp(d.submitted_at.as_ref()),
            received_at: stamp(d.received_at.as_ref()),
            due_at: stamp(d.due_at.as_ref()),
            completed_at: stamp(d.completed_at.as_ref()),
            returned_at: stamp(d.returned_at.as_ref()),
            revision: d.revision,
        }
    }
}

impl TryFrom<&HoSo> for Dossier {
    type Error = String;

    /// Reads the portal's record; times must be `yyyyMMddHHmmss` or empty.
    fn try_from(h: &HoSo) -> Result<Dossier, String> {
        Ok(Dossier {
            dossier_code: h.dossier_code.clone(),
            procedure_code: h.procedure_code.clone(),
            procedure_name: h.procedure_name.clone(),
            agency_code: h.agency_code.clone(),
            applicant_name: h.applicant_name.clone(),
            applicant_personal_id: h.applicant_personal_id.clone(),
            channel: h.channel,
            status: h.status,
            submitted_at: instant("NgayNopHoSo", &h.submitted_at)?,
            received_at: instant("NgayTiepNhan", &h.received_at)?,
            due_at: instant("NgayHenTra", &h.due_at)?,
            completed_at: instant("NgayKetThucXuLy", &h.completed_at)?,
            returned_at: instant("NgayTraKetQua", &h.returned_at)?,
            revision: h.revision,
            sync: None,
            archived_in: String::new(),
            supplement_requested_at: None,
            applicant_kind: match (h.applicant_kind, h.applicant_nationality.is_empty()) {
                (2, _) => ApplicantKind::Organisation,
                (_, false) => ApplicantKind::Foreigner,
                _ => ApplicantKind::Citizen,
            } as i32,
            applicant_tax_code: if h.applicant_kind == 2 {
                h.applicant_code.clone()
            } else {
                String::new()
            },
            applicant_passport: if h.applicant_kind != 2 && !h.applicant_nationality.is_empty() {
                h.applicant_code.clone()
            } else {
                String::new()
            },
            applicant_nationality: h.applicant_nationality.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dossier_round_trips_through_the_portals_json() {
        let at = |s: i64| {
            Some(Timestamp {
                seconds: s,
                nanos: 0,
            })
        };
        let d = Dossier {
            dossier_code: "H99.01-261122-0001".into(),
            procedure_code: "1.001234".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            agency_code: "H99.01".into(),
            applicant_name: "Ngô Anh Đạt".into(),
            applicant_personal_id: "001085012345".into(),
            channel: 1,
            status: 4,
            submitted_at: None,
            received_at: at(1_795_300_000),
            due_at: at(1_795_800_000),
            completed_at: None,
            returned_at: None,
            revision: 3,
            sync: None,
            archived_in: String::new(),
            supplement_requested_at: None,
            applicant_kind: ApplicantKind::Citizen as i32,
            ..Dossier::default()
        };
        let h = HoSo::from(&d);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["MaHoSo"], "H99.01-261122-0001");
        assert_eq!(json["TrangThaiHoSo"], 4);
        assert_eq!(json["KenhThucHien"], 1);
        // 1 795 300 000 s is 2026-11-22 05:26:40 in Vietnam
        assert_eq!(json["NgayTiepNhan"], "20261122052640");
        assert_eq!(json["NgayKetThucXuLy"], "");
        assert_eq!(Dossier::try_from(&h).unwrap(), d);
        let bad = HoSo {
            due_at: "2026-11-22".into(),
            ..h
        };
        assert!(Dossier::try_from(&bad).unwrap_err().contains("NgayHenTra"));
    }

    #[test]
    fn organisations_and_foreigners_cross_as_loai_doi_tuong_and_ma_doi_tuong() {
        use crate::sim::dossiers::{RECEIVED, dossier};
        let base = dossier(
            "H99.01-261122-0001",
            lienthong_proto::v1::DossierStatus::Accepted,
            RECEIVED,
        );
        let organisation = Dossier {
            applicant_kind: ApplicantKind::Organisation as i32,
            applicant_tax_code: "0101234567-001".into(),
            applicant_personal_id: String::new(),
            ..base.clone()
        };
        let foreigner = Dossier {
            applicant_kind: ApplicantKind::Foreigner as i32,
            applicant_passport: "M12345678".into(),
            applicant_nationality: "KR".into(),
            applicant_personal_id: String::new(),
            ..base.clone()
        };
        for d in [base, organisation, foreigner] {
            let mut h = HoSo::from(&d);
            let json = serde_json::to_value(&h).unwrap();
            assert_eq!(
                json["LoaiDoiTuong"],
                if d.applicant_kind == 2 { 2 } else { 1 }
            );
            assert_eq!(crate::portal::check::dossier(&mut h), Ok(()));
            let back = Dossier::try_from(&h).unwrap();
            let kind = |k| if k == 0 { 1 } else { k };
            assert_eq!(kind(back.applicant_kind), kind(d.applicant_kind));
            assert_eq!(
                (
                    back.applicant_tax_code,
                    back.applicant_passport,
                    back.applicant_nationality
                ),
                (
                    d.applicant_tax_code,
                    d.applicant_passport,
                    d.applicant_nationality
                )
            );
        }
    }
}
