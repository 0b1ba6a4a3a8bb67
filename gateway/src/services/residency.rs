//! `ResidencyService`: a citizen's permanent, temporary and current address.

use std::sync::Arc;

use lienthong_proto::v1::residency_service_server::ResidencyService;
use lienthong_proto::v1::{GetResidenceRequest, Residence};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, detached, fields, in_nfc, lookup};
use crate::policy::{Operation, Record};

/// The residency service.
pub struct Residency {
    shared: Arc<Shared>,
}

impl Residency {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Residency {
        Residency { shared }
    }
}

#[tonic::async_trait]
impl ResidencyService for Residency {
    async fn get_residence(
        &self,
        request: Request<GetResidenceRequest>,
    ) -> Result<Response<Residence>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetResidence)?;
            let req = in_nfc(request);
            let mut trail = Trail::new(&req.personal_id, req.context.as_ref());
            let result = async {
                let id = lookup(req.context.as_ref(), &req.personal_id, |_| {})?;
                let allowed = ctx.allow(&shared.policy.get(), req.context.as_ref())?;
                // Built only if the cache cannot answer.
                let fetch = async {
                    let call = ctx.call(req.context.as_ref());
                    ctx.upstream(shared, shared.registry.residence(&id, &call))
                        .await
                };
                let (mut residence, served) = shared
                    .cache
                    .get(Record::Residence, &req.personal_id, ctx.agency(), fetch)
                    .await?;
                trail.cache = served;
                fields::residence(&mut residence, allowed.fields);
                trail.released = allowed.fields;
                Ok(residence)
            }
            .await;
            ctx.finish(shared, trail, result).await
        })
        .await
    }
}
