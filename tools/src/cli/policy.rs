//! `lienthong policy check`: what the policy decides for a call, and why.

use std::path::PathBuf;

use clap::Args;

use lienthong_gateway::policy::{Fields, Operation, Policy};

/// `policy check` options.
#[derive(Debug, Args)]
pub struct Check {
    /// The calling agency's code.
    #[arg(long)]
    pub agency: String,
    /// `Service/Method`, e.g. IdentityService/GetCitizen.
    #[arg(long)]
    pub operation: String,
    /// The purpose the request cites.
    #[arg(long, default_value = "")]
    pub purpose: String,
    /// The legal basis the request cites.
    #[arg(long, default_value = "")]
    pub legal_basis: String,
    /// The policy file; without it, the one the config names, else the dev policy.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The gateway's config file (for its `policy.file`).
    #[arg(long, conflicts_with = "file")]
    pub config: Option<PathBuf>,
}

/// The decision explained; `Ok` when granted, `Err` when refused.
pub fn check(args: &Check) -> Result<String, String> {
    let path = match (&args.file, &args.config) {
        (Some(file), _) => Some(file.clone()),
        (None, Some(config)) => {
            lienthong_gateway::Config::load(config)
                .map_err(|e| e.to_string())?
                .policy
                .file
        }
        (None, None) => None,
    };
    let (policy, source) = match &path {
        Some(p) => (
            Policy::load(p).map_err(|e| e.to_string())?,
            p.display().to_string(),
        ),
        None => (Policy::dev(), "the embedded development policy".to_owned()),
    };
    let op = Operation::ALL
        .into_iter()
        .find(|op| op.name() == args.operation)
        .ok_or_else(|| {
            let names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
            format!("--operation must be one of {}", names.join(", "))
        })?;
    let agency = &args.agency;
    let denied = |d: lienthong_gateway::policy::Denial| {
        format!("DENIED by {source} ({}): {}", d.reason.as_str(), d.detail)
    };
    if let Some(role) = op.role() {
        return match policy.require(agency, role, op) {
            Ok(()) => Ok(format!(
                "GRANTED by {source}: {agency} holds the {} role, which {op} requires",
                role.name()
            )),
            Err(d) => Err(denied(d)),
        };
    }
    let Some(record) = op.record() else {
        return match policy.allow(agency, op) {
            Ok(()) => Ok(format!("GRANTED by {source}: {agency} may call {op}")),
            Err(d) => Err(denied(d)),
        };
    };
    match policy.decide(agency, op, &args.purpose, &args.legal_basis) {
        Ok(allowed) => {
            let withheld = Fields::all(record).minus(allowed.fields);
            let sensitive: Vec<String> = withheld
                .iter()
                .filter(|f| f.sensitive)
                .map(|f| f.to_string())
                .collect();
            let mut out = format!(
                "GRANTED by {source}: {agency} may call {op} for purpose {:?} on legal basis {:?}\n  first matching grant: line {}\n  fields released: {}\n  fields withheld: {}",
                args.purpose, args.legal_basis, allowed.line, allowed.fields, withheld,
            );
            if !sensitive.is_empty() {
                out.push_str(&format!(
                    "\n  sensitive, released only where a grant names them: {}",
                    sensitive.join(", ")
                ));
            }
            Ok(out)
        }
        Err(d) => Err(denied(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(agency: &str, operation: &str, purpose: &str) -> Check {
        Check {
            agency: agency.into(),
            operation: operation.into(),
            purpose: purpose.into(),
            legal_basis: "ND-47/2020".into(),
            file: None,
            config: None,
        }
    }

    #[test]
    fn explains_grants_and_denials() {
        let granted = check(&args(
            "H99.01",
            "IdentityService/GetCitizen",
            "dossier-processing",
        ))
        .unwrap();
        assert!(granted.contains("line 12"), "{granted}");
        assert!(
            granted.contains("fields withheld: citizen.ethnicity, citizen.religion"),
            "{granted}"
        );
        let denied = check(&args(
            "H99.02",
            "ResidencyService/GetResidence",
            "dossier-processing",
        ))
        .unwrap_err();
        assert!(denied.contains("OPERATION_NOT_ALLOWED"), "{denied}");
        let denied = check(&args("H99.01", "IdentityService/GetCitizen", "marketing")).unwrap_err();
        assert!(
            denied.contains("PURPOSE_NOT_ALLOWED") && denied.contains("dossier-processing"),
            "{denied}"
        );
        assert!(check(&args("H99.90", "AuditService/QueryAudit", "")).is_ok());
        assert!(
            check(&args("H99.01", "AuditService/QueryAudit", ""))
                .unwrap_err()
                .contains("ROLE_REQUIRED")
        );
        assert!(
            check(&args("H99.01", "Nope/Nothing", ""))
                .unwrap_err()
                .contains("--operation")
        );
    }
}
