//! What must hold for any input at the edges: the parsers of personal IDs, dossier
//! codes and agency codes, the request validators, and the JSON mappings of both
//! national adapters. Nothing may panic; what is accepted must be what it claims
//! to be, and must survive a round trip.
//!
//! The cargo-fuzz targets in `fuzz/` feed these with coverage-guided input; the
//! `properties` test runs them on generated input in `cargo test`.

use lienthong_adapters::national::Envelope;
use lienthong_adapters::population::schema::{CongDan, CuTru};
use lienthong_adapters::portal::schema::HoSo;
use lienthong_gateway::services::Violations;
use lienthong_gateway::services::dossier::validate;
use lienthong_proto::v1::{
    Citizen, Dossier, GetCitizenRequest, Residence, SubmitDossierRequest,
    UpdateDossierStatusRequest,
};
use lienthong_proto::{AgencyCode, DossierCode, PersonalId};
use prost::Message;

/// A personal ID is accepted only as 12 digits, and reads back as itself.
pub fn personal_id(s: &str) {
    if let Ok(id) = PersonalId::parse(s) {
        assert_eq!(id.as_str(), s);
        assert!(
            s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()),
            "{s:?}"
        );
        assert!(!id.masked().contains(&s[6..]), "the mask hides the serial");
        let _ = (id.province(), id.sex(), id.birth_year());
    }
}

/// An agency code is accepted only in its charset, and reads back as itself.
pub fn agency_code(s: &str) {
    if let Ok(code) = AgencyCode::parse(s) {
        assert_eq!(code.as_str(), s);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'.'),
            "{s:?}"
        );
        assert_eq!(AgencyCode::parse(code.as_str()).as_ref(), Ok(&code));
    }
}

/// A dossier code reads back as itself, and composing its parts gives it again.
pub fn dossier_code(s: &str) {
    if let Ok(code) = DossierCode::parse(s) {
        assert_eq!(code.as_str(), s);
        let again = DossierCode::compose(code.agency().as_str(), code.received(), code.serial());
        assert_eq!(
            DossierCode::parse(&again).map(|c| (c.agency().clone(), c.received(), c.serial())),
            Ok((code.agency().clone(), code.received(), code.serial())),
            "{s:?} recomposed as {again:?}"
        );
    }
}

/// Any bytes, decoded as each request the edge validates: validation answers
/// (accepts or names fields) and never panics; what it accepts is well formed.
pub fn requests(bytes: &[u8]) {
    // A fixed "now" (September 2026), so a failing input fails on every run.
    let now = 1_790_000_000;
    if let Ok(req) = GetCitizenRequest::decode(bytes) {
        let checked =
            lienthong_gateway::services::lookup(req.context.as_ref(), &req.personal_id, |_| {});
        if let Ok(id) = checked {
            assert_eq!(id.as_str(), req.personal_id);
        }
    }
    if let Ok(req) = UpdateDossierStatusRequest::decode(bytes) {
        let mut v = Violations::default();
        let (code, _) = validate::update(&mut v, &req, now);
        if v.finish().is_ok() {
            assert_eq!(code.expect("a valid code").as_str(), req.dossier_code);
        }
    }
    if let Ok(req) = SubmitDossierRequest::decode(bytes) {
        let mut v = Violations::default();
        let code = req
            .dossier
            .as_ref()
            .and_then(|d| validate::submitted(&mut v, d, now));
        if req.dossier.is_some() && v.finish().is_ok() {
            assert!(code.is_some(), "accepted without a code");
        }
    }
}

/// Any bytes as the population database's answers: decoding and mapping never
/// panic, and a record that maps maps back to itself.
pub fn population_json(bytes: &[u8]) {
    maps_back::<CongDan, Citizen>(bytes);
    maps_back::<CuTru, Residence>(bytes);
}

/// `bytes` as an enveloped `W` (the wire record): if it maps to a `T`, the `T`
/// mapped back to the wire and read again is the same `T`.
fn maps_back<W, T>(bytes: &[u8])
where
    W: serde::de::DeserializeOwned + for<'a> From<&'a T>,
    T: TryFrom<W, Error = String> + PartialEq + std::fmt::Debug,
{
    if let Ok(Envelope {
        data: Some(record), ..
    }) = serde_json::from_slice::<Envelope<W>>(bytes)
        && let Ok(value) = T::try_from(record)
    {
        let again = T::try_from(W::from(&value));
        assert_eq!(again.as_ref(), Ok(&value));
    }
}

/// Any bytes as the portal's dossier record: decoding and mapping never panic, and
/// a dossier that maps maps back to itself.
pub fn portal_json(bytes: &[u8]) {
    if let Ok(record) = serde_json::from_slice::<HoSo>(bytes)
        && let Ok(dossier) = Dossier::try_from(&record)
    {
        let again = Dossier::try_from(&HoSo::from(&dossier));
        assert_eq!(again.as_ref(), Ok(&dossier));
    }
}

/// Any text as the gateway reads it: putting it in NFC twice changes nothing;
/// its NFC and NFD forms fold to one name, check alike and are judged alike for a
/// legacy encoding; what passes the check shows as it is (a backslash aside,
/// which is escaped so that no escape can be forged).
pub fn text(s: &str) {
    use lienthong_proto::text::{self, folded, legacy, nfc};
    use unicode_normalization::UnicodeNormalization;

    let once = nfc(s).into_owned();
    assert_eq!(nfc(&once), once.as_str(), "NFC is idempotent: {s:?}");
    let decomposed: String = s.nfd().collect();
    assert_eq!(nfc(&decomposed), once.as_str(), "{s:?}");
    assert_eq!(folded(&decomposed), folded(s), "{s:?}");
    assert_eq!(folded(&folded(s)), folded(s), "{s:?}");
    assert_eq!(legacy::detect(&decomposed), legacy::detect(s), "{s:?}");
    assert_eq!(
        text::check(&once, 1000),
        text::check(&nfc(&decomposed), 1000)
    );
    if text::check(&once, 1000).is_ok() && !once.contains('\\') {
        assert_eq!(text::printable(&once), once.as_str(), "{s:?}");
    }
}

/// Vietnamese text in any case and form folds to one name: upper case, lower case,
/// NFC, NFD and a precomposed vowel with a combining tone (*tổ hợp*) alike.
pub fn vietnamese_name(s: &str) {
    use lienthong_adapters::sim::typing::{Form, write};
    use lienthong_proto::text::folded;

    let name = folded(s);
    for form in [Form::Nfc, Form::Nfd, Form::ToHop] {
        assert_eq!(folded(&write(s, form)), name, "{s:?} in {form:?}");
        assert_eq!(
            folded(&write(&s.to_uppercase(), form)),
            name,
            "{s:?} in {form:?}"
        );
    }
    assert_eq!(folded(&s.to_lowercase()), name, "{s:?}");
}
