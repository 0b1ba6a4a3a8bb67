//! Validation at the edge: every invalid field of a request is named at once, in
//! `google.rpc.BadRequest` field violations a client can act on.

use lienthong_proto::PersonalId;
use lienthong_proto::v1::RequestContext;

use crate::{Error, FieldViolation};

/// Validates what every lookup carries — the context and the personal ID — plus the
/// method's own `checks`, reporting every violation at once.
pub fn lookup(
    context: Option<&RequestContext>,
    personal_id: &str,
    checks: impl FnOnce(&mut Violations),
) -> Result<PersonalId, Error> {
    let mut v = Violations::default();
    v.context(context);
    let id = v.personal_id("personal_id", personal_id);
    checks(&mut v);
    match (v.finish(), id) {
        (Ok(()), Some(id)) => Ok(id),
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(Error::Invalid(Vec::new())),
    }
}

/// Violations listed at most; a request that breaks more is told how many more.
const MAX_VIOLATIONS: usize = 16;

/// The longest field path, and the longest description, a violation carries.
const MAX_FIELD_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 256;

/// Collects every invalid field of a request, so the client can fix all at once;
/// bounded in number and size, so that no request can make its error (or the log
/// line that tells of it) larger than a few kilobytes.
#[derive(Default)]
pub struct Violations(pub(crate) Vec<FieldViolation>, usize);

impl Violations {
    pub(crate) fn add(&mut self, field: &str, description: impl Into<String>) {
        if self.0.len() >= MAX_VIOLATIONS {
            self.1 += 1;
            return;
        }
        let description = description.into();
        self.0.push(FieldViolation {
            field: lienthong_proto::text::shown(field, MAX_FIELD_CHARS).into_owned(),
            description: lienthong_proto::text::shown(&description, MAX_DESCRIPTION_CHARS)
                .into_owned(),
        });
    }

    pub(crate) fn personal_id(&mut self, field: &str, value: &str) -> Option<PersonalId> {
        PersonalId::parse(value)
            .map_err(|e| {
                self.add(
                    field,
                    format!("{e}; a personal ID is 12 digits PPPGYYNNNNNN"),
                )
            })
            .ok()
    }

    /// Checks the request context every read must carry.
    pub(crate) fn context(&mut self, context: Option<&RequestContext>) {
        let Some(c) = context else {
            self.add(
                "context",
                "is required: purpose, legal_basis and officer_id",
            );
            return;
        };
        match c.purpose.as_str() {
            "" => self.add("context.purpose", "is required, e.g. dossier-processing"),
            p if !lienthong_proto::context::is_purpose(p) => self.add(
                "context.purpose",
                "must be at most 64 characters of a-z, 0-9, '-', '_', '.'",
            ),
            _ => {}
        }
        self.text("context.legal_basis", &c.legal_basis, 128, true);
        self.text("context.officer_id", &c.officer_id, 64, true);
        self.text("context.case_ref", &c.case_ref, 64, false);
    }

    /// Free text: bounded, required or not, and shown as it is stored: no control
    /// or invisible format character ([`lienthong_proto::text`]).
    pub(crate) fn text(&mut self, field: &str, value: &str, max: usize, required: bool) {
        if value.trim().is_empty() {
            if required {
                self.add(field, "is required");
            }
        } else if let Err(problem) = lienthong_proto::text::check(value, max) {
            self.add(field, problem.to_string());
        }
    }

    /// What a proof is asked about: `at`, a position in the log from 1 (a
    /// record's `seq`, or the first tree size), and `size`, the tree size of the
    /// checkpoint to prove it in (0: the latest, else at least `at`). Each is a
    /// field's name and its value.
    pub(crate) fn in_tree(&mut self, (field, at): (&str, u64), (size_field, size): (&str, u64)) {
        if at == 0 {
            self.add(field, "must be at least 1 (the log is numbered from 1)");
        }
        if size != 0 && size < at {
            self.add(
                size_field,
                format!("must be 0 (the latest checkpoint) or at least {field}"),
            );
        }
    }

    /// A time, when given: its nanoseconds within a second. True when valid (or
    /// absent).
    pub(crate) fn time(
        &mut self,
        field: &str,
        value: Option<&lienthong_proto::prost_types::Timestamp>,
    ) -> bool {
        let valid = value.is_none_or(|t| (0..1_000_000_000).contains(&t.nanos));
        if !valid {
            self.add(field, "is not a valid time (nanos out of range)");
        }
        valid
    }

    /// `Ok` when no field was invalid, else the error naming every one (the first
    /// [`MAX_VIOLATIONS`], and how many more).
    pub fn finish(mut self) -> Result<(), Error> {
        if self.1 > 0 {
            self.0.push(FieldViolation {
                field: "(request)".into(),
                description: format!("{} more violations not listed", self.1),
            });
        }
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_violations_name_each_field() {
        let mut v = Violations::default();
        v.context(Some(&RequestContext {
            purpose: "Dossier Processing".into(),
            legal_basis: String::new(),
            case_ref: "x".repeat(65),
            officer_id: "cb\u{7}".into(),
        }));
        let fields: Vec<_> = v.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "context.purpose",
                "context.legal_basis",
                "context.officer_id",
                "context.case_ref"
            ]
        );
        // An officer id that a viewer would show reversed is refused, naming it.
        let mut v = Violations::default();
        v.context(Some(&RequestContext {
            purpose: "dossier-processing".into(),
            legal_basis: "ND-47/2020".into(),
            case_ref: String::new(),
            officer_id: "cb1\u{202E}evil".into(),
        }));
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.0[0].field, "context.officer_id");
        assert!(v.0[0].description.contains("U+202E"), "{:?}", v.0);
        let mut v = Violations::default();
        v.context(None);
        assert_eq!(v.0[0].field, "context");
        // However many fields are wrong, the error stays small.
        let mut v = Violations::default();
        for i in 0..100_000 {
            v.add(&format!("fields.paths[{i}]"), "x".repeat(10_000));
        }
        let Err(Error::Invalid(listed)) = v.finish() else {
            panic!("invalid")
        };
        assert_eq!(listed.len(), MAX_VIOLATIONS + 1);
        assert_eq!(
            listed[MAX_VIOLATIONS].description,
            "99984 more violations not listed"
        );
        let size: usize = listed
            .iter()
            .map(|f| f.field.len() + f.description.len())
            .sum();
        assert!(size < 8 * 1024, "{size} bytes");
        let mut v = Violations::default();
        v.context(None);
        assert_eq!(v.0[0].field, "context");
        let mut v = Violations::default();
        v.context(Some(&RequestContext {
            purpose: "dossier-processing".into(),
            legal_basis: "ND-47/2020".into(),
            case_ref: String::new(),
            officer_id: "cb-01".into(),
        }));
        assert!(v.finish().is_ok());
    }
}
