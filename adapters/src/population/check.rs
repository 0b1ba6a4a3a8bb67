//! The population API's records, checked before they are believed: every string
//! within the length the schema gives it and free of control and invisible format
//! characters (a name that a viewer would show otherwise than it is stored). The
//! errors name the field, never its value: it may be personal data.

use lienthong_proto::text::{self, Problem};

use super::schema::{CongDan, CuTru, DiaChi};
use crate::BadResponse;

/// Checks one field; the cause and detail of a refusal.
fn field(name: &str, value: &str, max: usize) -> Result<(), (BadResponse, String)> {
    text::check(value, max).map_err(|problem| match problem {
        Problem::TooLong { max } => (
            BadResponse::Schema,
            format!("{name} is longer than {max} characters"),
        ),
        Problem::Control(c) | Problem::Format(c) => (
            BadResponse::Text,
            format!("{name} holds the hidden character U+{:04X}", u32::from(c)),
        ),
    })
}

/// A citizen record's strings.
pub fn citizen(c: &CongDan) -> Result<(), (BadResponse, String)> {
    field("SoDinhDanh", &c.so_dinh_danh, 12)?;
    field("HoVaTen", &c.ho_va_ten, 100)?;
    field("NgayThangNamSinh", &c.ngay_thang_nam_sinh, 10)?;
    field("DanToc", &c.dan_toc, 50)?;
    field("TonGiao", &c.ton_giao, 50)?;
    field("QuocTich", &c.quoc_tich, 50)?;
    field("NoiDangKyKhaiSinh", &c.noi_dang_ky_khai_sinh, 200)?;
    field("QueQuan", &c.que_quan, 200)?;
    field("SoCMND", &c.so_cmnd, 12)?;
    field("NgayCapNhat", &c.ngay_cap_nhat, 14)
}

/// A residence record's strings.
pub fn residence(r: &CuTru) -> Result<(), (BadResponse, String)> {
    field("SoDinhDanh", &r.so_dinh_danh, 12)?;
    address("ThuongTru", &r.thuong_tru)?;
    if let Some(a) = &r.tam_tru {
        address("TamTru", a)?;
    }
    address("NoiOHienTai", &r.noi_o_hien_tai)?;
    field("SoDinhDanhChuHo", &r.so_dinh_danh_chu_ho, 12)?;
    field("QuanHeVoiChuHo", &r.quan_he_voi_chu_ho, 50)?;
    field("NgayCapNhat", &r.ngay_cap_nhat, 14)
}

fn address(name: &str, a: &DiaChi) -> Result<(), (BadResponse, String)> {
    let part = |field_name: &str| format!("{name}.{field_name}");
    field(&part("ChiTiet"), &a.chi_tiet, 300)?;
    field(&part("MaXa"), &a.ma_xa, 10)?;
    field(&part("TenXa"), &a.ten_xa, 100)?;
    field(&part("MaHuyen"), &a.ma_huyen, 10)?;
    field(&part("TenHuyen"), &a.ten_huyen, 100)?;
    field(&part("MaTinh"), &a.ma_tinh, 10)?;
    field(&part("TenTinh"), &a.ten_tinh, 100)?;
    field(&part("QuocGia"), &a.quoc_gia, 3)
}

#[cfg(test)]
mod tests {
    use lienthong_proto::PersonalId;

    use super::*;

    fn simulated() -> (CongDan, CuTru) {
        let id = PersonalId::parse("001085012345").unwrap();
        let today = lienthong_proto::today();
        let c = crate::sim::citizens::citizen(&id, today).unwrap();
        let r = crate::sim::citizens::residence(&id, today).unwrap();
        (CongDan::from(&c), CuTru::from(&r))
    }

    #[test]
    fn the_simulators_records_pass_and_hidden_or_overlong_text_does_not() {
        let (c, r) = simulated();
        assert_eq!(citizen(&c), Ok(()));
        assert_eq!(residence(&r), Ok(()));
        let mut long = c.clone();
        long.ho_va_ten = "Nguyễn ".repeat(20);
        let (cause, detail) = citizen(&long).unwrap_err();
        assert_eq!(cause, BadResponse::Schema);
        assert!(
            detail.starts_with("HoVaTen") && !detail.contains("Nguyễn"),
            "{detail}"
        );
        let mut reversed = r.clone();
        reversed.noi_o_hien_tai.chi_tiet = "Số 1\u{202E}".into();
        let (cause, detail) = residence(&reversed).unwrap_err();
        assert_eq!(cause, BadResponse::Text);
        assert!(detail.contains("NoiOHienTai.ChiTiet") && detail.contains("U+202E"));
    }
}
