//! The fields of a citizen record by name, and dropping those not to be released.
//!
//! Names are the `Citizen` field names of the contract, as used in a `FieldMask`.
//! The personal ID is always kept: the caller already has it.

use lienthong_proto::v1::Citizen;

/// Every field of `Citizen` a caller may ask for.
pub const CITIZEN: [&str; 12] = [
    "personal_id",
    "full_name",
    "birth_date",
    "sex",
    "ethnicity",
    "religion",
    "nationality",
    "birth_registration_place",
    "hometown",
    "marital_status",
    "legacy_id_number",
    "updated_at",
];

/// Clears every field of `citizen` not in `keep` (the personal ID always stays).
pub fn retain(citizen: &mut Citizen, keep: &[&str]) {
    for field in CITIZEN.iter().filter(|f| !keep.contains(f)) {
        match *field {
            "full_name" => citizen.full_name.clear(),
            "birth_date" => citizen.birth_date.clear(),
            "sex" => citizen.sex = 0,
            "ethnicity" => citizen.ethnicity.clear(),
            "religion" => citizen.religion.clear(),
            "nationality" => citizen.nationality.clear(),
            "birth_registration_place" => citizen.birth_registration_place.clear(),
            "hometown" => citizen.hometown.clear(),
            "marital_status" => citizen.marital_status = 0,
            "legacy_id_number" => citizen.legacy_id_number.clear(),
            "updated_at" => citizen.updated_at = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retains_only_named_fields() {
        let full = Citizen {
            personal_id: "001085012345".into(),
            full_name: "Nguyễn Văn An".into(),
            birth_date: "1985-03-04".into(),
            sex: 1,
            ethnicity: "Kinh".into(),
            religion: "Không".into(),
            nationality: "VN".into(),
            birth_registration_place: "Hà Nội".into(),
            hometown: "x".into(),
            marital_status: 2,
            legacy_id_number: "012345678".into(),
            updated_at: Some(Default::default()),
        };
        let mut c = full.clone();
        retain(&mut c, &["full_name", "birth_date"]);
        assert_eq!(
            c,
            Citizen {
                personal_id: full.personal_id.clone(),
                full_name: full.full_name.clone(),
                birth_date: full.birth_date.clone(),
                ..Default::default()
            }
        );
        let mut c = full.clone();
        retain(&mut c, &CITIZEN);
        assert_eq!(c, full);
    }
}
