//! Working days in Vietnam, as the law counts a procedure's time limit: not
//! Saturdays and Sundays, not the public holidays and the days off the
//! government swaps for them, but the Saturdays it has people work instead.
//!
//! The days come from a calendar file: `calendar/vietnam.toml` is shipped for
//! 2024–2027, each entry saying whether it was announced or follows from the
//! Labour Code; an operator replaces it when a year's notice is published
//! (`[dossiers] calendar`). Outside the years a file covers, only weekends are off.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock, RwLock};

use prost_types::Timestamp;
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime, Weekday};

use crate::VIETNAM;

/// The calendar shipped with lienthong.
pub const SHIPPED: &str = include_str!("../calendar/vietnam.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: String,
    first_year: i32,
    last_year: i32,
    off: Vec<Day>,
    #[serde(default)]
    worked: Vec<Day>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Day {
    date: String,
    name: String,
    source: String,
}

/// Which days are worked.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The file's version.
    pub version: String,
    /// The years it covers.
    pub years: (i32, i32),
    off: BTreeMap<Date, String>,
    worked: BTreeSet<Date>,
}

fn weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl Calendar {
    /// Reads a calendar file; every mistake is named with its entry.
    pub fn parse(text: &str) -> Result<Calendar, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = |d: &Day| {
            Date::parse(&d.date, format)
                .map_err(|e| format!("{:?}: not a date YYYY-MM-DD: {e}", d.date))
        };
        let mut off = BTreeMap::new();
        for d in &file.off {
            let day = date(d)?;
            if weekend(day) {
                return Err(format!(
                    "{} ({}) is a weekend day: list only weekdays off",
                    d.date, d.name
                ));
            }
            if !matches!(d.source.as_str(), "announced" | "statutory") {
                return Err(format!(
                    "{}: source must be \"announced\" or \"statutory\"",
                    d.date
                ));
            }
            off.insert(day, d.name.clone());
        }
        let mut worked = BTreeSet::new();
        for d in &file.worked {
            let day = date(d)?;
            if !weekend(day) {
                return Err(format!(
                    "{} ({}) is a weekday: list only weekend days worked",
                    d.date, d.name
                ));
            }
            worked.insert(day);
        }
        if let Some(d) = off
            .keys()
            .chain(&worked)
            .find(|d| !(file.first_year..=file.last_year).contains(&d.year()))
        {
            return Err(format!(
                "{d} is outside the years {}–{}",
                file.first_year, file.last_year
            ));
        }
        Ok(Calendar {
            version: file.version,
            years: (file.first_year, file.last_year),
            off,
            worked,
        })
    }

    /// The calendar shipped with lienthong.
    pub fn shipped() -> Calendar {
        Calendar::parse(SHIPPED).expect("the shipped calendar parses")
    }

    /// Whether `d` is worked.
    pub fn is_working_day(&self, d: Date) -> bool {
        self.worked.contains(&d) || !(weekend(d) || self.off.contains_key(&d))
    }

    /// Why `d` is off, when it is a holiday.
    pub fn holiday(&self, d: Date) -> Option<&str> {
        self.off.get(&d).map(String::as_str)
    }

    /// Whether the file covers the year of `d` (beyond it, only weekends are off).
    pub fn covers(&self, d: Date) -> bool {
        (self.years.0..=self.years.1).contains(&d.year())
    }

    /// The `n`th working day after `start` (`start` itself is not counted; 0 is
    /// `start`).
    pub fn add(&self, start: Date, n: u32) -> Date {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = d.next_day().expect("a date before the year 9999");
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The working days after `from` up to and including `to` (0 when `to` is not
    /// later).
    pub fn between(&self, from: Date, to: Date) -> u32 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = d.next_day().expect("a date before the year 9999");
            n += u32::from(self.is_working_day(d));
        }
        n
    }

    /// `at` moved `n` working days later, at the same time of day in Vietnam.
    pub fn later(&self, at: Timestamp, n: u32) -> Timestamp {
        let Ok(t) = OffsetDateTime::from_unix_timestamp(at.seconds) else {
            return at;
        };
        let local = t.to_offset(VIETNAM);
        let days = (self.add(local.date(), n) - local.date()).whole_days();
        Timestamp {
            seconds: (local + Duration::days(days)).unix_timestamp(),
            nanos: at.nanos,
        }
    }

    /// The working days from `from` to `to`, by their dates in Vietnam.
    pub fn elapsed(&self, from: Timestamp, to: Timestamp) -> u32 {
        let date = |t: Timestamp| {
            OffsetDateTime::from_unix_timestamp(t.seconds)
                .ok()
                .map(|t| t.to_offset(VIETNAM).date())
        };
        match (date(from), date(to)) {
            (Some(a), Some(b)) => self.between(a, b),
            _ => 0,
        }
    }
}

