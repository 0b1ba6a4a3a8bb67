use lienthong_proto::v1::DossierStatus;

use super::*;
use crate::sim::dossiers::{RECEIVED, dossier};

fn at(s: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: s,
        nanos: 0,
    })
}

#[test]
fn a_dossier_crosses_in_the_portals_field_names_and_times() {
    let d = Dossier {
        status: DossierStatus::Processing as i32,
        due_at: at(1_795_800_000),
        revision: 3,
        step: Some(DossierStep {
            handler: "Lê Thị Thu".into(),
            note: String::new(),
            at: at(1_795_400_000),
        }),
        ..dossier("H99.01-261122-0001", DossierStatus::Accepted, RECEIVED)
    };
    let h = HoSo::from(&d);
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["MaHoSo"], "H99.01-261122-0001");
    assert_eq!(json["MaTTHC"], "1.001193");
    assert_eq!(json["TrangThaiHoSo"], 4);
    assert_eq!(json["LoaiDoiTuong"], "1");
    assert_eq!(json["MaDoiTuong"], "001085012345");
    assert_eq!(json["DonViXuLy"], "H99.01");
    // 2026-11-22 08:00 in Vietnam
    assert_eq!(json["NgayTiepNhan"], "20261122080000");
    assert_eq!(json["NgayTra"], "");
    assert!(
        json.get("QuaTrinhXuLy").is_none(),
        "progress goes on its own"
    );
    let step = serde_json::to_value(TienDo::of(&d)).unwrap();
    assert_eq!(step["NguoiXuLy"], "Lê Thị Thu");
    assert_eq!(
        step["NoiDungXuLy"], "Đang xử lý",
        "the status, without a note"
    );
    assert_eq!(step["TrangThai"], 4);
    assert_eq!(step["NgayKetThucTheoQuyDinh"], h.due_at);
    // The portal's strings for numbers are read too.
    let mut loose = json.clone();
    loose["TrangThaiHoSo"] = "4".into();
    loose["KenhThucHien"] = "1".into();
    assert_eq!(serde_json::from_value::<HoSo>(loose).unwrap(), h);
    let back = Dossier::try_from(&h).unwrap();
    assert_eq!(
        (back.status, back.due_at, back.received_at, back.revision),
        (d.status, d.due_at, d.received_at, 1)
    );
    assert_eq!(back.applicant_personal_id, d.applicant_personal_id);
    let bad = HoSo {
        due_at: "2026-11-22".into(),
        ..h
    };
    assert!(Dossier::try_from(&bad).unwrap_err().contains("NgayHenTra"));
}

#[test]
fn a_request_for_papers_goes_with_the_appointment_date_it_stopped() {
    let d = Dossier {
        status: DossierStatus::SupplementRequested as i32,
        due_at: at(1_795_800_000),
        supplement_requested_at: at(1_795_400_000),
        revision: 2,
        step: Some(DossierStep {
            handler: "Lê Thị Thu".into(),
            note: "Thiếu tờ khai".into(),
            at: at(1_795_400_000),
        }),
        ..dossier("H99.01-261122-0001", DossierStatus::Accepted, RECEIVED)
    };
    let h = HoSo::from(&d);
    assert_eq!(h.supplements.len(), 1);
    assert_eq!(h.supplements[0].id, "H99.01-261122-0001-2");
    assert_eq!(h.supplements[0].content, "Thiếu tờ khai");
    assert_eq!(h.supplements[0].due_before, h.due_at);
}

#[test]
fn organisations_and_foreigners_cross_as_loai_doi_tuong_and_ma_doi_tuong() {
    use lienthong_proto::v1::ApplicantKind;
    let base = dossier("H99.01-261122-0001", DossierStatus::Accepted, RECEIVED);
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
        let organisation = d.applicant_kind == ApplicantKind::Organisation as i32;
        assert_eq!(json["LoaiDoiTuong"], if organisation { "2" } else { "1" });
        assert_eq!(crate::portal::check::dossier(&mut h), Ok(()));
        let back = Dossier::try_from(&h).unwrap();
        let kind = |k| if k == 0 { 1 } else { k };
        assert_eq!(kind(back.applicant_kind), kind(d.applicant_kind));
        assert_eq!(
            (
                back.applicant_personal_id,
                back.applicant_tax_code,
                back.applicant_passport,
                back.applicant_nationality
            ),
            (
                d.applicant_personal_id,
                d.applicant_tax_code,
                d.applicant_passport,
                d.applicant_nationality
            )
        );
    }
}
