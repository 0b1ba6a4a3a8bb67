//! `AuditService`: the inspectors' view of the log. Auditors only; every call is
//! itself recorded before anything is streamed.

use std::sync::Arc;

use lienthong_proto::v1::audit_service_server::AuditService;
use lienthong_proto::v1::{
    AuditRecord, ConsistencyProof, ExportAuditRequest, ExportItem, InclusionProof,
    ProveConsistencyRequest, ProveInclusionRequest, QueryAuditRequest, VerifyAuditRequest,
    VerifyAuditResponse, export_item,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached};
use crate::Error;
use crate::audit::record::micros;
use crate::audit::{Item, Log, query};
use crate::policy::{Operation, Role};

/// Records buffered between the reader and a slow client.
const STREAM_BUFFER: usize = 256;

/// The audit service.
pub struct Audit {
    shared: Arc<Shared>,
}

impl Audit {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Audit {
        Audit { shared }
    }
}

fn log(shared: &Shared) -> Result<&Arc<Log>, Error> {
    shared
        .audit
        .as_ref()
        .ok_or_else(|| Error::Audit("auditing is switched off at this gateway".into()))
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

/// Hands `item` to the client's stream; false when the stream is over: the item was
/// an error, the client is gone, or it has taken nothing for `idle` (its slot goes
/// to someone who reads).
async fn handed<T>(
    tx: &mpsc::Sender<Result<T, Status>>,
    item: Result<T, Status>,
    idle: std::time::Duration,
) -> bool {
    let failed = item.is_err();
    let sent = tokio::time::timeout(idle, tx.send(item)).await;
    matches!(sent, Ok(Ok(()))) && !failed
}

/// Checks the time range of a request.
fn range(
    v: &mut Violations,
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) {
    if let (Some(f), Some(t)) = (from, to)
        && micros(Some(t)) <= micros(Some(f))
    {
        v.add("to", "must be after from");
    }
}

/// Checks the sizes a consistency proof is asked between.
pub(super) fn sizes(first: u64, second: u64) -> Result<(), Error> {
    let mut v = Violations::default();
    v.in_tree(("first_size", first), ("second_size", second));
    v.finish()
}

#[tonic::async_trait]
impl AuditService for Audit {
    type QueryAuditStream = Stream<AuditRecord>;
    type ExportAuditStream = Stream<ExportItem>;

    async fn query_audit(
        &self,
        request: Request<QueryAuditRequest>,
    ) -> Result<Response<Self::QueryAuditStream>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::QueryAudit)?;
            let req = request.into_inner();
            let trail = Trail::new(&req.subject_personal_id, None);
            let result = async {
                let mut v = Violations::default();
                v.text("subject_personal_id", &req.subject_personal_id, 12, false);
                v.text("agency_code", &req.agency_code, 35, false);
                let notes = [
                    crate::audit::archive::note::ARCHIVED,
                    crate::audit::archive::note::EXPIRED,
                    crate::audit::archive::dossiers::ARCHIVED,
                ];
                if !req.operation.is_empty()
                    && !Operation::ALL.iter().any(|op| op.name() == req.operation)
                    && !notes.contains(&req.operation.as_str())
                {
                    let mut names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
                    names.extend(notes);
                    v.add("operation", format!("must be one of {}", names.join(", ")));
                }
                range(&mut v, req.from.as_ref(), req.to.as_ref());
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Auditor)?;
                let log = log(shared)?;
                let store = log.store().clone();
                // The log as it stands now: not the query's own record, which is
                // written while the reader runs (the next query shows it).
                let head = store.audit_head().await.map_err(Error::audit)?.seq;
                let (tx, rx) = mpsc::channel(STREAM_BUFFER);
                if head == 0 {
                    return Ok(ReceiverStream::new(rx));
                }
                let quiet = log.quiet().await;
                let mut records = query::Query::start(store, req, head, log.archives()).await?;
                let idle = shared.limits.stream_idle_timeout;
                tokio::spawn(async move {
                    let _quiet = quiet;
                    loop {
                        let next = match records.next().await {
                            Ok(Some(r)) => Ok(r),
                            Ok(None) => return,
                            Err(e) => Err(Status::from(e)),
                        };
                        if !handed(&tx, next, idle).await {
                            return;
                        }
                    }
                });
                Ok(ReceiverStream::new(rx))
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn verify_audit(
        &self,
        request: Request<VerifyAuditRequest>,
    ) -> Result<Response<VerifyAuditResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::VerifyAudit)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                if req.to_seq != 0 && req.to_seq < req.from_seq {
                    v.add("to_seq", "must be 0 (the head) or at least from_seq");
                }
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Auditor)?;
                log(shared)?.verify(req.from_seq, req.to_seq).await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn export_audit(
        &self,
        request: Request<ExportAuditRequest>,
    ) -> Result<Response<Self::ExportAuditStream>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ExportAudit)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                if req.to_seq != 0 && req.to_seq < req.from_seq {
                    v.add("to_seq", "must be 0 (the head) or at least from_seq");
                }
                range(&mut v, req.from.as_ref(), req.to.as_ref());
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Auditor)?;
                let log = log(shared)?.clone();
                let (lo, hi) = query::range(
                    &**log.store(),
                    req.from_seq,
                    req.to_seq,
                    req.from.as_ref(),
                    req.to.as_ref(),
                )
                .await?;
                let (tx, rx) = mpsc::channel(STREAM_BUFFER);
                let mut export = query::Export::new(log.store().clone(), lo, hi);
                let idle = shared.limits.stream_idle_timeout;
                tokio::spawn(async move {
                    loop {
                        let next = match export.next(log.signer()).await {
                            Ok(Some(Item::Record(r))) => Ok(export_item::Item::Record(r)),
                            Ok(Some(Item::Checkpoint(c))) => Ok(export_item::Item::Checkpoint(c)),
                            Ok(None) => return,
                            Err(e) => Err(Status::from(e)),
                        };
                        let next = next.map(|item| ExportItem { item: Some(item) });
                        if !handed(&tx, next, idle).await {
                            return;
                        }
                    }
                });
                Ok(ReceiverStream::new(rx))
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn prove_inclusion(
        &self,
        request: Request<ProveInclusionRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ProveInclusion)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                v.in_tree(("seq", req.seq), ("tree_size", req.tree_size));
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Auditor)?;
                let log = log(shared)?;
                crate::audit::prove::inclusion(&**log.store(), req.seq, req.tree_size).await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn prove_consistency(
        &self,
        request: Request<ProveConsistencyRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ProveConsistency)?;
            let req = request.into_inner();
            let result = async {
                sizes(req.first_size, req.second_size)?;
                ctx.require(&shared.policy.get(), Role::Auditor)?;
                let log = log(shared)?;
                crate::audit::prove::consistency(&**log.store(), req.first_size, req.second_size)
                    .await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }
}
