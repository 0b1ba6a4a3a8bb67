//! `SubjectAccessService`: "who read my data" for every citizen, read through the
//! ledger's subject index, each entry with its record hash and the signed
//! checkpoint that covers it. Role `subject-access`; every call is audited as an
//! access to that citizen, so it shows in their own list.

use std::sync::Arc;

use lienthong_proto::prost_types::Timestamp;
use lienthong_proto::v1::subject_access_service_server::SubjectAccessService;
use lienthong_proto::v1::{
    AuditRecord, InclusionProof, ListSubjectAccessesRequest, ListSubjectAccessesResponse,
    ProveAccessRequest, SubjectAccess,
};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached};
use crate::policy::{Operation, Role};

/// Accesses per page by default, and at most.
const PAGE: (u32, u32) = (50, 500);

/// The subject access service.
pub struct Subjects {
    shared: Arc<Shared>,
}

impl Subjects {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Subjects {
        Subjects { shared }
    }
}

#[tonic::async_trait]
impl SubjectAccessService for Subjects {
    async fn list_subject_accesses(
        &self,
        request: Request<ListSubjectAccessesRequest>,
    ) -> Result<Response<ListSubjectAccessesResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ListSubjectAccesses)?;
            let req = request.into_inner();
            let trail = Trail::new(&req.personal_id, None);
            let result = async {
                let mut v = Violations::default();
                let subject = v.personal_id("personal_id", &req.personal_id);
                v.time("from", req.from.as_ref());
                v.time("to", req.to.as_ref());
                if req.page_size > PAGE.1 {
                    v.add("page_size", format!("must be at most {}", PAGE.1));
                }
                let below = match req.page_token.as_str() {
                    "" => None,
                    token => match token.parse::<u64>() {
                        Ok(seq) if seq > 0 => Some(seq),
                        _ => {
                            v.add("page_token", "is not a token this service gave");
                            None
                        }
                    },
                };
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::SubjectAccess)?;
                let subject = subject.expect("valid when no violation");
                let store = &*shared.dossiers.store;
                let (lo, hi) =
                    crate::audit::query::range(store, 0, 0, req.from.as_ref(), req.to.as_ref())
                        .await?;
                let size = match req.page_size {
                    0 => PAGE.0,
                    n => n,
                } as usize;
                let below = below
                    .unwrap_or(hi.saturating_add(1))
                    .min(hi.saturating_add(1));
                let (accesses, more) = accesses(shared, subject.as_str(), lo, below, size).await?;
                let held_since = held_since(store).await?;
                Ok(ListSubjectAccessesResponse {
                    next_page_token: match (more, accesses.last()) {
                        (true, Some(last)) => last.seq.to_string(),
                        _ => String::new(),
                    },
                    accesses,
                    held_since,
                })
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn prove_access(
        &self,
        request: Request<ProveAccessRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ProveAccess)?;
            let req = request.into_inner();
            let trail = Trail::new(&req.personal_id, None);
            let result = async {
                let mut v = Violations::default();
                let subject = v.personal_id("personal_id", &req.personal_id);
                v.in_tree(("seq", req.seq), ("tree_size", req.tree_size));
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::SubjectAccess)?;
                let subject = subject.expect("valid when no violation");
                let store = &*shared.dossiers.store;
                let mut proof =
                    crate::audit::prove::inclusion(store, req.seq, req.tree_size).await?;
                // Only the citizen's own accesses, and of those only the hash: the
                // same as their list shows, nothing about anyone else.
                match proof.record.take() {
                    Some(r) if r.subject_personal_id == subject.as_str() => Ok(proof),
                    _ => Err(crate::Error::NotFound(format!(
                        "record {} is not an access to this citizen's data",
                        req.seq
                    ))),
                }
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }
}

/// Up to `size` accesses to `subject` numbered from `lo` and below `below`, newest
/// first, each with the signed checkpoint that covers it; and whether there are
/// more.
pub(crate) async fn accesses(
    shared: &Shared,
    subject: &str,
    lo: u64,
    below: u64,
    size: usize,
) -> Result<(Vec<SubjectAccess>, bool), crate::Error> {
    let store = &*shared.dossiers.store;
    let ledger = crate::Error::ledger;
    let mut records = store
        .audit_by_subject(subject, lo, below, size + 1, true)
        .await
        .map_err(ledger)?;
    let more = records.len() > size;
    records.truncate(size);
    // Oldest first, one checkpoint covers every record up to it: asked for once,
    // not once per record.
    let mut accesses = Vec::with_capacity(records.len());
    let mut covering: Option<lienthong_proto::v1::Checkpoint> = None;
    for r in records.into_iter().rev() {
        if covering.as_ref().is_none_or(|c| c.seq < r.seq) {
            covering = store
                .audit_checkpoint_covering(r.seq)
                .await
                .map_err(ledger)?;
        }
        accesses.push(access(shared, r, covering.clone()));
    }
    accesses.reverse();
    Ok((accesses, more))
}

/// Since when the live log holds records (older ones are archived).
pub(crate) async fn held_since(
    store: &dyn lienthong_ledger::Store,
) -> Result<Option<Timestamp>, crate::Error> {
    let ledger = crate::Error::ledger;
    let first = store.audit_first().await.map_err(ledger)?;
    Ok(store
        .audit_record(first)
        .await
        .map_err(ledger)?
        .and_then(|r| r.at))
}

/// What a citizen is shown of the record `r`.
fn access(
    shared: &Shared,
    r: AuditRecord,
    checkpoint: Option<lienthong_proto::v1::Checkpoint>,
) -> SubjectAccess {
    SubjectAccess {
        seq: r.seq,
        at_vietnam: r
            .at
            .map(|t| lienthong_proto::in_vietnam(t.seconds * 1_000_000))
            .unwrap_or_default(),
        at: r.at,
        agency_name: shared
            .directory
            .name(&r.agency_code)
            .unwrap_or_default()
            .to_owned(),
        agency_code: r.agency_code,
        operation: r.operation,
        purpose: r.purpose,
        legal_basis: r.legal_basis,
        case_ref: r.case_ref,
        fields_released: r.fields_released,
        decision: r.decision,
        reason: r.reason,
        record_hash: r.hash,
        checkpoint,
    }
}
