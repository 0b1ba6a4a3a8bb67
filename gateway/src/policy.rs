//! Who may read what: the policy, deny by default.
//!
//! A grant names an agency (exact code, a prefix such as `H99.*`, or `*`), the
//! operations it may call, the purposes and legal bases it may cite, and the fields
//! it may receive. A request is allowed when one grant matches all four; the fields
//! released are the union over every matching grant, narrowed by the request. Roles
//! (`auditor`) open `AuditService`. Anything not granted is refused with a reason a
//! client can act on.

mod decision;
pub mod fields;
mod file;
mod operation;

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use decision::{Allowed, Denial, Reason};
pub use fields::{Fields, Record};
pub use operation::{Operation, Role};

/// The development policy that `serve` uses without a config file (see the README).
pub const DEV_POLICY: &str = include_str!("../policy.dev.toml");

/// Why a policy file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid policy; the detail names its line and key.
    #[error("config policy file {origin}: {detail}")]
    Parse {
        /// The file, as named in errors.
        origin: String,
        /// What is wrong, and where.
        detail: String,
    },
}

/// Which agencies a grant or role covers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Pattern {
    /// Exactly this agency code.
    Exact(String),
    /// Every code below this one; stored with its trailing dot (`H99.`), so `H99.*`
    /// covers `H99.01` but neither `H99` nor `H990.01`.
    Prefix(String),
    /// Every agency.
    Any,
}

impl Pattern {
    /// True when `agency` is covered.
    pub fn matches(&self, agency: &str) -> bool {
        match self {
            Pattern::Exact(code) => code == agency,
            Pattern::Prefix(prefix) => agency.starts_with(prefix.as_str()),
            Pattern::Any => true,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(code) => f.write_str(code),
            Pattern::Prefix(prefix) => write!(f, "{prefix}*"),
            Pattern::Any => f.write_str("*"),
        }
    }
}

/// One `[[grant]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "file::RawGrant")]
pub struct Grant {
    /// Who.
    pub agency: Pattern,
    /// May call what.
    pub operations: Vec<Operation>,
    /// Citing which purposes.
    pub purposes: Vec<String>,
    /// On which legal bases.
    pub legal_bases: Vec<String>,
    /// Receiving which fields.
    pub fields: Fields,
    /// Why the grant exists (free text for the people who review the policy).
    pub note: String,
    /// Line of the `[[grant]]` header in the file, for explanations.
    pub line: usize,
}

/// The policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    grants: Vec<Grant>,
    auditors: Vec<Pattern>,
    operators: Vec<Pattern>,
    reporters: Vec<Pattern>,
    subject_access: Vec<Pattern>,
    witnesses: Vec<Pattern>,
    /// Everything allowed to everyone: the benchmark baseline only.
    open: bool,
}

