//! Dossier code (mã hồ sơ): `<agency code>-YYMMDD-NNNN`, e.g.
//! `H15.50.05.13-261008-0975`.
//!
//! The agency code is the receiving agency's; the date is the day of receipt
//! (2000–2099); the serial is that day's sequence. Circular 01/2018/TT-VPCP
//! (Article 19) gives the structure `<unit code>-YYMMDD-XXXX`, the serial as four
//! digits. An agency that receives more than 9,999 dossiers a day (which the
//! circular does not foresee) goes on with more digits, up to nine.
//!
//! **One code per dossier.** A code is kept in its canonical form: the serial
//! written with four digits, or with as many as it needs beyond that, never with
//! more leading zeros (`…-00001` is `…-0001`; `…-012345` is `…-12345`). Every edge
//! that takes a dossier code takes it in this form, so one dossier can never
//! become two — in the ledger or at the portal.

use std::fmt;

use crate::{AgencyCode, Error};

/// Fewest digits of the daily serial.
pub const MIN_SERIAL_DIGITS: usize = 4;
/// Most digits of the daily serial (a bound, so codes stay bounded).
pub const MAX_SERIAL_DIGITS: usize = 9;

/// A well-formed dossier code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DossierCode {
    code: String,
    agency: AgencyCode,
    received: time::Date,
    serial: u32,
}

impl DossierCode {
    /// Parses `s` as a dossier code.
    pub fn parse(s: &str) -> Result<DossierCode, Error> {
        if s.is_empty() {
            return Err(Error::Empty);
        }
        let mut parts = s.rsplitn(3, '-');
        let (Some(serial), Some(date), Some(agency)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Format(
                "must be <agency code>-YYMMDD-NNNN, e.g. H15.50.05.13-261008-0975",
            ));
        };
        let agency = AgencyCode::parse(agency)?;
        if date.len() != 6 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Format(
                "must have the day of receipt as YYMMDD after the agency code",
            ));
        }
        let num = |r: std::ops::Range<usize>| date[r].parse::<u8>().unwrap_or(0);
        let month = time::Month::try_from(num(2..4))
            .map_err(|_| Error::Format("has a month outside 01-12 in its date"))?;
        let received =
            time::Date::from_calendar_date(2000 + i32::from(num(0..2)), month, num(4..6))
                .map_err(|_| Error::Format("has a date YYMMDD that is not a calendar day"))?;
        if !(MIN_SERIAL_DIGITS..=MAX_SERIAL_DIGITS).contains(&serial.len())
            || !serial.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::Format(
                "must end with the day's serial: 4 to 9 digits after the date",
            ));
        }
        let serial: u32 = serial.parse().expect("at most 9 digits");
        Ok(DossierCode {
            code: DossierCode::compose(agency.as_str(), received, serial),
            agency,
            received,
            serial,
        })
    }

    /// The code of the `serial`-th dossier `agency` received on `received`: the
    /// serial padded to the 4 digits the rule asks for at least.
    pub fn compose(agency: &str, received: time::Date, serial: u32) -> String {
        format!(
            "{agency}-{:02}{:02}{:02}-{serial:04}",
            received.year() % 100,
            u8::from(received.month()),
            received.day()
        )
    }

    /// The code in its canonical form (which is how it was written, unless its
    /// serial had more leading zeros than four digits need).
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The receiving agency.
    pub fn agency(&self) -> &AgencyCode {
        &self.agency
    }

    /// The day of receipt the code carries.
    pub fn received(&self) -> time::Date {
        self.received
    }

    /// The day's serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn one_dossier_has_one_code() {
        for (written, canonical) in [
            ("H99.01-261128-0001", "H99.01-261128-0001"),
            ("H99.01-261128-00001", "H99.01-261128-0001"),
            ("H99.01-261128-000000001", "H99.01-261128-0001"),
            ("H99.01-261128-012345", "H99.01-261128-12345"),
            ("H99.01-261128-12345", "H99.01-261128-12345"),
            ("000.00.00.H30-240229-9999", "000.00.00.H30-240229-9999"),
        ] {
            assert_eq!(
                DossierCode::parse(written).unwrap().as_str(),
                canonical,
                "{written}"
            );
        }
    }

    #[test]
    fn well_formed_codes() {
        let table = [
            (
                "H15.50.05.13-261008-0975",
                "H15.50.05.13",
                date!(2026 - 10 - 08),
                975,
            ),
            (
                "000.00.00.H30-240229-12345",
                "000.00.00.H30",
                date!(2024 - 02 - 29),
                12345,
            ),
            ("H55.242-000101-0000", "H55.242", date!(2000 - 01 - 01), 0),
            (
                "H99.01-991231-123456789",
                "H99.01",
                date!(2099 - 12 - 31),
                123_456_789,
            ),
        ];
        for (code, agency, received, serial) in table {
            let c = DossierCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(c.agency().as_str(), agency, "{code}");
            assert_eq!(c.received(), received, "{code}");
            assert_eq!(c.serial(), serial, "{code}");
            assert_eq!(c.to_string(), code);
            assert_eq!(DossierCode::compose(agency, received, serial), code);
        }
    }

    #[test]
    fn malformed_codes_say_what_is_wrong() {
        let table = [
            ("", "required"),
            ("H15.50.05.13", "must be <agency code>"),
            ("H15.50.05.13-261008", "must be <agency code>"),
            ("h15.50-261008-0975", "0-9, A-Z"),
            ("H15..50-261008-0975", "empty group"),
            ("H15.50-2610080-0975", "YYMMDD"),
            ("H15.50-26100A-0975", "YYMMDD"),
            ("H15.50-261308-0975", "month"),
            ("H15.50-250229-0975", "calendar day"),
            ("H15.50-261000-0975", "calendar day"),
            ("H15.50-261008-975", "4 to 9 digits"),
            ("H15.50-261008-1234567890", "4 to 9 digits"),
            ("H15.50-261008-09a5", "4 to 9 digits"),
            ("H15.50-261008-0975 ", "4 to 9 digits"),
            ("H15-50-261008-0975", "'-' at position 4"),
            ("15.50-261008-0975", "neither the 2016 form"),
        ];
        for (code, words) in table {
            let err = DossierCode::parse(code).expect_err(code).to_string();
            assert!(err.contains(words), "{code:?}: {err}");
        }
    }
}
