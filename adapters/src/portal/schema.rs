//! The portal's dossier and progress entry in its own field names, and their
//! mapping to the `lienthong.v1` contract.
//!
//! The fields are those OpenCPS sends with `DongBoHoSoMC` and `CapNhatTienDoHoSoMC`
//! (`MaHoSo`, `MaTTHC`, `TenTTHC`, `MaLinhVuc`, `ChuHoSo`, `LoaiDoiTuong`,
//! `MaDoiTuong`, `DonViXuLy`, `TrangThaiHoSo`, `NgayTiepNhan`, `NgayHenTra`,
//! `NgayKetThucXuLy`, `NgayTra`, `DanhSachHoSoBoSung`; `NguoiXuLy`, `ThoiDiemXuLy`,
//! `NoiDungXuLy`, `TrangThai`, `NgayKetThucTheoQuyDinh`), times `yyyyMMddHHmmss`
//! in +07:00. Where the source is silent or differs, this schema chooses:
//! - `MaDoiTuong` carries the applicant's identifier: a citizen's personal ID, an
//!   organisation's tax code, a foreigner's passport (OpenCPS sends the portal's own
//!   account id of the applicant there, when it has one). An organisation's
//!   representative is not sent;
//! - `DonViXuLy` carries the agency's code (OpenCPS sends the agency's name; the
//!   portal's unit catalogue, `LayDanhMucCoQuan`, is keyed by code);
//! - `KenhThucHien` (1 in person, 2 online, 3 by post) and `QuocTich` (a foreigner's
//!   nationality) are not in that source; a portal that does not know them
//!   ignores them;
//! - `TraCuuHoSo` answers the dossier with its progress entries (`QuaTrinhXuLy`).

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{ApplicantKind, Dossier, DossierStatus, DossierStep};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use super::wire::loose;
use crate::national::{format_stamp, parse_stamp};

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    loose(d)?.parse().map_err(serde::de::Error::custom)
}

/// A dossier as the portal holds it.
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
    /// The procedure's field, from the catalogue (`LayThuTuc`).
    #[serde(rename = "MaLinhVuc", default)]
    pub field_code: String,
    /// Its name.
    #[serde(rename = "TenLinhVuc", default)]
    pub field_name: String,
    /// Applicant's name.
    #[serde(rename = "ChuHoSo")]
    pub applicant_name: String,
    /// "1" a person, "2" an organisation.
    #[serde(rename = "LoaiDoiTuong", deserialize_with = "loose")]
    pub applicant_kind: String,
    /// The applicant's identifier (see the module docs).
    #[serde(rename = "MaDoiTuong", default)]
    pub applicant_code: String,
    /// A foreigner's nationality (ours).
    #[serde(rename = "QuocTich", default, skip_serializing_if = "String::is_empty")]
    pub applicant_nationality: String,
    /// The agency handling it (its code).
    #[serde(rename = "DonViXuLy")]
    pub agency_code: String,
    /// 1 in person, 2 online, 3 by post.
    #[serde(rename = "KenhThucHien", deserialize_with = "number")]
    pub channel: i32,
    /// The portal's status number, 1–10.
    #[serde(rename = "TrangThaiHoSo", deserialize_with = "number")]
    pub status: i32,
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
    #[serde(rename = "NgayTra", default)]
    pub returned_at: String,
    /// Papers asked for, each with the appointment date it led to.
    #[serde(rename = "DanhSachHoSoBoSung", default)]
    pub supplements: Vec<BoSung>,
    /// Its progress entries (in `TraCuuHoSo` answers).
    #[serde(
        rename = "QuaTrinhXuLy",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub progress: Vec<TienDo>,
}

/// A request for papers (`DanhSachHoSoBoSung`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoSung {
    /// Its id: the dossier code and the revision that asked.
    #[serde(rename = "HoSoBoSungId")]
    pub id: String,
    /// Who asked.
    #[serde(rename = "NguoiYeuCauBoSung", default)]
    pub asked_by: String,
    /// What for.
    #[serde(rename = "NoiDungBoSung", default)]
    pub content: String,
    /// When.
    #[serde(rename = "NgayBoSung")]
    pub asked_at: String,
    /// The appointment date before.
    #[serde(rename = "NgayHenTraTruoc", default)]
    pub due_before: String,
}

/// One progress entry (`CapNhatTienDoHoSoMC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TienDo {
    /// Dossier code.
    #[serde(rename = "MaHoSo")]
    pub dossier_code: String,
    /// The officer.
    #[serde(rename = "NguoiXuLy", default)]
    pub handler: String,
    /// Their title (not known to the gateway: empty).
    #[serde(rename = "ChucDanh", default)]
    pub title: String,
    /// When.
    #[serde(rename = "ThoiDiemXuLy")]
    pub at: String,
    /// Their department (not known to the gateway: empty).
    #[serde(rename = "PhongBanXuLy", default)]
    pub department: String,
    /// What was done.
    #[serde(rename = "NoiDungXuLy", default)]
    pub content: String,
    /// The status it left the dossier in.
    #[serde(rename = "TrangThai", deserialize_with = "number")]
    pub status: i32,
    /// The step's start (not known to the gateway: empty).
    #[serde(rename = "NgayBatDau", default)]
    pub started_at: String,
    /// The dossier's due date after it.
    #[serde(rename = "NgayKetThucTheoQuyDinh", default)]
    pub due_at: String,
}

