//! A calendar month in Vietnam time, as reports name it: `2026-11`.

use std::fmt;

use time::{Date, Month as Name, OffsetDateTime, PrimitiveDateTime, Time};

use crate::VIETNAM;

/// A month of the calendar, in Vietnam time (+07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: Name,
}

impl Month {
    /// Parses `YYYY-MM` (years 2000 to 2099).
    pub fn parse(s: &str) -> Result<Month, String> {
        let expected = || format!("{s:?} is not a month: expected YYYY-MM, e.g. 2026-11");
        let (y, m) = s.split_once('-').ok_or_else(expected)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(expected());
        }
        let year: i32 = y.parse().map_err(|_| expected())?;
        let month: u8 = m.parse().map_err(|_| expected())?;
        if !(2000..=2099).contains(&year) {
            return Err(format!("{s:?}: the year must be between 2000 and 2099"));
        }
        let month = Name::try_from(month)
            .map_err(|_| format!("{s:?}: the month must be between 01 and 12"))?;
        Ok(Month { year, month })
    }

    /// The month that holds the instant `unix_seconds`, in Vietnam.
    pub fn of(unix_seconds: i64) -> Month {
        let date = OffsetDateTime::from_unix_timestamp(unix_seconds)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(VIETNAM)
            .date();
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// This month in Vietnam now.
    pub fn current() -> Month {
        let today = crate::today();
        Month {
            year: today.year(),
            month: today.month(),
        }
    }

    /// A number that orders months: `202611`.
    pub fn key(self) -> u32 {
        (self.year.max(0) as u32) * 100 + self.month as u32
    }

    /// The first instant of the month, in Unix seconds.
    pub fn start(self) -> i64 {
        first_instant(self.year, self.month)
    }

    /// The first instant after the month, in Unix seconds.
    pub fn end(self) -> i64 {
        match self.month {
            Name::December => first_instant(self.year + 1, Name::January),
            m => first_instant(self.year, m.next()),
        }
    }
}

fn first_instant(year: i32, month: Name) -> i64 {
    let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    PrimitiveDateTime::new(date, Time::MIDNIGHT)
        .assume_offset(VIETNAM)
        .unix_timestamp()
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_read_as_written_and_refused_otherwise() {
        let m = Month::parse("2026-11").unwrap();
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(m.key(), 202611);
        for bad in [
            "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "1999-12", "", "2026-1a",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_month_runs_from_midnight_to_midnight_in_vietnam() {
        let nov = Month::parse("2026-11").unwrap();
        // 2026-11-01T00:00+07:00 is 2026-10-31T17:00Z.
        assert_eq!(nov.start(), 1_793_466_000);
        assert_eq!(Month::of(nov.start()), nov);
        assert_eq!(Month::of(nov.start() - 1).to_string(), "2026-10");
        assert_eq!(Month::of(nov.end() - 1), nov);
        assert_eq!(Month::of(nov.end()).to_string(), "2026-12");
        let dec = Month::parse("2026-12").unwrap();
        assert_eq!(Month::of(dec.end()).to_string(), "2027-01");
        assert_eq!(dec.end() - dec.start(), 31 * 86_400);
    }
}
