//! `AdminService`: what the gateway's operator does while it runs. Operators only;
//! every call is audited.

use std::sync::Arc;

use lienthong_proto::v1::admin_service_server::AdminService;
use lienthong_proto::v1::{PurgeCacheRequest, PurgeCacheResponse};
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
                ctx.require(&shared.policy, Role::Operator)?;
                let cache = shared.cache.clone();
                let id = req.personal_id.clone();
                let removed = tokio::task::spawn_blocking(move || {
                    if id.is_empty() {
                        cache.purge_all()
                    } else {
                        Ok(cache.purge(&id))
                    }
                })
                .await
                .map_err(|e| crate::Error::Server(e.to_string()))??;
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
}
