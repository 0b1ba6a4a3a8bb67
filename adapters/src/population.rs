//! The national population database, as the gateway sees it.
//!
//! [`Registry`] answers citizen and residence lookups by personal ID. Implementations:
//! the in-process simulator ([`crate::sim::Population`]), a REST/JSON client of the
//! national data-sharing API ([`rest::RestRegistry`]) and a gRPC client of another
//! lienthong gateway ([`grpc::GrpcRegistry`]).

pub mod check;
pub mod grpc;
pub mod rest;
pub mod schema;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, RequestContext, Residence};

use crate::Error;

/// Who is asking and why, passed upstream: the request id joins the upstream's logs
/// with ours, and a federated gateway applies its own policy to the context.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The gateway's request id (`x-request-id`).
    pub request_id: String,
    /// The caller's stated purpose, legal basis, case and officer.
    pub context: RequestContext,
    /// Time left in the caller's request, if it is shorter than the adapter's own
    /// deadline. A gRPC upstream receives it as `grpc-timeout`, so that it stops
    /// working for an answer nobody waits for any more.
    pub deadline: Option<std::time::Duration>,
}

/// A source of citizen and residence records.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// A short name for logs and metrics, e.g. `sim` or `rest`.
    fn name(&self) -> &'static str;

    /// The citizen's full identity record.
    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, Error>;

    /// The citizen's residence record.
    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, Error>;
}
