//! `DossierService`: dossiers received in the province, their status changes, and
//! dossiers citizens submitted on the national portal.
//!
//! An agency acts only for dossiers of its own code or of codes below it. A change is
//! acknowledged once it and its outbox entry are durable; the sync worker takes it
//! to the portal from there. Every call is audited (subject: the applicant).

pub mod validate;

use std::sync::Arc;

use lienthong_proto::v1::dossier_service_server::DossierService;
use lienthong_proto::v1::{
    Dossier, DossierEvent, GetDossierRequest, ListDossiersRequest, ListDossiersResponse,
    SubmitDossierRequest, UpdateDossierStatusRequest, WatchDossiersRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached, in_nfc};
use crate::Error;
use crate::policy::{Denial, Operation, Reason};
use crate::sync::owns;
use lienthong_ledger::{Change, Filter, Refusal};

/// The dossier service.
pub struct Dossiers {
    shared: Arc<Shared>,
}

impl Dossiers {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Dossiers {
        Dossiers { shared }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Refuses a dossier of an agency the caller does not act for.
fn owner(ctx: &Ctx, agency: &str) -> Result<(), Error> {
    let caller = ctx.agency();
    if owns(caller, agency) {
        Ok(())
    } else {
        Err(Error::Denied(Denial {
            reason: Reason::AgencyNotOwner,
            detail: format!("agency {caller} does not act for dossiers of {agency}"),
        }))
    }
}

/// A trail about a dossier: its applicant, and the dossier code (canonical when it
/// is one) as case reference.
fn trail(code: &str, applicant: &str) -> Trail {
    let mut t = Trail::new(applicant, None);
    t.context.case_ref = canonical(code);
    t
}

/// The canonical form of a dossier code, or the text as sent when it is none.
fn canonical(code: &str) -> String {
    lienthong_proto::DossierCode::parse(code)
        .map_or_else(|_| code.to_owned(), |c| c.as_str().to_owned())
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl DossierService for Dossiers {
    type WatchDossiersStream = Stream<DossierEvent>;

    async fn submit_dossier(
        &self,
        request: Request<SubmitDossierRequest>,
    ) -> Result<Response<Dossier>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::SubmitDossier)?;
            let d = in_nfc(request).dossier.unwrap_or_default();
            let trail = trail(&d.dossier_code, &d.applicant_personal_id);
            let result = async {
                let mut v = Violations::default();
                let code = validate::submitted(&mut v, &d, now());
                v.finish()?;
                let code = code.expect("valid when no violation");
                ctx.grant(&shared.policy.get())?;
                owner(&ctx, &d.agency_code)?;
                // Without a due date, the procedure's limit in working days.
                let due_at = d.due_at.or_else(|| {
                    let received = d.received_at?;
                    shared.catalogue.due(&d.procedure_code, received)
                });
                let submitted = Dossier {
                    dossier_code: code.as_str().to_owned(),
                    revision: 0,
                    sync: None,
                    due_at,
                    archived_in: String::new(),
                    supplement_requested_at: None,
                    ..d.clone()
                };
                Ok(Change::Submit(Box::new(submitted)))
            }
            .await;
            ctx.finish_change(shared, trail, result).await
        })
        .await
    }

    async fn update_dossier_status(
        &self,
        request: Request<UpdateDossierStatusRequest>,
    ) -> Result<Response<Dossier>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::UpdateDossierStatus)?;
            let req = in_nfc(request);
            let mut trail = trail(&req.dossier_code, "");
            if let Some(due) = &req.due_at {
                // A new appointment is audited with the date and the reason given.
                trail.context.purpose = crate::audit::record::bounded(format!(
                    "new due date {}: {}",
                    crate::audit::export::format_time(crate::audit::record::micros(Some(due))),
                    req.note
                ));
            }
            let result = async {
                let mut v = Violations::default();
                let (code, status) = validate::update(&mut v, &req, now());
                v.finish()?;
                let code = code.expect("valid when no violation");
                ctx.grant(&shared.policy.get())?;
                owner(&ctx, code.agency().as_str())?;
                let at = req.at.unwrap_or(lienthong_proto::prost_types::Timestamp {
                    seconds: now(),
                    nanos: 0,
                });
                Ok(Change::Update {
                    code: code.as_str().to_owned(),
                    status,
                    expected_revision: req.expected_revision,
                    at,
                    due_at: req.due_at,
                    handler: req.handler.clone(),
                    note: req.note.clone(),
                })
            }
            .await;
            ctx.finish_change(shared, trail, result).await
        })
        .await
    }

    async fn get_dossier(
        &self,
        request: Request<GetDossierRequest>,
    ) -> Result<Response<Dossier>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetDossier)?;
            let req = request.into_inner();
            let mut trail = trail(&req.dossier_code, "");
            let result = async {
                let mut v = Violations::default();
                let code = validate::code(&mut v, "dossier_code", &req.dossier_code);
                v.finish()?;
                let code = code.expect("valid when no violation");
                ctx.grant(&shared.policy.get())?;
                owner(&ctx, code.agency().as_str())?;
                let found = shared
                    .dossiers
                    .store
                    .dossier(code.as_str())
                    .await
                    .map_err(Error::ledger)?;
                let d = found.ok_or_else(|| Refusal::NotFound(code.as_str().to_owned()))?;
                trail.subject.clone_from(&d.applicant_personal_id);
                Ok(d)
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }

    async fn list_dossiers(
        &self,
        request: Request<ListDossiersRequest>,
    ) -> Result<Response<ListDossiersResponse>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::ListDossiers)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                if req.page_size > 1000 {
                    v.add("page_size", "must be at most 1000");
                }
                if !req.agency_code.is_empty()
                    && lienthong_proto::AgencyCode::parse(&req.agency_code).is_err()
                {
                    v.add("agency_code", "is not an agency code");
                }
                if !req.page_token.is_empty()
                    && lienthong_proto::DossierCode::parse(&req.page_token).is_err()
                {
                    v.add("page_token", "is not a token this service gave");
                }
                v.text("procedure_code", &req.procedure_code, 20, false);
                v.finish()?;
                ctx.grant(&shared.policy.get())?;
                let scope = if req.agency_code.is_empty() {
                    ctx.agency().to_owned()
                } else {
                    req.agency_code.clone()
                };
                owner(&ctx, &scope)?;
                let limit = if req.page_size == 0 {
                    100
                } else {
                    req.page_size as usize
                };
                let filter = Filter {
                    owner: scope,
                    status: req.status,
                    procedure_code: req.procedure_code.clone(),
                    received_from: req.received_from.as_ref().map(|t| t.seconds),
                    received_to: req.received_to.as_ref().map(|t| t.seconds),
                };
                let (dossiers, more) = shared
                    .dossiers
                    .store
                    .dossiers(&req.page_token, limit, &filter)
                    .await
                    .map_err(Error::ledger)?;
                let next_page_token = if more {
                    dossiers
                        .last()
                        .map(|d| d.dossier_code.clone())
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                Ok(ListDossiersResponse {
                    dossiers,
                    next_page_token,
                })
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn watch_dossiers(
        &self,
        request: Request<WatchDossiersRequest>,
    ) -> Result<Response<Self::WatchDossiersStream>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::WatchDossiers)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                let after = if req.after_cursor.is_empty() {
                    Some(0)
                } else {
                    req.after_cursor.parse::<u64>().ok()
                };
                if after.is_none() {
                    v.add(
                        "after_cursor",
                        "must be a cursor this service gave, or empty",
                    );
                }
                v.finish()?;
                ctx.grant(&shared.policy.get())?;
                let (tx, rx) = mpsc::channel(64);
                let inbound = shared.dossiers.inbound.clone();
                let caller = ctx.agency().to_owned();
                let stop = shared.shutdown.clone();
                let idle = shared.limits.stream_idle_timeout;
                tokio::spawn(watch(inbound, caller, after.unwrap_or(0), tx, stop, idle));
                Ok(ReceiverStream::new(rx))
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }
}