/// A dossier submitted online, with its place in the portal's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoSoTrucTuyen {
    /// Where the feed stands after this dossier: ask for `contro` = this next time.
    #[serde(rename = "ConTro")]
    pub cursor: String,
    /// The dossier.
    #[serde(rename = "HoSo")]
    pub dossier: HoSo,
}

/// A page of the online feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DanhSachTrucTuyen {
    /// Dossiers after the cursor asked for, in order.
    pub items: Vec<HoSoTrucTuyen>,
    /// True when more follow.
    pub more: bool,
}

/// `yyyyMMddHHmmss` in +07:00, or empty.
pub fn stamp(ts: Option<&Timestamp>) -> String {
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

fn kind(d: &Dossier) -> ApplicantKind {
    ApplicantKind::try_from(d.applicant_kind).unwrap_or(ApplicantKind::Citizen)
}

impl From<&Dossier> for HoSo {
    fn from(d: &Dossier) -> HoSo {
        let (applicant_kind, applicant_code) = match kind(d) {
            ApplicantKind::Organisation => ("2", d.applicant_tax_code.clone()),
            ApplicantKind::Foreigner => ("1", d.applicant_passport.clone()),
            _ => ("1", d.applicant_personal_id.clone()),
        };
        let supplements = match (&d.step, d.supplement_requested_at) {
            (Some(step), Some(at)) if d.status == DossierStatus::SupplementRequested as i32 => {
                vec![BoSung {
                    id: format!("{}-{}", d.dossier_code, d.revision),
                    asked_by: step.handler.clone(),
                    content: step.note.clone(),
                    asked_at: stamp(Some(&at)),
                    due_before: stamp(d.due_at.as_ref()),
                }]
            }
            _ => Vec::new(),
        };
        HoSo {
            dossier_code: d.dossier_code.clone(),
            procedure_code: d.procedure_code.clone(),
            procedure_name: d.procedure_name.clone(),
            field_code: String::new(),
            field_name: String::new(),
            applicant_name: d.applicant_name.clone(),
            applicant_kind: applicant_kind.into(),
            applicant_code,
            applicant_nationality: d.applicant_nationality.clone(),
            agency_code: d.agency_code.clone(),
            channel: d.channel,
            status: d.status,
            received_at: stamp(d.received_at.as_ref()),
            due_at: stamp(d.due_at.as_ref()),
            completed_at: stamp(d.completed_at.as_ref()),
            returned_at: stamp(d.returned_at.as_ref()),
            supplements,
            progress: Vec::new(),
        }
    }
}

impl TienDo {
    /// The progress entry of the dossier's revision: its step, or its receipt.
    pub fn of(d: &Dossier) -> TienDo {
        let receipt = DossierStep {
            handler: String::new(),
            note: "Tiếp nhận hồ sơ".into(),
            at: d.received_at,
        };
        let step = d.step.as_ref().unwrap_or(&receipt);
        let status = DossierStatus::try_from(d.status).unwrap_or_default();
        TienDo {
            dossier_code: d.dossier_code.clone(),
            handler: step.handler.clone(),
            title: String::new(),
            at: stamp(step.at.as_ref()),
            department: String::new(),
            content: if step.note.is_empty() {
                lienthong_proto::dossier_status::vietnamese(status).into()
            } else {
                step.note.clone()
            },
            status: d.status,
            started_at: String::new(),
            due_at: stamp(d.due_at.as_ref()),
        }
    }
}

impl TryFrom<&HoSo> for Dossier {
    type Error = String;

    /// Reads the portal's record (a dossier submitted online, at its first revision
    /// here); times must be `yyyyMMddHHmmss` or empty. A dossier submitted online
    /// (channel 2) was submitted when it was received.
    fn try_from(h: &HoSo) -> Result<Dossier, String> {
        let organisation = h.applicant_kind == "2";
        let foreigner = !organisation && !h.applicant_nationality.is_empty();
        let received_at = instant("NgayTiepNhan", &h.received_at)?;
        Ok(Dossier {
            dossier_code: h.dossier_code.clone(),
            procedure_code: h.procedure_code.clone(),
            procedure_name: h.procedure_name.clone(),
            agency_code: h.agency_code.clone(),
            applicant_name: h.applicant_name.clone(),
            applicant_personal_id: if organisation || foreigner {
                String::new()
            } else {
                h.applicant_code.clone()
            },
            channel: h.channel,
            status: h.status,
            submitted_at: if h.channel == 2 { received_at } else { None },
            received_at,
            due_at: instant("NgayHenTra", &h.due_at)?,
            completed_at: instant("NgayKetThucXuLy", &h.completed_at)?,
            returned_at: instant("NgayTra", &h.returned_at)?,
            applicant_kind: match (organisation, foreigner) {
                (true, _) => ApplicantKind::Organisation,
                (_, true) => ApplicantKind::Foreigner,
                _ => ApplicantKind::Citizen,
            } as i32,
            applicant_tax_code: if organisation {
                h.applicant_code.clone()
            } else {
                String::new()
            },
            applicant_passport: if foreigner {
                h.applicant_code.clone()
            } else {
                String::new()
            },
            applicant_nationality: h.applicant_nationality.clone(),
            // Read from the portal, a dossier is at its first revision here.
            revision: 1,
            ..Dossier::default()
        })
    }
}

#[cfg(test)]
mod tests;
