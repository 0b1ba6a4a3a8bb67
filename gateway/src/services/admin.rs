//! `AdminService`: what the gateway's operator does while it runs — purge the
//! cache, look at the dossier sync, requeue dead letters. Operators only; every call
//! is audited.

use std::sync::Arc;

use lienthong_proto::v1::admin_service_server::AdminService;
use lienthong_proto::v1::{
    ArchiveAuditRequest, ArchiveAuditResponse, ArchiveFile, DeadLetter, PurgeCacheRequest,
    PurgeCacheResponse, RetryDeadRequest, RetryDeadResponse, SyncStatusRequest, SyncStatusResponse,
};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached};
use crate::policy::{Operation, Role};

/// The admin service.
pub struct Admin {
    shared: Arc<Shared>,
}

impl Admin {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Admin {
        Admin { shared }
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn purge_cache(
        &self,
        request: Request<PurgeCacheRequest>,
    ) -> Result<Response<PurgeCacheResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::PurgeCache)?;
            let req = request.into_inner();
            let trail = Trail::new(&req.personal_id, None);
            let result = async {
                let mut v = Violations::default();
                match (req.all, req.personal_id.is_empty()) {
                    (true, false) => v.add("personal_id", "must be empty when all is set"),
                    (false, true) => v.add("personal_id", "is required unless all is set"),
                    (false, false) => {
                        v.personal_id("personal_id", &req.personal_id);
                    }
                    (true, true) => {}
                }
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Operator)?;
                let removed = shared.cache.purge_blocking(req.personal_id.clone()).await?;
                // Every replica on the ledger drops its copies too; until the
                // announcement is durable the operator is told the purge did not
                // reach them (and may repeat it: a purge is idempotent).
                shared
                    .dossiers
                    .store
                    .announce(lienthong_ledger::Event::Purge(req.personal_id.clone()))
                    .await
                    .map_err(crate::Error::ledger)?;
                tracing::info!(records = removed, all = req.all, "cache purged");
                Ok(PurgeCacheResponse {
                    records_removed: removed,
                })
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn sync_status(
        &self,
        request: Request<SyncStatusRequest>,
    ) -> Result<Response<SyncStatusResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::SyncStatus)?;
            let result = async {
                ctx.require(&shared.policy.get(), Role::Operator)?;
                let store = &shared.dossiers.store;
                let depth = store.outbox_depth().await.map_err(crate::Error::ledger)?;
                let now = crate::clock::now_micros();
                let age = depth
                    .oldest
                    .map_or(0, |at| ((now - at).max(0) / 1_000_000) as u64);
                let dead_letters = store
                    .dead_letters()
                    .await
                    .map_err(crate::Error::ledger)?
                    .into_iter()
                    .map(|(entry, reason)| DeadLetter {
                        dossier_code: entry.code().to_owned(),
                        revision: entry.revision(),
                        reason,
                    })
                    .collect();
                Ok(SyncStatusResponse {
                    outbox_depth: depth.waiting,
                    oldest_pending_age_seconds: age,
                    dead_letters,
                })
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn retry_dead(
        &self,
        request: Request<RetryDeadRequest>,
    ) -> Result<Response<RetryDeadResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::RetryDead)?;
            let req = request.into_inner();
            let mut trail = Trail::new("", None);
            trail.context.case_ref.clone_from(&req.dossier_code);
            let result = async {
                let mut v = Violations::default();
                if !req.dossier_code.is_empty()
                    && lienthong_proto::DossierCode::parse(&req.dossier_code).is_err()
                {
                    v.add(
                        "dossier_code",
                        "is not a dossier code; leave it empty for every dead letter",
                    );
                }
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Operator)?;
                // One dossier, one code: the canonical form is what the ledger holds.
                let code = lienthong_proto::DossierCode::parse(&req.dossier_code)
                    .map_or_else(|_| String::new(), |c| c.as_str().to_owned());
                let requeued = shared
                    .dossiers
                    .retry_dead((!code.is_empty()).then_some(code.as_str()))
                    .await?;
                tracing::info!(requeued, "dead letters requeued");
                Ok(RetryDeadResponse { requeued })
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn archive_audit(
        &self,
        request: Request<ArchiveAuditRequest>,
    ) -> Result<Response<ArchiveAuditResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ArchiveAudit)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                let now = crate::clock::now_micros();
                let before = req
                    .before
                    .as_ref()
                    .map(|t| crate::audit::record::micros(Some(t)));
                if v.time("before", req.before.as_ref()) && before.is_some_and(|b| b > now) {
                    v.add(
                        "before",
                        "is in the future: only closed periods are archived",
                    );
                }
                let log = shared
                    .audit
                    .as_ref()
                    .ok_or_else(|| crate::Error::Audit("auditing is switched off".into()))?;
                let plan = log.plan().ok_or_else(|| {
                    crate::Error::Audit("this gateway has no archive plan".into())
                })?;
                if req.expire && plan.retention.is_none() {
                    v.add(
                        "expire",
                        "no retention is configured (audit.archive.retention): nothing may expire",
                    );
                }
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Operator)?;
                let by = crate::audit::archive::Actor {
                    agency_code: ctx.peer.agency.as_str().to_owned(),
                    certificate_fingerprint: ctx.peer.fingerprint.clone(),
                    request_id: ctx.request_id.clone(),
                    purpose: "operator".into(),
                };
                let ran = plan.run(log, before, req.expire, &by).await?;
                Ok(ArchiveAuditResponse {
                    archived: ran.archived.iter().map(file).collect(),
                    expired: ran.expired.iter().map(file).collect(),
                    dossiers_archived: ran.dossiers,
                })
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }
}

/// What the operator is told of an archive.
fn file(note: &crate::audit::archive::Note) -> ArchiveFile {
    ArchiveFile {
        name: note.file.clone(),
        first_seq: note.first,
        last_seq: note.last,
        last_hash: note.last_hash.to_vec(),
        sha256: note.sha256.map(|s| s.to_vec()).unwrap_or_default(),
    }
}