impl Policy {
    /// Parses a policy; `origin` names the file in errors, which carry line and key.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, LoadError> {
        let file: file::File = toml::from_str(text).map_err(|e| LoadError::Parse {
            origin: origin.to_owned(),
            detail: e.to_string(),
        })?;
        let grants = file
            .grants
            .into_iter()
            .map(|spanned| {
                let line = 1 + text[..spanned.span().start].matches('\n').count();
                Grant {
                    line,
                    ..spanned.into_inner()
                }
            })
            .collect();
        Ok(Policy {
            grants,
            auditors: file.roles.auditor,
            operators: file.roles.operator,
            reporters: file.roles.reporter,
            subject_access: file.roles.subject_access,
            witnesses: file.roles.witness,
            open: false,
        })
    }

    /// No policy at all: every agency may do everything and read every field. Only
    /// for measuring the framework's own cost (`policy.enabled = false`).
    pub fn open() -> Policy {
        Policy {
            grants: Vec::new(),
            auditors: Vec::new(),
            operators: Vec::new(),
            reporters: Vec::new(),
            subject_access: Vec::new(),
            witnesses: Vec::new(),
            open: true,
        }
    }

    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Policy, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// The policy `config` names: its file, the embedded development policy when
    /// it names none, or none at all when switched off.
    pub fn configured(config: &crate::config::PolicyConfig) -> Result<Policy, LoadError> {
        match &config.file {
            _ if !config.enabled => {
                tracing::warn!(
                    "the policy is OFF: every agency reads everything (benchmark baseline only)"
                );
                Ok(Policy::open())
            }
            Some(path) => Policy::load(path),
            None => {
                tracing::warn!("no policy file configured; using the embedded DEVELOPMENT policy");
                Ok(Policy::dev())
            }
        }
    }

    /// The embedded development policy.
    pub fn dev() -> Policy {
        Policy::parse(DEV_POLICY, "(embedded dev policy)").expect("the dev policy parses")
    }

    /// The grants, in file order.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Decides a read by `agency` of `op` for `purpose` on `legal_basis`.
    pub fn decide(
        &self,
        agency: &str,
        op: Operation,
        purpose: &str,
        legal_basis: &str,
    ) -> Result<Allowed, Denial> {
        if self.open {
            let record = op.record().expect("reads name a record");
            return Ok(Allowed {
                fields: Fields::all(record),
                line: 0,
            });
        }
        let deny = |reason, detail| Err(Denial { reason, detail });
        let mine = || self.grants.iter().filter(|g| g.agency.matches(agency));
        if mine().next().is_none() {
            return deny(
                Reason::NoGrant,
                format!("agency {agency} holds no grant at this gateway"),
            );
        }
        let for_op = || mine().filter(|g| g.operations.contains(&op));
        if for_op().next().is_none() {
            return deny(
                Reason::OperationNotAllowed,
                format!("agency {agency} is not granted {op}"),
            );
        }
        let for_purpose = || for_op().filter(|g| g.purposes.iter().any(|p| p == purpose));
        if for_purpose().next().is_none() {
            let granted = listed(for_op().flat_map(|g| &g.purposes));
            return deny(
                Reason::PurposeNotAllowed,
                format!(
                    "purpose {purpose:?} is not granted to {agency} for {op}; granted: {granted}"
                ),
            );
        }
        let matching = || for_purpose().filter(|g| g.legal_bases.iter().any(|l| l == legal_basis));
        let Some(first) = matching().next() else {
            let granted = listed(for_purpose().flat_map(|g| &g.legal_bases));
            return deny(
                Reason::LegalBasisNotAllowed,
                format!(
                    "legal basis {legal_basis:?} is not granted to {agency} for {op} and purpose {purpose:?}; granted: {granted}"
                ),
            );
        };
        let record = op
            .record()
            .expect("grants name only operations with a record");
        let fields = matching()
            .fold(Fields::NONE, |set, g| set.union(g.fields))
            .of(record);
        Ok(Allowed {
            fields,
            line: first.line,
        })
    }

    /// Decides a dossier operation: granted to the agency or not (dossier calls
    /// carry no purpose; which dossiers an agency may touch is the service's rule).
    pub fn allow(&self, agency: &str, op: Operation) -> Result<(), Denial> {
        if self.open {
            return Ok(());
        }
        let mut mine = self
            .grants
            .iter()
            .filter(|g| g.agency.matches(agency))
            .peekable();
        if mine.peek().is_none() {
            return Err(Denial {
                reason: Reason::NoGrant,
                detail: format!("agency {agency} holds no grant at this gateway"),
            });
        }
        if mine.any(|g| g.operations.contains(&op)) {
            Ok(())
        } else {
            Err(Denial {
                reason: Reason::OperationNotAllowed,
                detail: format!("agency {agency} is not granted {op}"),
            })
        }
    }

    /// Checks that `agency` holds `role`.
    pub fn require(&self, agency: &str, role: Role, op: Operation) -> Result<(), Denial> {
        if self.open {
            return Ok(());
        }
        let holders = match role {
            Role::Auditor => &self.auditors,
            Role::Operator => &self.operators,
            Role::Reporter => &self.reporters,
            Role::SubjectAccess => &self.subject_access,
            Role::Witness => &self.witnesses,
        };
        if holders.iter().any(|p| p.matches(agency)) {
            Ok(())
        } else {
            Err(Denial {
                reason: Reason::RoleRequired,
                detail: format!(
                    "{op} requires the {} role, which agency {agency} does not hold",
                    role.name()
                ),
            })
        }
    }
}

/// Distinct values, quoted and joined.
fn listed<'a>(values: impl Iterator<Item = &'a String>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v.as_str()) {
            seen.push(v);
        }
    }
    seen.iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
