//! `ResidencyService`: a citizen's permanent, temporary and current address.

use std::sync::Arc;

use lienthong_proto::v1::residency_service_server::ResidencyService;
use lienthong_proto::v1::{GetResidenceRequest, Residence};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, lookup};

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
        let ctx = Ctx::of(
            &request,
            &self.shared.limits,
            "ResidencyService/GetResidence",
        )?;
        let req = request.into_inner();
        let result = async {
            let id = lookup(req.context.as_ref(), &req.personal_id, |_| {})?;
            let call = ctx.call(req.context.as_ref());
            ctx.upstream(&self.shared, self.shared.registry.residence(&id, &call))
                .await
        }
        .await;
        ctx.finish(&req.personal_id, result)
    }
}
