//! The procedures' time limits, in working days: from the operator's catalogue
//! file (`[dossiers] catalogue`), or the development one shipped with the gateway.
//! A submission that leaves `due_at` empty is given one: its receipt plus the
//! procedure's limit, counted in the working days of `[dossiers] calendar`.

use std::collections::HashMap;
use std::path::Path;

use lienthong_proto::prost_types::Timestamp;
use serde::Deserialize;

use crate::Error;

/// The development catalogue.
pub const DEV: &str = include_str!("../catalogue.dev.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    procedures: Vec<Procedure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Procedure {
    code: String,
    name: String,
    working_days: u32,
}

/// Procedure code → its time limit in working days.
#[derive(Debug, Default)]
pub struct Catalogue {
    limits: HashMap<String, (String, u32)>,
}

impl Catalogue {
    /// Reads a catalogue; codes must be procedure codes as published.
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut limits = HashMap::new();
        for p in file.procedures {
            if !lienthong_proto::procedure_code::is_valid(&p.code) {
                return Err(format!(
                    "{:?} is not a procedure code (1.001193 or 1.000948.H38)",
                    p.code
                ));
            }
            limits.insert(p.code, (p.name, p.working_days));
        }
        Ok(Catalogue { limits })
    }

    /// The catalogue in `path`, or the development one.
    pub fn load(path: Option<&Path>) -> Result<Catalogue, Error> {
        crate::config::load_file("dossiers.catalogue", path, DEV, Catalogue::parse)
    }

    /// The time limit of `procedure`, in working days, if known.
    pub fn limit(&self, procedure: &str) -> Option<u32> {
        self.limits.get(procedure).map(|(_, days)| *days)
    }

    /// When a dossier of `procedure` received at `received` is due, if its limit
    /// is known.
    pub fn due(&self, procedure: &str, received: Timestamp) -> Option<Timestamp> {
        let days = self.limit(procedure)?;
        Some(lienthong_proto::calendar::current().later(received, days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_catalogue_gives_due_dates_in_working_days() {
        let c = Catalogue::parse(DEV).unwrap();
        assert_eq!(c.limit("1.001193"), Some(3));
        assert_eq!(c.limit("9.999999"), None);
        // Received Friday 13/2/2026 15:30 (+07:00), just before Tết: 3 working
        // days later is Wednesday 25/2, 15:30.
        let received = Timestamp {
            seconds: 1_770_971_400,
            nanos: 0,
        };
        let due = c.due("1.001193", received).unwrap();
        assert_eq!(due.seconds - received.seconds, 12 * 86_400);
        assert!(
            Catalogue::parse(
                "procedures = [{ code = \"TTHC-1\", name = \"x\", working_days = 1 }]"
            )
            .is_err()
        );
    }
}
