//! `WitnessService`: what the log's witnesses fetch and what they hand back. Role
//! `witness`; every call is audited. A witness asks for the latest checkpoint and
//! the consistency proof from the last tree it cosigned, checks both on its side
//! (`lienthong witness`), and only then sends its cosignature, which is kept once
//! it verifies under that witness's configured key.

use std::sync::Arc;

use lienthong_proto::v1::witness_service_server::WitnessService;
use lienthong_proto::v1::{
    AddCosignatureRequest, Checkpoint, ConsistencyProof, GetCheckpointRequest,
    GetConsistencyProofRequest,
};
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, Trail, Violations, detached};
use crate::Error;
use crate::audit::{Log, prove, witnesses};
use crate::policy::{Operation, Role};

/// The witness service.
pub struct Witness {
    shared: Arc<Shared>,
}

impl Witness {
    /// The service over `shared`.
    pub fn new(shared: Arc<Shared>) -> Witness {
        Witness { shared }
    }
}

fn log(shared: &Shared) -> Result<&Arc<Log>, Error> {
    shared
        .audit
        .as_ref()
        .ok_or_else(|| Error::Audit("auditing is switched off at this gateway".into()))
}

/// The checkpoint signed at `size` (0: the latest), with its cosignatures.
async fn served(log: &Log, size: u64) -> Result<Checkpoint, Error> {
    let checkpoint = prove::signed(&**log.store(), size).await?;
    let lines = log
        .store()
        .audit_cosignatures(checkpoint.seq)
        .await
        .map_err(Error::ledger)?;
    Ok(witnesses::cosigned(checkpoint, &lines))
}

#[tonic::async_trait]
impl WitnessService for Witness {
    async fn get_checkpoint(
        &self,
        request: Request<GetCheckpointRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetCheckpoint)?;
            let size = request.into_inner().tree_size;
            let result = async {
                ctx.require(&shared.policy.get(), Role::Witness)?;
                served(log(shared)?, size).await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn get_consistency_proof(
        &self,
        request: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::GetConsistencyProof)?;
            let req = request.into_inner();
            let result = async {
                super::audit::sizes(req.first_size, req.second_size)?;
                ctx.require(&shared.policy.get(), Role::Witness)?;
                let log = log(shared)?;
                prove::consistency(&**log.store(), req.first_size, req.second_size).await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }

    async fn add_cosignature(
        &self,
        request: Request<AddCosignatureRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        let shared = self.shared.clone();
        detached(async move {
            let shared = &*shared;
            let ctx = Ctx::of(&request, &shared.limits, Operation::AddCosignature)?;
            let req = request.into_inner();
            let result = async {
                let mut v = Violations::default();
                if req.tree_size == 0 {
                    v.add("tree_size", "must be the size of the checkpoint cosigned");
                }
                v.text("cosignature", &req.cosignature, 512, true);
                v.finish()?;
                ctx.require(&shared.policy.get(), Role::Witness)?;
                let log = log(shared)?;
                let checkpoint = prove::signed(&**log.store(), req.tree_size).await?;
                let (name, _) = log
                    .witnesses()
                    .check(&checkpoint, &req.cosignature)
                    .map_err(|why| {
                        Error::Invalid(vec![crate::FieldViolation {
                            field: "cosignature".into(),
                            description: why,
                        }])
                    })?;
                log.store()
                    .audit_cosign(checkpoint.seq, &name, req.cosignature.trim_end())
                    .await
                    .map_err(Error::ledger)?;
                tracing::info!(witness = %name, tree_size = checkpoint.seq, "checkpoint cosigned");
                served(log, checkpoint.seq).await
            }
            .await;
            ctx.finish(shared, Trail::default(), result).await
        })
        .await
    }
}
