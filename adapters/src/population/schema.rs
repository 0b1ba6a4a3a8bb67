//! The JSON schema of the national population data-sharing API, and its mapping to
//! the `lienthong.v1` contract.
//!
//! Shaped like the national APIs shared through the data integration platforms:
//! Vietnamese field names, an envelope `{MaKetQua, ThongDiep, DuLieu}` whose result
//! code carries the outcome, dates of birth as `dd/MM/yyyy`, and update times as
//! `yyyyMMddHHmmss` in Vietnam time (+07:00). The simulator serves this schema and the
//! REST adapter reads it, so both sides share one definition.

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Address, Citizen, MaritalStatus, Residence, Sex};
use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

pub use crate::national::{format_stamp, parse_stamp};

/// `POST /api/v1/congdan/tracuu` and `/api/v1/cutru/tracuu`: a lookup by personal ID.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lookup {
    /// Personal ID.
    #[serde(rename = "SoDinhDanh")]
    pub personal_id: String,
    /// The caller's request id, echoed in the national system's logs.
    #[serde(rename = "MaYeuCau")]
    pub request_id: String,
}

/// A citizen (công dân).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CongDan {
    #[serde(rename = "SoDinhDanh")]
    pub so_dinh_danh: String,
    #[serde(rename = "HoVaTen")]
    pub ho_va_ten: String,
    /// `dd/MM/yyyy`.
    #[serde(rename = "NgayThangNamSinh")]
    pub ngay_thang_nam_sinh: String,
    /// 1 male, 2 female.
    #[serde(rename = "GioiTinh")]
    pub gioi_tinh: i32,
    #[serde(rename = "DanToc")]
    pub dan_toc: String,
    #[serde(rename = "TonGiao")]
    pub ton_giao: String,
    #[serde(rename = "QuocTich")]
    pub quoc_tich: String,
    #[serde(rename = "NoiDangKyKhaiSinh")]
    pub noi_dang_ky_khai_sinh: String,
    #[serde(rename = "QueQuan")]
    pub que_quan: String,
    /// 1 single, 2 married, 3 divorced, 4 widowed.
    #[serde(rename = "TinhTrangHonNhan")]
    pub tinh_trang_hon_nhan: i32,
    /// The old 9-digit identity card number, empty if none.
    #[serde(rename = "SoCMND", default)]
    pub so_cmnd: String,
    /// `yyyyMMddHHmmss`, +07:00.
    #[serde(rename = "NgayCapNhat")]
    pub ngay_cap_nhat: String,
}

/// An address (địa chỉ); `MaHuyen`/`TenHuyen` are empty for two-level addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DiaChi {
    #[serde(rename = "ChiTiet")]
    pub chi_tiet: String,
    #[serde(rename = "MaXa")]
    pub ma_xa: String,
    #[serde(rename = "TenXa")]
    pub ten_xa: String,
    #[serde(rename = "MaHuyen", default)]
    pub ma_huyen: String,
    #[serde(rename = "TenHuyen", default)]
    pub ten_huyen: String,
    #[serde(rename = "MaTinh")]
    pub ma_tinh: String,
    #[serde(rename = "TenTinh")]
    pub ten_tinh: String,
    #[serde(rename = "QuocGia")]
    pub quoc_gia: String,
}

/// A residence record (cư trú).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CuTru {
    #[serde(rename = "SoDinhDanh")]
    pub so_dinh_danh: String,
    #[serde(rename = "ThuongTru")]
    pub thuong_tru: DiaChi,
    #[serde(rename = "TamTru", default)]
    pub tam_tru: Option<DiaChi>,
    #[serde(rename = "NoiOHienTai")]
    pub noi_o_hien_tai: DiaChi,
    #[serde(rename = "SoDinhDanhChuHo")]
    pub so_dinh_danh_chu_ho: String,
    #[serde(rename = "QuanHeVoiChuHo")]
    pub quan_he_voi_chu_ho: String,
    #[serde(rename = "NgayCapNhat")]
    pub ngay_cap_nhat: String,
}

