//! The policy file's TOML schema, checked as it is read so that every error names
//! its line and key (the TOML parser reports where a value failed to convert).

use lienthong_proto::AgencyCode;
use serde::Deserialize;

use super::fields::{Fields, Record};
use super::{Grant, Operation, Pattern};

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    /// `[[grant]]` tables, in file order.
    #[serde(default, rename = "grant")]
    pub grants: Vec<toml::Spanned<Grant>>,
    /// `[roles]`: role name → agency patterns.
    #[serde(default)]
    pub roles: Roles,
}

/// Agencies holding each role.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Roles {
    /// May call `AuditService`.
    #[serde(default)]
    pub auditor: Vec<Pattern>,
    /// May call `AdminService`.
    #[serde(default)]
    pub operator: Vec<Pattern>,
    /// May call `ReportService`.
    #[serde(default)]
    pub reporter: Vec<Pattern>,
    /// May call `SubjectAccessService`.
    #[serde(default, rename = "subject-access")]
    pub subject_access: Vec<Pattern>,
    /// May call `WitnessService`.
    #[serde(default)]
    pub witness: Vec<Pattern>,
}

/// A grant as written, before its lists are checked against each other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    agency: Pattern,
    operations: Vec<Operation>,
    #[serde(default)]
    purposes: Vec<Purpose>,
    #[serde(default)]
    legal_bases: Vec<LegalBasis>,
    #[serde(default)]
    fields: Vec<FieldName>,
    #[serde(default)]
    note: String,
}

impl TryFrom<RawGrant> for Grant {
    type Error = String;

    fn try_from(raw: RawGrant) -> Result<Grant, String> {
        let empty = |key: &str| Err(format!("{key} must list at least one value"));
        if raw.operations.is_empty() {
            return empty("operations");
        }
        // Reads of personal data are granted per purpose and legal basis; dossier
        // operations carry neither.
        let reads = raw.operations.iter().any(|op| op.record().is_some());
        if reads && raw.purposes.is_empty() {
            return empty("purposes");
        }
        if reads && raw.legal_bases.is_empty() {
            return empty("legal_bases");
        }
        let fields = raw
            .fields
            .iter()
            .fold(Fields::NONE, |set, f| set.union(f.0));
        for op in &raw.operations {
            if let Some(record) = op.record()
                && fields.of(record).is_empty()
            {
                return Err(format!(
                    "operation {op} reads {} records but fields names none of them (e.g. {}.*)",
                    record.prefix(),
                    record.prefix()
                ));
            }
        }
        if !raw
            .operations
            .iter()
            .any(|op| op.record() == Some(Record::Residence))
            && !fields.of(Record::Residence).is_empty()
        {
            return Err(
                "fields names residence fields but operations has no ResidencyService method"
                    .into(),
            );
        }
        Ok(Grant {
            agency: raw.agency,
            operations: raw.operations,
            purposes: raw.purposes.into_iter().map(|p| p.0).collect(),
            legal_bases: raw.legal_bases.into_iter().map(|l| l.0).collect(),
            fields,
            note: raw.note,
            line: 0,
        })
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;

    fn try_from(s: String) -> Result<Pattern, String> {
        if s == "*" {
            return Ok(Pattern::Any);
        }
        let (code, prefix) = match s.strip_suffix(".*") {
            Some(code) => (code, true),
            None => (s.as_str(), false),
        };
        let code = AgencyCode::parse(code).map_err(|e| {
            format!("{s:?} is not an agency code, a prefix like \"H99.*\", or \"*\": {e}")
        })?;
        Ok(if prefix {
            Pattern::Prefix(format!("{}.", code.as_str()))
        } else {
            Pattern::Exact(code.as_str().to_owned())
        })
    }
}

impl TryFrom<String> for Operation {
    type Error = String;

    fn try_from(s: String) -> Result<Operation, String> {
        let op = Operation::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
                format!("unknown operation {s:?}; one of {}", names.join(", "))
            })?;
        if let Some(role) = op.role() {
            return Err(format!(
                "{s} is not granted by a grant: list the agency under [roles] {}",
                role.name()
            ));
        }
        Ok(op)
    }
}

/// A purpose as requests cite it: a short lowercase slug.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Purpose(String);

impl TryFrom<String> for Purpose {
    type Error = String;

    fn try_from(s: String) -> Result<Purpose, String> {
        if lienthong_proto::context::is_purpose(&s) {
            Ok(Purpose(s))
        } else {
            Err(format!(
                "purpose {s:?} must be 1-64 characters of a-z, 0-9, '-', '_', '.'"
            ))
        }
    }
}

/// A legal basis as requests cite it, e.g. `ND-47/2020`.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct LegalBasis(String);

impl TryFrom<String> for LegalBasis {
    type Error = String;

    fn try_from(s: String) -> Result<LegalBasis, String> {
        if s.trim().is_empty() || s.trim() != s || lienthong_proto::text::check(&s, 128).is_err() {
            return Err(format!(
                "legal basis {s:?} must be 1-128 printable characters without surrounding space"
            ));
        }
        Ok(LegalBasis(s))
    }
}

/// A field name or wildcard.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct FieldName(Fields);

impl TryFrom<String> for FieldName {
    type Error = String;

    fn try_from(s: String) -> Result<FieldName, String> {
        Fields::parse(&s).map(FieldName)
    }
}