fn slot() -> &'static RwLock<Arc<Calendar>> {
    static CURRENT: OnceLock<RwLock<Arc<Calendar>>> = OnceLock::new();
    CURRENT.get_or_init(|| RwLock::new(Arc::new(Calendar::shipped())))
}

/// The calendar deadlines are counted in: the shipped one unless [`install`]ed.
pub fn current() -> Arc<Calendar> {
    slot().read().expect("calendar").clone()
}

/// Makes `calendar` the one deadlines are counted in (the operator's file).
pub fn install(calendar: Calendar) {
    *slot().write().expect("calendar") = Arc::new(calendar);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_shipped_calendar_parses_and_keeps_its_rules() {
        let c = Calendar::shipped();
        assert_eq!(c.years, (2024, 2027));
        for bad in [
            SHIPPED.replace("2024-02-08", "2024-02-10"),
            SHIPPED.replace("2024-05-04", "2024-05-06"),
            SHIPPED.replace("source = \"announced\" }", "source = \"rumour\" }"),
            SHIPPED.replace("2027-09-03", "2028-09-04"),
        ] {
            assert!(Calendar::parse(&bad).is_err());
        }
    }

    /// Working days across Tết, weekends, a swap and a make-up Saturday.
    #[test]
    fn working_days_are_counted_as_the_law_counts_them() {
        let c = Calendar::shipped();
        let cases = [
            // (from, n working days, due)
            // An ordinary week: Friday + 1 is Monday.
            (date!(2025 - 03 - 07), 1, date!(2025 - 03 - 10)),
            // Received the Friday before Tết Ất Tỵ (holiday Sat 25/1 to Sun 2/2):
            // the next working day is Monday 3/2.
            (date!(2025 - 01 - 24), 1, date!(2025 - 02 - 03)),
            (date!(2025 - 01 - 24), 3, date!(2025 - 02 - 05)),
            // Tết Bính Ngọ 2026: off Mon 16/2 to Fri 20/2.
            (date!(2026 - 02 - 13), 1, date!(2026 - 02 - 23)),
            (date!(2026 - 02 - 12), 5, date!(2026 - 02 - 26)),
            // 30/4 2025: off Wed 30/4, Thu 1/5, Fri 2/5 (swapped); Saturday 26/4
            // is worked.
            (date!(2025 - 04 - 25), 1, date!(2025 - 04 - 26)),
            (date!(2025 - 04 - 29), 1, date!(2025 - 05 - 05)),
            // 2024: Monday 29/4 off, Saturday 4/5 worked.
            (date!(2024 - 04 - 26), 1, date!(2024 - 05 - 02)),
            (date!(2024 - 05 - 03), 1, date!(2024 - 05 - 04)),
            // Hùng Kings 2026 on a Sunday: Monday 27/4 compensates.
            (date!(2026 - 04 - 24), 1, date!(2026 - 04 - 28)),
            // National Day 2025: Mon 1/9 and Tue 2/9.
            (date!(2025 - 08 - 29), 1, date!(2025 - 09 - 03)),
            // 10 working days over New Year 2026 (Thu 1/1).
            (date!(2025 - 12 - 29), 10, date!(2026 - 01 - 13)),
            (date!(2025 - 03 - 07), 0, date!(2025 - 03 - 07)),
        ];
        for (from, n, due) in cases {
            assert_eq!(c.add(from, n), due, "{from} + {n}");
            assert_eq!(c.between(from, due), n, "{from}..{due}");
        }
        assert!(!c.is_working_day(date!(2026 - 02 - 17)));
        assert_eq!(
            c.holiday(date!(2026 - 02 - 17)),
            Some("Tết Nguyên đán Bính Ngọ")
        );
        assert!(c.is_working_day(date!(2024 - 05 - 04)));
        // Beyond the file: weekends only.
        assert!(!c.covers(date!(2028 - 01 - 03)));
        assert_eq!(c.add(date!(2028 - 01 - 07), 1), date!(2028 - 01 - 10));
    }

    #[test]
    fn later_keeps_the_time_of_day_in_vietnam() {
        let c = Calendar::shipped();
        // Friday 13/2/2026 15:30 +07:00, 1 working day: Monday 23/2 15:30.
        let at = Timestamp {
            seconds: 1_770_971_400,
            nanos: 0,
        };
        let due = c.later(at, 1);
        assert_eq!(due.seconds - at.seconds, 10 * 86_400);
        assert_eq!(c.elapsed(at, due), 1);
    }
}
