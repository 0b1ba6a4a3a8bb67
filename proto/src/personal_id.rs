//! Personal ID (số định danh cá nhân) and the legacy 9-digit identity card number.
//!
//! A personal ID is 12 digits `PPP G YY NNNNNN`: `PPP` a birth-registration province
//! code ([`crate::province`]), `G` century and sex (even male, odd female; 0/1 born
//! 1900–1999, 2/3 2000–2099, 4/5 2100–2199, …), `YY` the last two digits of the birth
//! year, `NNNNNN` a random serial. There is no check digit, so none is invented here:
//! a well-formed ID that nobody holds is for the register to answer (NOT_FOUND).

use std::fmt::{self, Write as _};

use crate::Error;
use crate::province::{self, BirthProvince};
use crate::v1::Sex;

/// A well-formed personal ID. The only way to build one is [`PersonalId::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonalId(String);

impl PersonalId {
    /// Parses `s` as a personal ID, judging "the future" by today's date in Vietnam.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::parse_as_of(s, crate::today().year())
    }

    /// Parses `s` as a personal ID of someone born no later than `this_year`.
    pub fn parse_as_of(s: &str, this_year: i32) -> Result<Self, Error> {
        digits(s, 12, "exactly 12 digits")?;
        let code = &s[..3];
        if province::by_code(code).is_none() {
            return Err(Error::UnknownProvince {
                code: code.to_owned(),
            });
        }
        let id = PersonalId(s.to_owned());
        let year = id.birth_year();
        if year > this_year {
            return Err(Error::BirthYearInFuture { year });
        }
        Ok(id)
    }

    /// The twelve digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The province where the birth was registered.
    pub fn province(&self) -> &'static BirthProvince {
        province::by_code(&self.0[..3]).unwrap_or(&province::BIRTH_PROVINCES[0])
    }

    fn century_digit(&self) -> i32 {
        i32::from(self.0.as_bytes()[3] - b'0')
    }

    /// The sex encoded in the century digit.
    pub fn sex(&self) -> Sex {
        if self.century_digit() % 2 == 0 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The birth year: 1900 + 100·⌊G/2⌋ + YY.
    pub fn birth_year(&self) -> i32 {
        let yy =
            i32::from(self.0.as_bytes()[4] - b'0') * 10 + i32::from(self.0.as_bytes()[5] - b'0');
        1900 + 100 * (self.century_digit() / 2) + yy
    }

    /// The form that may appear in logs: `0012******45`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks anything that may be a personal ID for a log line: the first four and the
/// last two characters of a 12-character value survive, everything else is `*`.
/// Values of any other length are masked completely (they may be a typo of a real ID).
pub fn mask(s: &str) -> String {
    Masked(s).to_string()
}

/// [`mask`] as a `Display`: formats masked, allocating nothing until a log line is
/// actually written.
#[derive(Debug, Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.0.chars().count();
        // Only a well-formed ID shows its ends: anything else a client sent shows
        // as stars, so that it cannot write into a log line.
        if len != 12 || !self.0.bytes().all(|b| b.is_ascii_digit()) {
            return (0..len.min(16)).try_for_each(|_| f.write_char('*'));
        }
        for (i, c) in self.0.chars().enumerate() {
            f.write_char(if (4..10).contains(&i) { '*' } else { c })?;
        }
        Ok(())
    }
}

impl fmt::Debug for PersonalId {
    /// Masked, so that a `{:?}` in a log line cannot leak an ID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalId({})", Masked(&self.0))
    }
}

impl fmt::Display for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 9-digit identity card number (CMND) of the old system. Only ever a secondary
/// reference on a record, never a key to look a citizen up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyId(String);

impl LegacyId {
    /// Parses `s` as a 9-digit legacy ID.
    pub fn parse(s: &str) -> Result<Self, Error> {
        digits(s, 9, "exactly 9 digits")?;
        Ok(LegacyId(s.to_owned()))
    }

