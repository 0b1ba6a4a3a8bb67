//! The population registry's records, checked before they are believed, whatever
//! adapter brought them: every string put in NFC, within the length the schema
//! gives it, free of hidden characters and legacy-encoded text ([`crate::text`]);
//! the record the one asked for. [`Checked`] wraps any registry with it.

use std::sync::Arc;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Address, Citizen, Residence};

use super::{Call, Registry};
use crate::text::field;
use crate::{BadResponse, Error};

/// A citizen record's strings.
pub fn citizen(c: &mut Citizen) -> Result<(), (BadResponse, String)> {
    field("personal_id", &mut c.personal_id, 12)?;
    field("full_name", &mut c.full_name, 100)?;
    field("birth_date", &mut c.birth_date, 10)?;
    field("ethnicity", &mut c.ethnicity, 50)?;
    field("religion", &mut c.religion, 50)?;
    field("nationality", &mut c.nationality, 50)?;
    field(
        "birth_registration_place",
        &mut c.birth_registration_place,
        200,
    )?;
    field("hometown", &mut c.hometown, 200)?;
    field("legacy_id_number", &mut c.legacy_id_number, 12)
}

/// A residence record's strings.
pub fn residence(r: &mut Residence) -> Result<(), (BadResponse, String)> {
    field("personal_id", &mut r.personal_id, 12)?;
    for (name, a) in [
        ("permanent", r.permanent.as_mut()),
        ("temporary", r.temporary.as_mut()),
        ("current", r.current.as_mut()),
    ] {
        if let Some(a) = a {
            address(name, a)?;
        }
    }
    field("household_head_id", &mut r.household_head_id, 12)?;
    field("relation_to_head", &mut r.relation_to_head, 50)
}

fn address(name: &str, a: &mut Address) -> Result<(), (BadResponse, String)> {
    let part = |field_name: &str| format!("{name}.{field_name}");
    field(&part("detail"), &mut a.detail, 300)?;
    field(&part("commune_code"), &mut a.commune_code, 10)?;
    field(&part("commune_name"), &mut a.commune_name, 100)?;
    field(&part("district_code"), &mut a.district_code, 10)?;
    field(&part("district_name"), &mut a.district_name, 100)?;
    field(&part("province_code"), &mut a.province_code, 10)?;
    field(&part("province_name"), &mut a.province_name, 100)?;
    field(&part("country_code"), &mut a.country_code, 3)
}

/// A registry whose every answer is checked: the record asked for, its text in
/// NFC and clean; a bad one is `Error::Protocol` (`UPSTREAM_BAD_RESPONSE`).
pub struct Checked<R: ?Sized> {
    inner: Arc<R>,
}

impl<R: ?Sized> Checked<R> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<R>) -> Arc<Checked<R>> {
        Arc::new(Checked { inner })
    }
}

impl<R: Registry + ?Sized> Checked<R> {
    fn bad(&self, (cause, detail): (BadResponse, String)) -> Error {
        Error::bad(self.inner.name(), cause, detail)
    }

    fn subject(&self, asked: &PersonalId, got: &str) -> Result<(), Error> {
        if got == asked.as_str() {
            Ok(())
        } else {
            Err(self.bad((
                BadResponse::WrongRecord,
                "answered with another citizen's record".into(),
            )))
        }
    }
}

#[async_trait]
impl<R: Registry + ?Sized> Registry for Checked<R> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, Error> {
        let mut c = self.inner.citizen(id, call).await?;
        self.subject(id, &c.personal_id)?;
        citizen(&mut c).map_err(|e| self.bad(e))?;
        Ok(c)
    }

    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, Error> {
        let mut r = self.inner.residence(id, call).await?;
        self.subject(id, &r.personal_id)?;
        residence(&mut r).map_err(|e| self.bad(e))?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use lienthong_proto::PersonalId;
    use unicode_normalization::UnicodeNormalization;

    use super::*;

    fn simulated() -> (Citizen, Residence) {
        let id = PersonalId::parse("001085012345").unwrap();
        let today = lienthong_proto::today();
        let c = crate::sim::citizens::citizen(&id, today).unwrap();
        let r = crate::sim::citizens::residence(&id, today).unwrap();
        (c, r)
    }

    #[test]
    fn records_are_put_in_nfc_and_hidden_legacy_or_overlong_text_is_refused() {
        let (c, r) = simulated();
        let mut nfd = c.clone();
        nfd.full_name = c.full_name.nfd().collect();
        assert_ne!(nfd.full_name, c.full_name);
        assert_eq!(citizen(&mut nfd), Ok(()));
        assert_eq!(nfd.full_name, c.full_name, "put in NFC");
        assert_eq!(residence(&mut r.clone()), Ok(()));
        let mut long = c.clone();
        long.full_name = "Nguyễn ".repeat(20);
        let (cause, detail) = citizen(&mut long).unwrap_err();
        assert_eq!(cause, BadResponse::Schema);
        assert!(
            detail.starts_with("full_name") && !detail.contains("Nguyễn"),
            "{detail}"
        );
        let mut reversed = r.clone();
        reversed.current.as_mut().unwrap().detail = "Số 1\u{202E}".into();
        let (cause, detail) = residence(&mut reversed).unwrap_err();
        assert_eq!(cause, BadResponse::Text);
        assert!(detail.contains("current.detail") && detail.contains("U+202E"));
        let mut legacy = c;
        legacy.full_name = "NguyÔn V¨n §¹t".into();
        let (cause, detail) = citizen(&mut legacy).unwrap_err();
        assert_eq!(cause, BadResponse::Text);
        assert!(detail.contains("TCVN3"), "{detail}");
    }
}
