//! The operations of the contract as grants and audit records name them, and the
//! roles that open the services no purpose is cited for.

use std::fmt;

use serde::Deserialize;

use super::Record;

/// An operation of the contract, as grants and audit records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Operation {
    /// `IdentityService/GetCitizen`.
    GetCitizen,
    /// `IdentityService/VerifyCitizen`.
    VerifyCitizen,
    /// `ResidencyService/GetResidence`.
    GetResidence,
    /// `AuditService/QueryAudit` (role `auditor`).
    QueryAudit,
    /// `AuditService/VerifyAudit` (role `auditor`).
    VerifyAudit,
    /// `AuditService/ExportAudit` (role `auditor`).
    ExportAudit,
    /// `AuditService/ProveInclusion` (role `auditor`).
    ProveInclusion,
    /// `AuditService/ProveConsistency` (role `auditor`).
    ProveConsistency,
    /// `AdminService/PurgeCache` (role `operator`).
    PurgeCache,
    /// `AdminService/SyncStatus` (role `operator`).
    SyncStatus,
    /// `AdminService/RetryDead` (role `operator`).
    RetryDead,
    /// `AdminService/ArchiveAudit` (role `operator`).
    ArchiveAudit,
    /// `DossierService/SubmitDossier`.
    SubmitDossier,
    /// `DossierService/UpdateDossierStatus`.
    UpdateDossierStatus,
    /// `DossierService/GetDossier`.
    GetDossier,
    /// `DossierService/ListDossiers`.
    ListDossiers,
    /// `DossierService/WatchDossiers`.
    WatchDossiers,
    /// `ReportService/GetIndicators` (role `reporter`).
    GetIndicators,
    /// `SubjectAccessService/ListSubjectAccesses` (role `subject-access`).
    ListSubjectAccesses,
    /// `SubjectAccessService/ProveAccess` (role `subject-access`).
    ProveAccess,
    /// `WitnessService/GetCheckpoint` (role `witness`).
    GetCheckpoint,
    /// `WitnessService/GetConsistencyProof` (role `witness`).
    GetConsistencyProof,
    /// `WitnessService/AddCosignature` (role `witness`).
    AddCosignature,
    /// The console's sign-in (role `auditor`).
    ConsoleSignIn,
    /// The console's search of the log (role `auditor`).
    ConsoleSearch,
    /// One record in the console (role `auditor`).
    ConsoleRecord,
    /// The console's integrity page: the log verified (role `auditor`).
    ConsoleIntegrity,
    /// The console's export of the log (role `auditor`).
    ConsoleExport,
    /// The console's charts (role `auditor`).
    ConsoleCharts,
    /// A citizen's access report in the console (role `auditor`).
    ConsoleCitizenReport,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 30] = [
        Operation::GetCitizen,
        Operation::VerifyCitizen,
        Operation::GetResidence,
        Operation::QueryAudit,
        Operation::VerifyAudit,
        Operation::ExportAudit,
        Operation::ProveInclusion,
        Operation::ProveConsistency,
        Operation::PurgeCache,
        Operation::SyncStatus,
        Operation::RetryDead,
        Operation::ArchiveAudit,
        Operation::SubmitDossier,
        Operation::UpdateDossierStatus,
        Operation::GetDossier,
        Operation::ListDossiers,
        Operation::WatchDossiers,
        Operation::GetIndicators,
        Operation::ListSubjectAccesses,
        Operation::ProveAccess,
        Operation::GetCheckpoint,
        Operation::GetConsistencyProof,
        Operation::AddCosignature,
        Operation::ConsoleSignIn,
        Operation::ConsoleSearch,
        Operation::ConsoleRecord,
        Operation::ConsoleIntegrity,
        Operation::ConsoleExport,
        Operation::ConsoleCharts,
        Operation::ConsoleCitizenReport,
    ];

    /// `Service/Method`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCitizen => "IdentityService/GetCitizen",
            Operation::VerifyCitizen => "IdentityService/VerifyCitizen",
            Operation::GetResidence => "ResidencyService/GetResidence",
            Operation::QueryAudit => "AuditService/QueryAudit",
            Operation::VerifyAudit => "AuditService/VerifyAudit",
            Operation::ExportAudit => "AuditService/ExportAudit",
            Operation::ProveInclusion => "AuditService/ProveInclusion",
            Operation::ProveConsistency => "AuditService/ProveConsistency",
            Operation::PurgeCache => "AdminService/PurgeCache",
            Operation::SyncStatus => "AdminService/SyncStatus",
            Operation::RetryDead => "AdminService/RetryDead",
            Operation::ArchiveAudit => "AdminService/ArchiveAudit",
            Operation::SubmitDossier => "DossierService/SubmitDossier",
            Operation::UpdateDossierStatus => "DossierService/UpdateDossierStatus",
            Operation::GetDossier => "DossierService/GetDossier",
            Operation::ListDossiers => "DossierService/ListDossiers",
            Operation::WatchDossiers => "DossierService/WatchDossiers",
            Operation::GetIndicators => "ReportService/GetIndicators",
            Operation::ListSubjectAccesses => "SubjectAccessService/ListSubjectAccesses",
            Operation::ProveAccess => "SubjectAccessService/ProveAccess",
            Operation::GetCheckpoint => "WitnessService/GetCheckpoint",
            Operation::GetConsistencyProof => "WitnessService/GetConsistencyProof",
            Operation::AddCosignature => "WitnessService/AddCosignature",
            Operation::ConsoleSignIn => "Console/SignIn",
            Operation::ConsoleSearch => "Console/Search",
            Operation::ConsoleRecord => "Console/Record",
            Operation::ConsoleIntegrity => "Console/Integrity",
            Operation::ConsoleExport => "Console/Export",
            Operation::ConsoleCharts => "Console/Charts",
            Operation::ConsoleCitizenReport => "Console/CitizenReport",
        }
    }

    /// The record whose fields it releases, for the reads granted per purpose.
    pub fn record(self) -> Option<Record> {
        match self {
            Operation::GetCitizen | Operation::VerifyCitizen => Some(Record::Citizen),
            Operation::GetResidence => Some(Record::Residence),
            _ => None,
        }
    }

    /// How long it may run when its work grows with the data rather than with the
    /// request (archiving a log): bounded by the caller's deadline only, or this
    /// without one, not by `limits.request_timeout`.
    pub fn runs_for(self) -> Option<std::time::Duration> {
        match self {
            Operation::ArchiveAudit => Some(std::time::Duration::from_secs(3600)),
            _ => None,
        }
    }

    /// The role it needs, for the operations a role opens rather than a grant.
    pub fn role(self) -> Option<Role> {
        match self {
            Operation::QueryAudit
            | Operation::VerifyAudit
            | Operation::ExportAudit
            | Operation::ProveInclusion
            | Operation::ProveConsistency
            | Operation::ConsoleSignIn
            | Operation::ConsoleSearch
            | Operation::ConsoleRecord
            | Operation::ConsoleIntegrity
            | Operation::ConsoleExport
            | Operation::ConsoleCharts
            | Operation::ConsoleCitizenReport => Some(Role::Auditor),
            Operation::PurgeCache
            | Operation::SyncStatus
            | Operation::RetryDead
            | Operation::ArchiveAudit => Some(Role::Operator),
            Operation::GetIndicators => Some(Role::Reporter),
            Operation::ListSubjectAccesses | Operation::ProveAccess => Some(Role::SubjectAccess),
            Operation::GetCheckpoint
            | Operation::GetConsistencyProof
            | Operation::AddCosignature => Some(Role::Witness),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role an agency can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May query, verify and export the audit log.
    Auditor,
    /// Runs the gateway: may purge its cache, requeue dead letters, archive the
    /// audit log.
    Operator,
    /// Follows the province's service quality: may read the QĐ 766 indicators of
    /// every agency.
    Reporter,
    /// Shows citizens who read their data: may list the accesses to any citizen's
    /// data (a portal the citizen is logged in to, a one-stop-shop counter).
    SubjectAccess,
    /// Witnesses the audit log: may fetch its checkpoints and consistency proofs,
    /// and cosign them.
    Witness,
}

impl Role {
    /// The role's name in the policy file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Operator => "operator",
            Role::Reporter => "reporter",
            Role::SubjectAccess => "subject-access",
            Role::Witness => "witness",
        }
    }
}
