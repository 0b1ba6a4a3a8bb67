//! The edge properties ([`integration_tests::properties`]) on generated input, a
//! short deterministic run in `cargo test`: the same seed every time, so a failure
//! here is reproducible. The coverage-guided runs are the cargo-fuzz targets in
//! `fuzz/` (see RELIABILITY.md).

use integration_tests::properties;
use lienthong_adapters::national::Envelope;
use lienthong_adapters::population::schema::{CongDan, CuTru};
use lienthong_adapters::portal::schema::HoSo;
use lienthong_adapters::sim::{citizens, dossiers, today};
use lienthong_proto::PersonalId;
use lienthong_proto::v1::DossierStatus;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per property.
const CASES: u32 = 2_000;

fn run<S: Strategy>(strategy: S, check: impl Fn(S::Value)) {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&strategy, |value| {
            check(value);
            Ok(())
        })
        .unwrap();
}

/// Strings near the formats: mostly their own characters, sometimes anything.
fn near(charset: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec(proptest::sample::select(charset.chars().collect::<Vec<_>>()), len)
            .prop_map(|c| c.into_iter().collect()),
        1 => any::<String>(),
    ]
}

#[test]
fn personal_ids() {
    run(near("0123456789", 10..14), |s| properties::personal_id(&s));
}

#[test]
fn agency_codes() {
    run(near("0123456789.HGABZ", 1..16), |s| {
        properties::agency_code(&s)
    });
}

#[test]
fn dossier_codes() {
    run(near("0123456789.-H", 10..28), |s| {
        properties::dossier_code(&s)
    });
    // Well-formed codes of every agency form, day and serial width, some with one
    // character changed.
    let agencies = [
        "H99.01",
        "H15.50.05.13",
        "000.00.00.H55",
        "G01.123",
        "H55.242",
    ];
    let composed = (
        proptest::sample::select(agencies.to_vec()),
        0u32..36_500,
        0u32..1_000_000_000,
        proptest::option::of((any::<prop::sample::Index>(), any::<char>())),
    )
        .prop_map(|(agency, day, serial, edit)| {
            let date = time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap()
                + time::Duration::days(i64::from(day));
            let code = lienthong_proto::DossierCode::compose(agency, date, serial);
            match edit {
                None => code,
                Some((at, c)) => {
                    let mut chars: Vec<char> = code.chars().collect();
                    let i = at.index(chars.len());
                    chars[i] = c;
                    chars.into_iter().collect()
                }
            }
        });
    run(composed, |s| properties::dossier_code(&s));
}

#[test]
fn requests() {
    run(proptest::collection::vec(any::<u8>(), 0..512), |b| {
        properties::requests(&b)
    });
}

/// The letters Vietnamese is written in, small and capital, and the ASCII ones.
const VIETNAMESE: &str = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợ\
pqrstuùúủũụưừứửữựvxyỳýỷỹỵAÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬBCDĐEÈÉẺẼẸÊỀẾỂỄỆGHIÌÍỈĨỊKLMNOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ\
PQRSTUÙÚỦŨỤƯỪỨỬỮỰVXYỲÝỶỸỴfjwzFJWZ";

#[test]
fn text() {
    // Vietnamese with stray combining marks and white space, or anything at all.
    let marks = "\u{300}\u{301}\u{303}\u{309}\u{323}\u{302}\u{306}\u{31B} \t";
    let charset: &'static str = Box::leak(format!("{VIETNAMESE}{marks}").into_boxed_str());
    run(near(charset, 0..40), |s| properties::text(&s));
}

#[test]
fn vietnamese_names() {
    let letters = proptest::sample::select(VIETNAMESE.chars().collect::<Vec<_>>());
    let word = proptest::collection::vec(letters, 1..8).prop_map(String::from_iter);
    let name = proptest::collection::vec(word, 1..5).prop_map(|w| w.join(" "));
    run(name, |s| properties::vietnamese_name(&s));
}

/// What the population simulator answers for a registered citizen: its record and
/// residence, enveloped as on the wire.
fn population_samples() -> (Vec<u8>, Vec<u8>) {
    let id = PersonalId::parse(&integration_tests::sim_id("001085", true)).unwrap();
    let envelope = |data| Envelope {
        code: 0,
        message: "Thành công".into(),
        data: Some(data),
    };
    let citizen = citizens::citizen(&id, today()).expect("registered");
    let residence = citizens::residence(&id, today()).expect("registered");
    (
        serde_json::to_vec(&envelope(CongDan::from(&citizen))).unwrap(),
        serde_json::to_vec(&Envelope {
            code: 0,
            message: String::new(),
            data: Some(CuTru::from(&residence)),
        })
        .unwrap(),
    )
}

#[test]
fn population_json() {
    let (citizen, residence) = population_samples();
    // The samples map back and forth as they are.
    properties::population_json(&citizen);
    properties::population_json(&residence);
    run(mutations(citizen), |b| properties::population_json(&b));
    run(mutations(residence), |b| properties::population_json(&b));
}

#[test]
fn portal_json() {
    let code = lienthong_proto::DossierCode::compose("H99.01", today(), 975);
    let dossier = dossiers::dossier(&code, DossierStatus::Processing, dossiers::RECEIVED);
    let sample = serde_json::to_vec(&HoSo::from(&dossier)).unwrap();
    properties::portal_json(&sample);
    run(mutations(sample), |b| properties::portal_json(&b));
}

/// `sample` with bytes replaced and sometimes cut short, or raw bytes.
fn mutations(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8);
    prop_oneof![
        4 => (edits, any::<prop::sample::Index>(), any::<bool>()).prop_map(move |(edits, cut, short)| {
            let mut b = sample.clone();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            if short {
                b.truncate(cut.index(b.len() + 1));
            }
            b
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}