/// Streams inbound dossiers of `caller`'s agencies after `cursor`, then new ones as
/// they arrive, until the client goes away, the gateway stops, or the stream stays
/// `idle` (nothing for the client that long, or the client takes nothing that
/// long): the client resumes from its last cursor.
async fn watch(
    inbound: Arc<crate::sync::inbound::Inbound>,
    caller: String,
    mut cursor: u64,
    tx: mpsc::Sender<Result<DossierEvent, Status>>,
    stop: tokio_util::sync::CancellationToken,
    idle: std::time::Duration,
) {
    let mut quiet_since = tokio::time::Instant::now();
    let mut head = inbound.watch();
    loop {
        let page = match inbound.after(cursor, 256).await {
            Ok(page) => page,
            Err(e) => {
                let _ = tx.send(Err(Status::from(e))).await;
                return;
            }
        };
        let full = page.len() == 256;
        for (seq, dossier) in page {
            cursor = seq;
            if !owns(&caller, &dossier.agency_code) {
                continue;
            }
            let event = DossierEvent {
                cursor: seq.to_string(),
                dossier: Some(dossier),
            };
            match tokio::time::timeout(idle, tx.send(Ok(event))).await {
                Ok(Ok(())) => quiet_since = tokio::time::Instant::now(),
                // Gone, or not reading: its slot goes to someone who reads.
                Ok(Err(_)) | Err(_) => return,
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return },
            () = tx.closed() => return,
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(quiet_since + idle) => {
                let _ = tx.try_send(Err(Status::from(Error::Idle(idle))));
                return;
            }
        }
    }
}
