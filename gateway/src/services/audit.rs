//! `AuditService`: the inspectors' view of the log. Auditors only; every call is
//! itself recorded before anything is streamed.

use std::sync::Arc;

use lienthong_proto::v1::audit_service_server::AuditService;
use lienthong_proto::v1::{
    AuditRecord, ExportAuditRequest, ExportItem, QueryAuditRequest, VerifyAuditRequest,
    VerifyAuditResponse, export_item,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations};
use crate::Error;
use crate::audit::record::micros;
use crate::audit::{Item, Log, Store};
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

    fn log(&self) -> Result<&Arc<Log>, Error> {
        self.shared
            .audit
            .as_ref()
            .ok_or_else(|| Error::Audit("auditing is switched off at this gateway".into()))
    }
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

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

/// The sequence range `from..=to` (0 = open) narrowed by a time range.
fn seq_range(
    store: &Store,
    from_seq: u64,
    to_seq: u64,
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> Result<(u64, u64), Error> {
    let mut lo = from_seq.max(1);
    let mut hi = if to_seq == 0 {
        store.head()?.seq
    } else {
        to_seq
    };
    if let Some(f) = from {
        lo = lo.max(store.seq_at(micros(Some(f)))?);
    }
    if let Some(t) = to {
        hi = hi.min(store.seq_at(micros(Some(t)))?.saturating_sub(1));
    }
    Ok((lo, hi))
}

#[tonic::async_trait]
impl AuditService for Audit {
    type QueryAuditStream = Stream<AuditRecord>;
    type ExportAuditStream = Stream<ExportItem>;

    async fn query_audit(
        &self,
        request: Request<QueryAuditRequest>,
    ) -> Result<Response<Self::QueryAuditStream>, Status> {
        let shared = &*self.shared;
        let ctx = Ctx::of(&request, &shared.limits, Operation::QueryAudit)?;
        let req = request.into_inner();
        let trail = Trail::new(&req.subject_personal_id, None);
        let result = async {
            let mut v = Violations::default();
            v.text("subject_personal_id", &req.subject_personal_id, 12, false);
            v.text("agency_code", &req.agency_code, 35, false);
            if !req.operation.is_empty()
                && !Operation::ALL.iter().any(|op| op.name() == req.operation)
            {
                let names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
                v.add("operation", format!("must be one of {}", names.join(", ")));
            }
            range(&mut v, req.from.as_ref(), req.to.as_ref());
            v.finish()?;
            ctx.require(&shared.policy, Role::Auditor)?;
            let store = self.log()?.store().clone();
            let (lo, hi) = seq_range(
                &store,
                req.after_seq.saturating_add(1),
                0,
                req.from.as_ref(),
                req.to.as_ref(),
            )?;
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            tokio::task::spawn_blocking(move || query(&store, &req, lo, hi, &tx));
            Ok(ReceiverStream::new(rx))
        }
        .await;
        ctx.finish(shared, trail, result).await
    }

    async fn verify_audit(
        &self,
        request: Request<VerifyAuditRequest>,
    ) -> Result<Response<VerifyAuditResponse>, Status> {
        let shared = &*self.shared;
        let ctx = Ctx::of(&request, &shared.limits, Operation::VerifyAudit)?;
        let req = request.into_inner();
        let result = async {
            let mut v = Violations::default();
            if req.to_seq != 0 && req.to_seq < req.from_seq {
                v.add("to_seq", "must be 0 (the head) or at least from_seq");
            }
            v.finish()?;
            ctx.require(&shared.policy, Role::Auditor)?;
            self.log()?.verify(req.from_seq, req.to_seq).await
        }
        .await;
        ctx.finish(shared, Trail::default(), result).await
    }

    async fn export_audit(
        &self,
        request: Request<ExportAuditRequest>,
    ) -> Result<Response<Self::ExportAuditStream>, Status> {
        let shared = &*self.shared;
        let ctx = Ctx::of(&request, &shared.limits, Operation::ExportAudit)?;
        let req = request.into_inner();
        let result = async {
            let mut v = Violations::default();
            if req.to_seq != 0 && req.to_seq < req.from_seq {
                v.add("to_seq", "must be 0 (the head) or at least from_seq");
            }
            range(&mut v, req.from.as_ref(), req.to.as_ref());
            v.finish()?;
            ctx.require(&shared.policy, Role::Auditor)?;
            let log = self.log()?.clone();
            let (lo, hi) = seq_range(
                log.store(),
                req.from_seq,
                req.to_seq,
                req.from.as_ref(),
                req.to.as_ref(),
            )?;
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            tokio::task::spawn_blocking(move || export(&log, lo, hi, &tx));
            Ok(ReceiverStream::new(rx))
        }
        .await;
        ctx.finish(shared, Trail::default(), result).await
    }
}

/// Streams the records in `lo..=hi` that match every filter of `req`.
fn query(
    store: &Store,
    req: &QueryAuditRequest,
    lo: u64,
    hi: u64,
    tx: &mpsc::Sender<Result<AuditRecord, Status>>,
) {
    let matches = |r: &AuditRecord| {
        (req.subject_personal_id.is_empty() || r.subject_personal_id == req.subject_personal_id)
            && (req.agency_code.is_empty() || r.agency_code == req.agency_code)
            && (req.operation.is_empty() || r.operation == req.operation)
    };
    let mut sent = 0u32;
    let walked = store.walk(lo, hi.max(lo), |item| {
        let Item::Record(r) = item else { return true };
        if r.seq > hi {
            return false;
        }
        if !matches(&r) {
            return true;
        }
        sent += 1;
        tx.blocking_send(Ok(r)).is_ok() && (req.limit == 0 || sent < req.limit)
    });
    if let Err(e) = walked {
        let _ = tx.blocking_send(Err(Status::from(e)));
    }
}

/// Streams records `lo..=hi` with their checkpoints, then a seal over the last one.
fn export(log: &Log, lo: u64, hi: u64, tx: &mpsc::Sender<Result<ExportItem, Status>>) {
    let mut last = None;
    let send = |item| {
        tx.blocking_send(Ok(ExportItem { item: Some(item) }))
            .is_ok()
    };
    let walked = log.store().walk(lo, hi.max(lo), |item| match item {
        Item::Record(r) if r.seq <= hi => {
            last = Some((r.seq, r.hash.clone()));
            send(export_item::Item::Record(r))
        }
        Item::Record(_) => false,
        Item::Checkpoint(c) => send(export_item::Item::Checkpoint(c)),
    });
    match walked {
        Ok(()) => {
            if let Some((seq, hash)) = last {
                send(export_item::Item::Checkpoint(log.seal(seq, &hash)));
            }
        }
        Err(e) => {
            let _ = tx.blocking_send(Err(Status::from(e)));
        }
    }
}
