//! Agency code (mã định danh cơ quan): the identity of an agency system, taken from
//! its client certificate.
//!
//! Dot-separated groups of `[0-9A-Z]`, at most 35 characters, in one of two forms:
//! the 2016 form `ddd.dd.dd.Xdd` (e.g. `000.00.00.H30`) or the 2020 form, a group
//! `Xdd` followed by groups of digits (e.g. `H55.242`, `H15.50.05.13`).

use std::fmt;

use crate::Error;

/// Longest agency code the national standard allows.
pub const MAX_LEN: usize = 35;

/// Which edition of the national coding standard a code follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Form {
    /// `000.00.00.H30`: three digit groups, then a letter and two digits.
    V2016,
    /// `H55.242`: a letter and two digits, then digit groups.
    V2020,
}

/// A well-formed agency code.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode {
    code: String,
    form: Form,
}

impl AgencyCode {
    /// Parses `s` as an agency code.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(Error::Empty);
        }
        if let Some((i, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_digit() || c.is_ascii_uppercase() || *c == '.'))
        {
            return Err(Error::Character {
                found: c,
                position: i + 1,
                allowed: "only 0-9, A-Z and '.' are allowed",
            });
        }
        if s.len() > MAX_LEN {
            return Err(Error::Length {
                expected: "at most 35 characters",
                actual: s.len(),
            });
        }
        let groups: Vec<&str> = s.split('.').collect();
        if groups.iter().any(|g| g.is_empty()) {
            return Err(Error::Format("has an empty group between dots"));
        }
        let form = if is_2016(&groups) {
            Form::V2016
        } else if is_2020(&groups) {
            Form::V2020
        } else {
            return Err(Error::Format(
                "is neither the 2016 form (e.g. 000.00.00.H30) nor the 2020 form (e.g. H55.242)",
            ));
        };
        Ok(AgencyCode {
            code: s.to_owned(),
            form,
        })
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The edition of the standard this code follows.
    pub fn form(&self) -> Form {
        self.form
    }
}

/// True when `agency` acts for records of `owner`: its own code, or a code below it
/// (`H99.01` acts for `H99.01` and `H99.01.05`, not for `H99.010`).
pub fn acts_for(agency: &str, owner: &str) -> bool {
    owner == agency
        || owner
            .strip_prefix(agency)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// `Xdd`: an upper-case letter and two digits.
fn is_letter_group(g: &str) -> bool {
    let b = g.as_bytes();
    b.len() == 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit()
}

fn is_digits(g: &str, len: usize) -> bool {
    g.len() == len && g.bytes().all(|b| b.is_ascii_digit())
}

fn is_2016(groups: &[&str]) -> bool {
    matches!(groups, [a, b, c, d] if is_digits(a, 3) && is_digits(b, 2) && is_digits(c, 2) && is_letter_group(d))
}

fn is_2020(groups: &[&str]) -> bool {
    match groups.split_first() {
        Some((first, rest)) => {
            is_letter_group(first) && rest.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl fmt::Debug for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgencyCode({})", self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agency_acts_for_itself_and_the_codes_below_it() {
        for (agency, owner, acts) in [
            ("H99.01", "H99.01", true),
            ("H99.01", "H99.01.05", true),
            ("H99", "H99.01.05", true),
            ("H99.01", "H99.010", false),
            ("H99.01", "H99.02", false),
            ("H99.01.05", "H99.01", false),
        ] {
            assert_eq!(acts_for(agency, owner), acts, "{agency} for {owner}");
        }
    }

    #[test]
    fn accepted() {
        let table = [
            ("000.00.00.H30", Form::V2016),
            ("000.01.05.H30", Form::V2016),
            ("H55.242", Form::V2020),
            ("H15.50.05.13", Form::V2020),
            ("H99.01", Form::V2020),
            ("G22", Form::V2020),
            ("A01.1.22.333.4444.55555.666666.7777", Form::V2020),
        ];
        for (s, form) in table {
            let code = AgencyCode::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(code.form(), form, "{s}");
            assert_eq!(code.as_str(), s);
        }
    }

    #[test]
    fn refused() {
        let neither = Error::Format(
            "is neither the 2016 form (e.g. 000.00.00.H30) nor the 2020 form (e.g. H55.242)",
        );
        let table: &[(&str, Error)] = &[
            ("", Error::Empty),
            (
                "h99.01",
                Error::Character {
                    found: 'h',
                    position: 1,
                    allowed: "only 0-9, A-Z and '.' are allowed",
                },
            ),
            (
                "H99-01",
                Error::Character {
                    found: '-',
                    position: 4,
                    allowed: "only 0-9, A-Z and '.' are allowed",
                },
            ),
            (
                "H99.01 ",
                Error::Character {
                    found: ' ',
                    position: 7,
                    allowed: "only 0-9, A-Z and '.' are allowed",
                },
            ),
            ("H99..01", Error::Format("has an empty group between dots")),
            ("H99.01.", Error::Format("has an empty group between dots")),
            (".H99", Error::Format("has an empty group between dots")),
            (
                "A01.1.22.333.4444.55555.666666.77777",
                Error::Length {
                    expected: "at most 35 characters",
                    actual: 36,
                },
            ),
            ("99.01", neither.clone()),
            ("HH9.01", neither.clone()),
            ("H99.0A", neither.clone()),
            ("000.00.00.30", neither.clone()),
            ("00.00.00.H30", neither.clone()),
        ];
        for (s, want) in table {
            assert_eq!(AgencyCode::parse(s).as_ref().err(), Some(want), "{s:?}");
        }
    }
}