const BIRTH_DATE_VN: &[BorrowedFormatItem<'static>] = format_description!("[day]/[month]/[year]");
const ISO_DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

fn timestamp_to_stamp(ts: Option<&Timestamp>) -> String {
    ts.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(format_stamp)
        .unwrap_or_default()
}

impl From<&Citizen> for CongDan {
    fn from(c: &Citizen) -> Self {
        let birth = Date::parse(&c.birth_date, ISO_DATE)
            .ok()
            .and_then(|d| d.format(BIRTH_DATE_VN).ok())
            .unwrap_or_default();
        CongDan {
            so_dinh_danh: c.personal_id.clone(),
            ho_va_ten: c.full_name.clone(),
            ngay_thang_nam_sinh: birth,
            gioi_tinh: c.sex,
            dan_toc: c.ethnicity.clone(),
            ton_giao: c.religion.clone(),
            quoc_tich: c.nationality.clone(),
            noi_dang_ky_khai_sinh: c.birth_registration_place.clone(),
            que_quan: c.hometown.clone(),
            tinh_trang_hon_nhan: c.marital_status,
            so_cmnd: c.legacy_id_number.clone(),
            ngay_cap_nhat: timestamp_to_stamp(c.updated_at.as_ref()),
        }
    }
}

impl TryFrom<CongDan> for Citizen {
    type Error = String;

    fn try_from(c: CongDan) -> Result<Self, String> {
        let birth = Date::parse(&c.ngay_thang_nam_sinh, BIRTH_DATE_VN)
            .map_err(|e| format!("NgayThangNamSinh is not dd/MM/yyyy: {e}"))?;
        let sex = match Sex::try_from(c.gioi_tinh) {
            Ok(sex) if sex != Sex::Unspecified => sex,
            _ => return Err("GioiTinh is not 1 or 2".to_owned()),
        };
        let marital = MaritalStatus::try_from(c.tinh_trang_hon_nhan)
            .map_err(|_| "TinhTrangHonNhan is not 1-4".to_owned())?;
        Ok(Citizen {
            personal_id: c.so_dinh_danh,
            full_name: c.ho_va_ten,
            birth_date: birth.format(ISO_DATE).map_err(|e| e.to_string())?,
            sex: sex.into(),
            ethnicity: c.dan_toc,
            religion: c.ton_giao,
            nationality: c.quoc_tich,
            birth_registration_place: c.noi_dang_ky_khai_sinh,
            hometown: c.que_quan,
            marital_status: marital.into(),
            legacy_id_number: c.so_cmnd,
            updated_at: Some(parse_stamp(&c.ngay_cap_nhat)?),
        })
    }
}

impl From<&Address> for DiaChi {
    fn from(a: &Address) -> Self {
        DiaChi {
            chi_tiet: a.detail.clone(),
            ma_xa: a.commune_code.clone(),
            ten_xa: a.commune_name.clone(),
            ma_huyen: a.district_code.clone(),
            ten_huyen: a.district_name.clone(),
            ma_tinh: a.province_code.clone(),
            ten_tinh: a.province_name.clone(),
            quoc_gia: a.country_code.clone(),
        }
    }
}

impl From<DiaChi> for Address {
    fn from(a: DiaChi) -> Self {
        Address {
            detail: a.chi_tiet,
            commune_code: a.ma_xa,
            commune_name: a.ten_xa,
            district_code: a.ma_huyen,
            district_name: a.ten_huyen,
            province_code: a.ma_tinh,
            province_name: a.ten_tinh,
            country_code: a.quoc_gia,
        }
    }
}

impl From<&Residence> for CuTru {
    fn from(r: &Residence) -> Self {
        let address = |a: Option<&Address>| DiaChi::from(a.unwrap_or(&Address::default()));
        CuTru {
            so_dinh_danh: r.personal_id.clone(),
            thuong_tru: address(r.permanent.as_ref()),
            tam_tru: r.temporary.as_ref().map(DiaChi::from),
            noi_o_hien_tai: address(r.current.as_ref()),
            so_dinh_danh_chu_ho: r.household_head_id.clone(),
            quan_he_voi_chu_ho: r.relation_to_head.clone(),
            ngay_cap_nhat: timestamp_to_stamp(r.updated_at.as_ref()),
        }
    }
}

impl TryFrom<CuTru> for Residence {
    type Error = String;

    fn try_from(r: CuTru) -> Result<Self, String> {
        Ok(Residence {
            personal_id: r.so_dinh_danh,
            permanent: Some(r.thuong_tru.into()),
            temporary: r.tam_tru.map(Address::from),
            current: Some(r.noi_o_hien_tai.into()),
            household_head_id: r.so_dinh_danh_chu_ho,
            relation_to_head: r.quan_he_voi_chu_ho,
            updated_at: Some(parse_stamp(&r.ngay_cap_nhat)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::national::{Envelope, describe_json_error};

    fn record() -> CongDan {
        CongDan::from(&Citizen {
            personal_id: "001085012345".into(),
            full_name: "Nguyễn Văn An".into(),
            birth_date: "1985-08-15".into(),
            sex: Sex::Male.into(),
            marital_status: MaritalStatus::Married.into(),
            updated_at: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
    }

    #[test]
    fn round_trip() {
        let c = record();
        assert_eq!(c.ngay_thang_nam_sinh, "15/08/1985");
        let back = Citizen::try_from(c).expect("valid record");
        assert_eq!(back.birth_date, "1985-08-15");
        assert_eq!(back.updated_at.map(|t| t.seconds), Some(1_700_000_000));
    }

    #[test]
    fn malformed_values_are_not_quoted() {
        let mut c = record();
        c.ngay_thang_nam_sinh = "31/02/1985".into();
        let e = Citizen::try_from(c).unwrap_err();
        assert!(
            e.starts_with("NgayThangNamSinh") && !e.contains("1985"),
            "{e}"
        );
        let mut c = record();
        c.gioi_tinh = 7;
        c.tinh_trang_hon_nhan = 9;
        assert_eq!(Citizen::try_from(c).unwrap_err(), "GioiTinh is not 1 or 2");
        let mut c = record();
        c.ngay_cap_nhat = "2025-01-01 10:00".into();
        let e = Citizen::try_from(c).unwrap_err();
        assert!(e.starts_with("NgayCapNhat") && !e.contains("2025"), "{e}");
        let body = r#"{"MaKetQua":0,"ThongDiep":"","DuLieu":{"SoDinhDanh":"001085012345","HoVaTen":"Nguyễn Văn An","GioiTinh":"Nguyễn Văn An"}}"#;
        let e = serde_json::from_str::<Envelope<CongDan>>(body).unwrap_err();
        assert!(
            e.to_string().contains("Nguyễn"),
            "serde_json quotes values: the reason for describe_json_error"
        );
        let described = describe_json_error(&e);
        assert!(
            !described.contains("Nguyễn") && described.contains("line 1"),
            "{described}"
        );
    }
}
