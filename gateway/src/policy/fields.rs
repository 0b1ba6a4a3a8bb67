//! The fields a grant can release, by their qualified names (`citizen.full_name`,
//! `residence.permanent`), as a small bit set.
//!
//! The personal ID is not among them: the caller already has it, so it always stays.
//! Ethnicity and religion are sensitive personal data: the wildcard `citizen.*`
//! leaves them out, so only a grant that names them releases them.

use std::fmt;

/// Which record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `Citizen` (IdentityService).
    Citizen,
    /// `Residence` (ResidencyService).
    Residence,
}

impl Record {
    /// The prefix of its qualified field names.
    pub fn prefix(self) -> &'static str {
        match self {
            Record::Citizen => "citizen",
            Record::Residence => "residence",
        }
    }
}

/// One grantable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The record it belongs to.
    pub record: Record,
    /// Its name in the contract's message (and in a request's `FieldMask`).
    pub name: &'static str,
    /// Sensitive personal data: never released by a wildcard.
    pub sensitive: bool,
}

impl Field {
    const fn new(record: Record, name: &'static str, sensitive: bool) -> Field {
        Field {
            record,
            name,
            sensitive,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.record.prefix(), self.name)
    }
}

/// Every grantable field; a [`Fields`] bit is an index into this table.
pub const ALL: [Field; 17] = [
    Field::new(Record::Citizen, "full_name", false),
    Field::new(Record::Citizen, "birth_date", false),
    Field::new(Record::Citizen, "sex", false),
    Field::new(Record::Citizen, "ethnicity", true),
    Field::new(Record::Citizen, "religion", true),
    Field::new(Record::Citizen, "nationality", false),
    Field::new(Record::Citizen, "birth_registration_place", false),
    Field::new(Record::Citizen, "hometown", false),
    Field::new(Record::Citizen, "marital_status", false),
    Field::new(Record::Citizen, "legacy_id_number", false),
    Field::new(Record::Citizen, "updated_at", false),
    Field::new(Record::Residence, "permanent", false),
    Field::new(Record::Residence, "temporary", false),
    Field::new(Record::Residence, "current", false),
    Field::new(Record::Residence, "household_head_id", false),
    Field::new(Record::Residence, "relation_to_head", false),
    Field::new(Record::Residence, "updated_at", false),
];

/// A set of grantable fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields(u32);

impl Fields {
    /// No field.
    pub const NONE: Fields = Fields(0);

    /// Parses a qualified name or a wildcard (`citizen.*`, `residence.*`); the error
    /// lists what is accepted.
    pub fn parse(name: &str) -> Result<Fields, String> {
        let mut set = Fields::NONE;
        for (i, field) in ALL.iter().enumerate() {
            let wildcard = name
                .strip_suffix(".*")
                .is_some_and(|p| p == field.record.prefix() && !field.sensitive);
            if wildcard || field.to_string() == name {
                set.0 |= 1 << i;
            }
        }
        if set == Fields::NONE {
            let known: Vec<String> = ALL.iter().map(Field::to_string).collect();
            return Err(format!(
                "unknown field {name:?}; one of citizen.*, residence.*, {}",
                known.join(", ")
            ));
        }
        Ok(set)
    }

    /// The field of `record` called `name` (its name in the message), if grantable.
    pub fn named(record: Record, name: &str) -> Option<Fields> {
        ALL.iter()
            .position(|f| f.record == record && f.name == name)
            .map(|i| Fields(1 << i))
    }

    /// Both sets.
    pub fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// What both sets hold.
    pub fn intersection(self, other: Fields) -> Fields {
        Fields(self.0 & other.0)
    }

    /// What `self` holds and `other` does not.
    pub fn minus(self, other: Fields) -> Fields {
        Fields(self.0 & !other.0)
    }

    /// Only the fields of `record`.
    pub fn of(self, record: Record) -> Fields {
        Fields(self.0 & Fields::all(record).0)
    }

    /// Every field of `record`, sensitive ones included.
    pub fn all(record: Record) -> Fields {
        let mut set = Fields::NONE;
        for (i, field) in ALL.iter().enumerate() {
            if field.record == record {
                set.0 |= 1 << i;
            }
        }
        set
    }

    /// True when `name` (a message field name of `record`) is in the set.
    pub fn contains(self, record: Record, name: &str) -> bool {
        Fields::named(record, name).is_some_and(|f| self.0 & f.0 != 0)
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields in the set, in table order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        ALL.into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| f)
    }

    /// Qualified names, in table order.
    pub fn names(self) -> Vec<String> {
        self.iter()
            .map(|f| [f.record.prefix(), ".", f.name].concat())
            .collect()
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        f.write_str(&self.names().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_leave_sensitive_fields_out() {
        let citizen = Fields::parse("citizen.*").unwrap();
        assert!(citizen.contains(Record::Citizen, "full_name"));
        assert!(!citizen.contains(Record::Citizen, "ethnicity"));
        assert!(!citizen.contains(Record::Citizen, "religion"));
        assert!(!citizen.contains(Record::Residence, "permanent"));
        assert_eq!(citizen.iter().count(), 9);
        let religion = Fields::parse("citizen.religion").unwrap();
        assert_eq!(religion.names(), ["citizen.religion"]);
        assert_eq!(
            Fields::parse("residence.*").unwrap(),
            Fields::all(Record::Residence)
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        for bad in [
            "citizen.personal_id",
            "full_name",
            "*",
            "citizen.",
            "residence.address",
        ] {
            let err = Fields::parse(bad).unwrap_err();
            assert!(err.contains("citizen.full_name"), "{bad}: {err}");
        }
    }

    #[test]
    fn set_operations() {
        let a = Fields::parse("citizen.full_name")
            .unwrap()
            .union(Fields::parse("residence.current").unwrap());
        let b = Fields::parse("citizen.*").unwrap();
        assert_eq!(a.intersection(b).names(), ["citizen.full_name"]);
        assert_eq!(a.minus(b).names(), ["residence.current"]);
        assert_eq!(a.of(Record::Residence).names(), ["residence.current"]);
        assert_eq!(Fields::NONE.to_string(), "(none)");
    }
}
