//! What the policy decides: the fields a request may receive, or why it is refused
//! (the reason a client reads in `ErrorInfo`).

use super::{Fields, Record};

/// Why a request was refused; `as_str` is the `ErrorInfo` reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No grant names the agency.
    NoGrant,
    /// The agency has grants, none for this operation.
    OperationNotAllowed,
    /// The operation is granted, not for this purpose.
    PurposeNotAllowed,
    /// The purpose is granted, not on this legal basis.
    LegalBasisNotAllowed,
    /// The request asks for fields the grants do not release.
    FieldNotAllowed,
    /// The operation needs a role the agency does not hold.
    RoleRequired,
    /// The dossier belongs to an agency that is neither the caller nor below it.
    AgencyNotOwner,
}

impl Reason {
    /// The stable reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoGrant => "NO_GRANT",
            Reason::OperationNotAllowed => "OPERATION_NOT_ALLOWED",
            Reason::PurposeNotAllowed => "PURPOSE_NOT_ALLOWED",
            Reason::LegalBasisNotAllowed => "LEGAL_BASIS_NOT_ALLOWED",
            Reason::FieldNotAllowed => "FIELD_NOT_ALLOWED",
            Reason::RoleRequired => "ROLE_REQUIRED",
            Reason::AgencyNotOwner => "AGENCY_NOT_OWNER",
        }
    }
}

/// A refusal: the reason and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Denial {
    /// Why.
    pub reason: Reason,
    /// What exactly, and what would be allowed.
    pub detail: String,
}

/// A granted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// The fields that may be released: the union over every matching grant.
    pub fields: Fields,
    /// Line of the first matching grant.
    pub line: usize,
}

impl Allowed {
    /// Checks the fields a request names (message field names of `record`) against
    /// the allowed set; returns what will be released.
    pub fn narrow(&self, record: Record, requested: &[&str]) -> Result<Fields, Denial> {
        if requested.is_empty() {
            return Ok(self.fields);
        }
        let mut wanted = Fields::NONE;
        for name in requested {
            if let Some(f) = Fields::named(record, name) {
                wanted = wanted.union(f);
            }
        }
        let refused = wanted.minus(self.fields);
        if !refused.is_empty() {
            return Err(Denial {
                reason: Reason::FieldNotAllowed,
                detail: format!("not granted: {refused}; granted: {}", self.fields),
            });
        }
        Ok(wanted)
    }
}
