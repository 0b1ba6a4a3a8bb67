//! Field masking: only what the policy (narrowed by the request) allows leaves.
//!
//! Names are the contract's message field names, as used in a `FieldMask`. The
//! personal ID is always kept: the caller already has it.

use lienthong_proto::v1::{Citizen, Residence};

use crate::policy::{Fields, Record};

/// Every field of `Citizen` a request's `FieldMask` may name.
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
pub fn citizen(citizen: &mut Citizen, keep: Fields) {
    let drop = |name| !keep.contains(Record::Citizen, name);
    let c = citizen;
    if drop("full_name") {
        c.full_name.clear();
    }
    if drop("birth_date") {
        c.birth_date.clear();
    }
    if drop("sex") {
        c.sex = 0;
    }
    if drop("ethnicity") {
        c.ethnicity.clear();
    }
    if drop("religion") {
        c.religion.clear();
    }
    if drop("nationality") {
        c.nationality.clear();
    }
    if drop("birth_registration_place") {
        c.birth_registration_place.clear();
    }
    if drop("hometown") {
        c.hometown.clear();
    }
    if drop("marital_status") {
        c.marital_status = 0;
    }
    if drop("legacy_id_number") {
        c.legacy_id_number.clear();
    }
    if drop("updated_at") {
        c.updated_at = None;
    }
}

/// Clears every field of `residence` not in `keep` (the personal ID always stays).
pub fn residence(residence: &mut Residence, keep: Fields) {
    let drop = |name| !keep.contains(Record::Residence, name);
    let r = residence;
    if drop("permanent") {
        r.permanent = None;
    }
    if drop("temporary") {
        r.temporary = None;
    }
    if drop("current") {
        r.current = None;
    }
    if drop("household_head_id") {
        r.household_head_id.clear();
    }
    if drop("relation_to_head") {
        r.relation_to_head.clear();
    }
    if drop("updated_at") {
        r.updated_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Citizen {
        Citizen {
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
        }
    }

    #[test]
    fn keeps_only_granted_fields() {
        let keep = Fields::parse("citizen.full_name")
            .unwrap()
            .union(Fields::parse("citizen.birth_date").unwrap());
        let mut c = full();
        citizen(&mut c, keep);
        assert_eq!(
            c,
            Citizen {
                personal_id: full().personal_id,
                full_name: full().full_name,
                birth_date: full().birth_date,
                ..Default::default()
            }
        );
        let mut c = full();
        citizen(&mut c, Fields::all(Record::Citizen));
        assert_eq!(c, full());
        // every grantable citizen field is handled: with none kept, only the ID is left
        let mut c = full();
        citizen(&mut c, Fields::NONE);
        assert_eq!(
            c,
            Citizen {
                personal_id: full().personal_id,
                ..Default::default()
            }
        );
    }

    #[test]
    fn residence_fields() {
        let mut r = Residence {
            personal_id: "001085012345".into(),
            permanent: Some(Default::default()),
            temporary: Some(Default::default()),
            current: Some(Default::default()),
            household_head_id: "001060000001".into(),
            relation_to_head: "con".into(),
            updated_at: Some(Default::default()),
        };
        residence(&mut r, Fields::parse("residence.current").unwrap());
        assert!(r.current.is_some() && r.permanent.is_none() && r.temporary.is_none());
        assert!(r.household_head_id.is_empty() && r.relation_to_head.is_empty());
        assert_eq!(r.personal_id, "001085012345");
    }
}
