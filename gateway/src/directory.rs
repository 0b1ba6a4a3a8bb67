//! The agency directory: agency code → name, so that a citizen's access list
//! says who read their data in words (`[audit] agency_directory`; the development
//! one names the demo agencies).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::Error;

/// The development directory.
pub const DEV: &str = include_str!("../agencies.dev.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    agencies: BTreeMap<String, String>,
}

/// Agency code → name.
#[derive(Debug, Default)]
pub struct Directory {
    names: BTreeMap<String, String>,
}

impl Directory {
    /// Reads a directory; every key must be an agency code, every name non-empty.
    pub fn parse(text: &str) -> Result<Directory, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        for (code, name) in &file.agencies {
            lienthong_proto::AgencyCode::parse(code)
                .map_err(|e| format!("{code:?} is not an agency code: {e}"))?;
            if name.trim().is_empty() {
                return Err(format!("{code:?} has an empty name"));
            }
        }
        Ok(Directory {
            names: file.agencies,
        })
    }

    /// The directory in `path`, or the development one.
    pub fn load(path: Option<&Path>) -> Result<Directory, Error> {
        crate::config::load_file("audit.agency_directory", path, DEV, Directory::parse)
    }

    /// The name of `code`, if the directory has it.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.names.get(code).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_names_agencies_and_refuses_what_is_not_one() {
        let d = Directory::parse(DEV).unwrap();
        assert_eq!(d.name("H99.90"), Some("Thanh tra tỉnh"));
        assert_eq!(d.name("H99.03"), None);
        for (bad, says) in [
            ("[agencies]\n\"h99\" = \"x\"\n", "not an agency code"),
            ("[agencies]\n\"H99.01\" = \" \"\n", "empty name"),
            ("[agency]\n", "unknown field"),
        ] {
            let e = Directory::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