    /// The nine digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks that `s` is exactly `len` ASCII digits.
fn digits(s: &str, len: usize, expected: &'static str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::Empty);
    }
    if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(Error::Character {
            found: c,
            position: i + 1,
            allowed: "only digits 0-9 are allowed",
        });
    }
    if s.len() != len {
        return Err(Error::Length {
            expected,
            actual: s.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::province::BIRTH_PROVINCES;

    const YEAR: i32 = 2026;

    fn parse(s: &str) -> Result<PersonalId, Error> {
        PersonalId::parse_as_of(s, YEAR)
    }

    #[test]
    fn every_century_digit() {
        // (G, YY, birth year, sex, valid in 2026)
        let table = [
            ('0', "85", 1985, Sex::Male, true),
            ('1', "85", 1985, Sex::Female, true),
            ('0', "00", 1900, Sex::Male, true),
            ('1', "99", 1999, Sex::Female, true),
            ('2', "05", 2005, Sex::Male, true),
            ('3', "26", 2026, Sex::Female, true),
            ('2', "27", 2027, Sex::Male, false),
            ('3', "99", 2099, Sex::Female, false),
            ('4', "00", 2100, Sex::Male, false),
            ('5', "01", 2101, Sex::Female, false),
            ('6', "00", 2200, Sex::Male, false),
            ('7', "00", 2200, Sex::Female, false),
            ('8', "00", 2300, Sex::Male, false),
            ('9', "00", 2300, Sex::Female, false),
        ];
        for (g, yy, year, sex, valid) in table {
            let s = format!("001{g}{yy}012345");
            match parse(&s) {
                Ok(id) => {
                    assert!(valid, "{s} accepted");
                    assert_eq!(id.birth_year(), year, "{s}");
                    assert_eq!(id.sex(), sex, "{s}");
                }
                Err(e) => {
                    assert!(!valid, "{s} refused: {e}");
                    assert_eq!(e, Error::BirthYearInFuture { year }, "{s}");
                }
            }
        }
    }

    #[test]
    fn every_province_code_and_only_those() {
        let mut accepted = 0;
        for code in 0..=999 {
            let s = format!("{code:03}085012345");
            let known = BIRTH_PROVINCES.iter().any(|p| p.code == &s[..3]);
            match parse(&s) {
                Ok(id) => {
                    assert!(known, "{s}");
                    assert_eq!(id.province().code, &s[..3]);
                    accepted += 1;
                }
                Err(e) => {
                    assert!(!known, "{s}: {e}");
                    assert_eq!(
                        e,
                        Error::UnknownProvince {
                            code: s[..3].to_owned()
                        }
                    );
                }
            }
        }
        assert_eq!(accepted, 63);
    }

    #[test]
    fn malformed() {
        let table: &[(&str, Error)] = &[
            ("", Error::Empty),
            (
                "00108501234",
                Error::Length {
                    expected: "exactly 12 digits",
                    actual: 11,
                },
            ),
            (
                "0010850123456",
                Error::Length {
                    expected: "exactly 12 digits",
                    actual: 13,
                },
            ),
            (
                "00108501234a",
                Error::Character {
                    found: 'a',
                    position: 12,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                " 001085012345",
                Error::Character {
                    found: ' ',
                    position: 1,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                "001085012345 ",
                Error::Character {
                    found: ' ',
                    position: 13,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                "001 085 012345",
                Error::Character {
                    found: ' ',
                    position: 4,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                "00108501234５",
                Error::Character {
                    found: '５',
                    position: 12,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                "-01085012345",
                Error::Character {
                    found: '-',
                    position: 1,
                    allowed: "only digits 0-9 are allowed",
                },
            ),
            (
                "003085012345",
                Error::UnknownProvince { code: "003".into() },
            ),
            (
                "099085012345",
                Error::UnknownProvince { code: "099".into() },
            ),
            (
                "000085012345",
                Error::UnknownProvince { code: "000".into() },
            ),
            ("001227012345", Error::BirthYearInFuture { year: 2027 }),
        ];
        for (s, want) in table {
            assert_eq!(parse(s).as_ref().err(), Some(want), "{s:?}");
        }
    }

    #[test]
    fn next_year_is_refused_this_year_is_not() {
        assert!(PersonalId::parse_as_of("001226012345", 2026).is_ok());
        assert_eq!(
            PersonalId::parse_as_of("001226012345", 2025),
            Err(Error::BirthYearInFuture { year: 2026 })
        );
        // The real clock: someone born last century is always valid.
        assert!(PersonalId::parse("079185012345").is_ok());
    }

    #[test]
    fn masking_keeps_no_more_than_six_digits() {
        let id = parse("001085012345").unwrap();
        assert_eq!(id.masked(), "0010******45");
        assert_eq!(format!("{id:?}"), "PersonalId(0010******45)");
        assert_eq!(mask("12345"), "*****");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn legacy_id() {
        assert_eq!(
            LegacyId::parse("012345678").map(|l| l.as_str().to_owned()),
            Ok("012345678".into())
        );
        assert_eq!(
            LegacyId::parse("01234567").err(),
            Some(Error::Length {
                expected: "exactly 9 digits",
                actual: 8
            })
        );
        assert!(
            LegacyId::parse("001085012345").is_err(),
            "a personal ID is not a legacy ID"
        );
        assert!(LegacyId::parse("01234567x").is_err());
    }
}
