//! The portal's dossiers, checked before they are believed: a dossier code and
//! agency code of the right form, an applicant of a kind the contract knows (a
//! citizen's personal ID, an organisation's tax code, a foreigner's passport and
//! nationality), a status and channel the contract knows,
//! and text within its length and free of control and invisible format
//! characters. The errors name the field, never its value.

use lienthong_proto::{AgencyCode, DossierCode, PersonalId};

use super::schema::HoSo;
use crate::BadResponse;
use crate::text::field;

fn schema(detail: String) -> Result<(), (BadResponse, String)> {
    Err((BadResponse::Schema, detail))
}

/// A dossier of the portal, its text put in NFC.
pub fn dossier(h: &mut HoSo) -> Result<(), (BadResponse, String)> {
    if DossierCode::parse(&h.dossier_code).is_err() {
        return schema("MaHoSo is not a dossier code".into());
    }
    if AgencyCode::parse(&h.agency_code).is_err() {
        return schema("DonViXuLy is not an agency code".into());
    }
    if !lienthong_proto::procedure_code::is_valid(&h.procedure_code) {
        return schema("MaTTHC is not a procedure code".into());
    }
    // MaDoiTuong is a citizen's personal ID, an organisation's tax code, or with a
    // nationality a foreigner's passport.
    let code = match (
        h.applicant_kind.as_str(),
        h.applicant_nationality.is_empty(),
    ) {
        ("2", _) => lienthong_proto::applicant::tax_code(&h.applicant_code),
        ("1", false) => lienthong_proto::applicant::passport(&h.applicant_code)
            .and_then(|()| lienthong_proto::applicant::nationality(&h.applicant_nationality)),
        ("1", true) => PersonalId::parse(&h.applicant_code)
            .map(|_| ())
            .map_err(|_| String::new()),
        (kind, _) => {
            return schema(format!(
                "LoaiDoiTuong {:?} is not 1 or 2",
                lienthong_proto::text::shown(kind, 8)
            ));
        }
    };
    if code.is_err() {
        return schema("MaDoiTuong or QuocTich is not of its applicant's kind".into());
    }
    if !(1..=10).contains(&h.status) {
        return schema(format!("TrangThaiHoSo {} is not 1-10", h.status));
    }
    if !(1..=3).contains(&h.channel) {
        return schema(format!("KenhThucHien {} is not 1-3", h.channel));
    }
    field("TenTTHC", &mut h.procedure_name, 300)?;
    field("ChuHoSo", &mut h.applicant_name, 200)
}

#[cfg(test)]
mod tests {
    use lienthong_proto::v1::DossierStatus;

    use super::*;
    use crate::sim::dossiers::{RECEIVED, dossier as simulated};

    #[test]
    fn the_simulators_dossiers_pass_and_broken_ones_do_not() {
        let good = HoSo::from(&simulated(
            "H99.01-261122-0001",
            DossierStatus::Accepted,
            RECEIVED,
        ));
        assert_eq!(dossier(&mut good.clone()), Ok(()));
        type Edit = fn(&mut HoSo);
        let broken: [(Edit, BadResponse); 5] = [
            (|h| h.status = 99, BadResponse::Schema),
            (
                |h| h.dossier_code = "not a code".into(),
                BadResponse::Schema,
            ),
            (|h| h.applicant_code = "12345".into(), BadResponse::Schema),
            (
                |h| h.applicant_name = "A\u{202E}B".into(),
                BadResponse::Text,
            ),
            (|h| h.procedure_name = "x".repeat(301), BadResponse::Schema),
        ];
        for (n, (edit, cause)) in broken.into_iter().enumerate() {
            let mut h = good.clone();
            edit(&mut h);
            assert_eq!(dossier(&mut h).unwrap_err().0, cause, "case {n}");
        }
    }
}
