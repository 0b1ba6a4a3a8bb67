//! Why a value breaks a domain rule, worded so that the caller can fix it.

/// A value that breaks one of the contract's domain rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Nothing was given where a value is required.
    #[error("is required")]
    Empty,
    /// The value does not have the number of characters the rule asks for.
    #[error("must be {expected}, got {actual} characters")]
    Length {
        /// What the rule expects, e.g. "exactly 12 digits".
        expected: &'static str,
        /// How many characters were given.
        actual: usize,
    },
    /// A character outside the allowed set, at a 1-based position.
    #[error("has {found:?} at position {position}; {allowed}")]
    Character {
        /// The offending character.
        found: char,
        /// Its 1-based position.
        position: usize,
        /// What is allowed there.
        allowed: &'static str,
    },
    /// The first three digits name no birth-registration province.
    #[error("starts with {code}, which is not a birth-registration province code")]
    UnknownProvince {
        /// The three digits given.
        code: String,
    },
    /// The century/sex digit and year digits give a birth year after this year.
    #[error("encodes birth year {year}, which is in the future")]
    BirthYearInFuture {
        /// The encoded year.
        year: i32,
    },
    /// The value does not have the shape of any accepted form.
    #[error("{0}")]
    Format(&'static str),
}
