//! Deterministic synthetic citizens.
//!
//! Every valid personal ID maps to one record, the same on every machine and after
//! every restart: the record is drawn from a pseudo-random stream seeded by the ID.
//! Birth year and sex follow the ID's digits; about 2 % of IDs are deliberately not
//! registered, so that NOT_FOUND can be exercised with a well-formed ID.

use lienthong_proto::PersonalId;
use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::{Address, Citizen, MaritalStatus, Residence, Sex};
use time::{Date, Duration, Month};

use super::names::{
    ETHNICITIES, GIVEN_FEMALE, GIVEN_MALE, MIDDLE_FEMALE, MIDDLE_MALE, RELIGIONS, STREETS, SURNAMES,
};
use super::places::{OldCommune, places};
use super::rng::Rng;
use super::typing::{Form, write};

/// Whether the register holds a record for this ID (about 98 % do).
pub fn is_registered(id: &PersonalId) -> bool {
    Rng::new(id, 0).below(50) != 0
}

/// The citizen registered under `id`, as of `today`; `None` if not registered.
pub fn citizen(id: &PersonalId, today: Date) -> Option<Citizen> {
    person(id, today).map(|(citizen, _)| citizen)
}

/// The citizen record and the birth date it was drawn with.
fn person(id: &PersonalId, today: Date) -> Option<(Citizen, Date)> {
    if !is_registered(id) {
        return None;
    }
    let mut rng = Rng::new(id, 1);
    let male = id.sex() == Sex::Male;
    let birth = birth_date(&mut rng, id.birth_year(), today);
    let age = age_on(birth, today);
    let full_name = format!(
        "{} {} {}",
        rng.weighted(SURNAMES),
        rng.pick(if male { MIDDLE_MALE } else { MIDDLE_FEMALE }),
        rng.pick(if male { GIVEN_MALE } else { GIVEN_FEMALE }),
    );
    let marital = match age {
        0..18 => MaritalStatus::Single,
        18..25 if rng.chance(80) => MaritalStatus::Single,
        65.. if rng.chance(30) => MaritalStatus::Widowed,
        _ if rng.chance(6) => MaritalStatus::Divorced,
        _ if rng.chance(12) => MaritalStatus::Single,
        _ => MaritalStatus::Married,
    };
    // The 9-digit card was issued from age 14 until the 12-digit card replaced it in 2021.
    let legacy = if birth.year() <= 2006 && rng.chance(85) {
        format!("{:09}", rng.below(1_000_000_000))
    } else {
        String::new()
    };
    let hometown = rng.pick(places().old_in_province(&id.province().code[1..]));
    let form = typed(id);
    let citizen = Citizen {
        personal_id: id.as_str().to_owned(),
        full_name: write(&full_name, form),
        birth_date: format!(
            "{:04}-{:02}-{:02}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        ),
        sex: id.sex().into(),
        ethnicity: rng.weighted(ETHNICITIES).to_string(),
        religion: rng.weighted(RELIGIONS).to_string(),
        nationality: "VN".into(),
        birth_registration_place: id.province().name.into(),
        hometown: write(
            &format!(
                "{}, {}, {}",
                hometown.name, hometown.district_name, hometown.province_name
            ),
            form,
        ),
        marital_status: marital.into(),
        legacy_id_number: legacy,
        updated_at: Some(updated_at(&mut rng, birth, today)),
    };
    Some((citizen, birth))
}

/// How the register wrote `id`'s record: mostly in NFC, as TCVN 6909 asks, but
/// about one in eight decomposed (NFD) and one in twelve with combining tone marks
/// (*tổ hợp*), as records keyed in on other systems are. The names and hometown
/// carry it; a gateway must answer them alike.
pub fn typed(id: &PersonalId) -> Form {
    match Rng::new(id, 3).below(100) {
        0..80 => Form::Nfc,
        80..92 => Form::Nfd,
        _ => Form::ToHop,
    }
}

/// The residence registered for `id`, as of `today`; `None` if not registered.
pub fn residence(id: &PersonalId, today: Date) -> Option<Residence> {
    let (citizen, birth) = person(id, today)?;
    let mut rng = Rng::new(id, 2);
    let places = places();
    let birth_province = &id.province().code[1..];
    let home_province = if rng.chance(70) {
        birth_province.to_owned()
    } else {
        rng.pick(&places.old).province_code.to_owned()
    };
    let home = rng.pick(places.old_in_province(&home_province));
    let permanent = if rng.chance(75) {
        old_address(&mut rng, home)
    } else {
        new_address(&mut rng, home)
    };
    let temporary = rng.chance(15).then(|| {
        let city = rng.pick(&["01", "79", "48", "31", "92"]);
        let commune = rng.pick(places.new_in_province(city));
        two_level(&mut rng, commune)
    });
    let current = temporary
        .clone()
        .unwrap_or_else(|| new_address(&mut rng, home));
    let adult = age_on(birth, today) >= 18;
    let (head, relation) = if adult && rng.chance(45) {
        (id.as_str().to_owned(), "Chủ hộ".to_owned())
    } else if adult && citizen.marital_status == i32::from(MaritalStatus::Married) {
        let head_male = id.sex() == Sex::Female;
        let year = id.birth_year() - 3 + rng.below(7) as i32;
        let head = related_id(&mut rng, id, year, head_male, today);
        (head, if head_male { "Vợ" } else { "Chồng" }.to_owned())
    } else {
        let parent_year = id.birth_year() - 20 - rng.below(16) as i32;
        let father = rng.chance(60);
        (
            related_id(&mut rng, id, parent_year, father, today),
            "Con".to_owned(),
        )
    };
    Some(Residence {
        personal_id: id.as_str().to_owned(),
        permanent: Some(permanent),
        temporary,
        current: Some(current),
        household_head_id: head,
        relation_to_head: relation,
        updated_at: citizen.updated_at,
    })
}

fn birth_date(rng: &mut Rng, year: i32, today: Date) -> Date {
    let days = if year == today.year() {
        today.ordinal()
    } else {
        days_in_year(year)
    };
    let ordinal = 1 + rng.below(u64::from(days)) as u16;
    Date::from_ordinal_date(year, ordinal).unwrap_or(today)
}

fn days_in_year(year: i32) -> u16 {
    if time::util::is_leap_year(year) {
        366
    } else {
        365
    }
}

fn age_on(birth: Date, today: Date) -> i32 {
    let had_birthday = (today.month(), today.day()) >= (birth.month(), birth.day());
    today.year() - birth.year() - i32::from(!had_birthday)
}

/// When the register last touched the record: after the chip-card roll-out began
/// (2021-01-01) or the birth, whichever is later, and not after today.
fn updated_at(rng: &mut Rng, birth: Date, today: Date) -> Timestamp {
    let from = birth.max(Date::from_calendar_date(2021, Month::January, 1).unwrap_or(birth));
    let span = (today - from).whole_days().max(1) as u64;
    let day = from + Duration::days(rng.below(span) as i64);
    let at = day.midnight().assume_utc() + Duration::seconds(rng.below(86_400) as i64);
    Timestamp {
        seconds: at.unix_timestamp(),
        nanos: 0,
    }
}

/// A valid personal ID for a relative born in `year`, registered in the same province.
fn related_id(rng: &mut Rng, id: &PersonalId, year: i32, male: bool, today: Date) -> String {
    let year = year.clamp(1900, today.year());
    let century = ((year - 1900) / 100) * 2 + i32::from(!male);
    format!(
        "{}{}{:02}{:06}",
        id.province().code,
        century,
        year % 100,
        rng.below(1_000_000)
    )
}

fn detail(rng: &mut Rng, commune_name: &str) -> String {
    if commune_name.starts_with("Phường") || commune_name.starts_with("Thị trấn") {
        format!("Số {} {}", 1 + rng.below(250), rng.pick(STREETS))
    } else {
        format!("Thôn {}", 1 + rng.below(15))
    }
}

fn old_address(rng: &mut Rng, c: &OldCommune) -> Address {
    Address {
        detail: detail(rng, c.name),
        commune_code: c.code.into(),
        commune_name: c.name.into(),
        district_code: c.district_code.into(),
        district_name: c.district_name.into(),
        province_code: c.province_code.into(),
        province_name: c.province_name.into(),
        country_code: "VN".into(),
    }
}

/// The two-level address of the place `c` became in 2025: the commune that kept its
/// code, or else one in the successor province.
fn new_address(rng: &mut Rng, c: &OldCommune) -> Address {
    let places = places();
    let commune = match places.new_by_code(c.code) {
        Some(commune) => commune,
        None => rng.pick(places.new_in_province(c.successor_province)),
    };
    two_level(rng, commune)
}

fn two_level(rng: &mut Rng, c: &super::places::NewCommune) -> Address {
    Address {
        detail: detail(rng, c.name),
        commune_code: c.code.into(),
        commune_name: c.name.into(),
        district_code: String::new(),
        district_name: String::new(),
        province_code: c.province_code.into(),
        province_name: c.province_name.into(),
        country_code: "VN".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 22);

    fn id(s: &str) -> PersonalId {
        PersonalId::parse_as_of(s, 2026).expect("valid test ID")
    }

    /// The first `n` registered IDs of a simple sequence, for sampling.
    fn sample(n: usize) -> Vec<PersonalId> {
        (0..)
            .map(|i: u64| {
                let g = if i.is_multiple_of(3) {
                    2
                } else {
                    (i % 2) as u8
                };
                let yy = if g >= 2 { i % 26 } else { 30 + i % 70 };
                id(&format!(
                    "0{:02}{g}{yy:02}{:06}",
                    [1u64, 79, 36, 48][(i % 4) as usize],
                    i * 7919 % 1_000_000
                ))
            })
            .filter(is_registered)
            .take(n)
            .collect()
    }

    #[test]
    fn same_id_same_record() {
        for pid in sample(50) {
            assert_eq!(citizen(&pid, TODAY), citizen(&pid, TODAY));
            assert_eq!(residence(&pid, TODAY), residence(&pid, TODAY));
        }
    }

    #[test]
    fn record_agrees_with_the_id_digits() {
        for pid in sample(500) {
            let c = citizen(&pid, TODAY).expect("registered");
            assert_eq!(c.personal_id, pid.as_str());
            assert_eq!(c.sex, i32::from(pid.sex()));
            assert_eq!(
                c.birth_date[..4].parse::<i32>().ok(),
                Some(pid.birth_year())
            );
            let iso = time::macros::format_description!("[year]-[month]-[day]");
            let birth = Date::parse(&c.birth_date, iso).expect("birth_date is YYYY-MM-DD");
            assert!(birth <= TODAY, "{}", c.birth_date);
            assert_eq!(c.birth_registration_place, pid.province().name);
            let words: Vec<_> = c.full_name.split(' ').collect();
            assert_eq!(words.len(), 3, "{}", c.full_name);
            if age_on(birth, TODAY) < 18 {
                assert_eq!(c.marital_status, i32::from(MaritalStatus::Single));
            }
            if birth.year() > 2006 {
                assert!(c.legacy_id_number.is_empty());
            }
        }
    }

    #[test]
    fn residence_codes_are_real_and_versioned() {
        let places = places();
        for pid in sample(300) {
            let r = residence(&pid, TODAY).expect("registered");
            let current = r.current.expect("current address");
            assert!(
                current.district_code.is_empty(),
                "current addresses are two-level"
            );
            assert!(
                places.new_by_code(&current.commune_code).is_some(),
                "{}",
                current.commune_code
            );
            let permanent = r.permanent.expect("permanent address");
            if permanent.district_code.is_empty() {
                assert!(places.new_by_code(&permanent.commune_code).is_some());
            } else {
                let old = places.old_in_province(&permanent.province_code);
                assert!(old.iter().any(|c| c.code == permanent.commune_code
                    && c.district_code == permanent.district_code));
            }
            assert!(
                PersonalId::parse_as_of(&r.household_head_id, 2026).is_ok(),
                "{}",
                r.household_head_id
            );
        }
    }

    #[test]
    fn some_ids_are_not_registered() {
        let unknown = (0..1000u64)
            .map(|i| id(&format!("001085{i:06}")))
            .filter(|pid| !is_registered(pid))
            .count();
        assert!((5..50).contains(&unknown), "{unknown} of 1000 unregistered");
        let pid = (0..1000u64)
            .map(|i| id(&format!("001085{i:06}")))
            .find(|p| !is_registered(p));
        let pid = pid.expect("one unregistered");
        assert_eq!(citizen(&pid, TODAY), None);
        assert_eq!(residence(&pid, TODAY), None);
    }
}
