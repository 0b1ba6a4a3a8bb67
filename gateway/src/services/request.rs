//! One request in flight: who asks (from the connection), under which request id,
//! what the policy says, and the deadline budget its upstream call runs under.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_proto::v1::RequestContext;
use tonic::Status;

use super::Shared;
use crate::Error;
use crate::admission::{Presence, grpc_timeout};
use crate::config::Limits;
use crate::policy::{Allowed, Operation, Policy, Role};
use crate::tls::Peer;

/// One request in flight: who asks, under which id, until when.
pub(crate) struct Ctx {
    pub(super) peer: Arc<Peer>,
    pub(super) request_id: String,
    pub(super) operation: Operation,
    pub(super) started: Instant,
    /// Time the request may take: the configured limit or the client's grpc-timeout.
    pub(super) budget: Duration,
    /// Whether the client still waits (set by the door when it goes).
    pub(super) presence: Arc<Presence>,
    /// The request's trace id, for its record (see [`crate::telemetry`]).
    pub(super) trace_id: String,
}

impl Ctx {
    pub(crate) fn of<T>(
        request: &tonic::Request<T>,
        limits: &Limits,
        operation: Operation,
    ) -> Result<Ctx, Status> {
        let peer = request
            .extensions()
            .get::<Arc<Peer>>()
            .cloned()
            .ok_or_else(|| Status::from(Error::Unauthenticated))?;
        let metadata = request.metadata();
        let request_id = metadata
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let client = metadata
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let presence = request
            .extensions()
            .get::<Arc<Presence>>()
            .cloned()
            .unwrap_or_default();
        // Answer a little before the client gives up, so it receives our status
        // (DEADLINE_EXCEEDED with details) rather than cancelling on its own timer.
        let client = client.map(|c| c.saturating_sub((c / 10).min(Duration::from_millis(50))));
        let budget = match operation.runs_for() {
            Some(longest) => client.unwrap_or(longest),
            None => client.map_or(limits.request_timeout, |c| c.min(limits.request_timeout)),
        };
        let trace_id = request
            .extensions()
            .get::<crate::telemetry::TraceId>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        Ok(Ctx {
            trace_id,
            peer,
            request_id,
            operation,
            started: Instant::now(),
            budget,
            presence,
        })
    }

    /// The calling agency's code.
    pub(crate) fn agency(&self) -> &str {
        self.peer.agency.as_str()
    }

    /// The policy's decision on this read under `context` (already validated).
    pub(crate) fn allow(
        &self,
        policy: &Policy,
        context: Option<&RequestContext>,
    ) -> Result<Allowed, Error> {
        let _span = tracing::debug_span!("policy").entered();
        let (purpose, legal_basis) =
            context.map_or(("", ""), |c| (c.purpose.as_str(), c.legal_basis.as_str()));
        Ok(policy.decide(
            self.peer.agency.as_str(),
            self.operation,
            purpose,
            legal_basis,
        )?)
    }

    /// Checks that a grant gives the caller this operation (dossier calls, which
    /// cite no purpose).
    pub(crate) fn grant(&self, policy: &Policy) -> Result<(), Error> {
        Ok(policy.allow(self.agency(), self.operation)?)
    }

    /// Checks that the caller holds `role`.
    pub(crate) fn require(&self, policy: &Policy, role: Role) -> Result<(), Error> {
        Ok(policy.require(self.peer.agency.as_str(), role, self.operation)?)
    }

    /// Runs an upstream call within the request's remaining budget and the upstream limit.
    pub(crate) async fn upstream<T, F>(&self, shared: &Shared, call: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, lienthong_adapters::Error>>,
    {
        use tracing::Instrument;
        let remaining = self.budget.saturating_sub(self.started.elapsed());
        let limit = remaining.min(shared.limits.upstream_timeout);
        let span = tracing::debug_span!("upstream", adapter = shared.registry.name());
        match tokio::time::timeout(limit, call).instrument(span).await {
            Ok(result) => Ok(result?),
            Err(_) if limit < shared.limits.upstream_timeout => Err(Error::Deadline(self.budget)),
            Err(_) => Err(Error::Upstream(lienthong_adapters::Error::Timeout {
                endpoint: shared.registry.name().into(),
                after: limit,
            })),
        }
    }

    /// The call's context for the adapter.
    pub(crate) fn call(
        &self,
        context: Option<&RequestContext>,
    ) -> lienthong_adapters::population::Call {
        lienthong_adapters::population::Call {
            request_id: self.request_id.clone(),
            context: context.cloned().unwrap_or_default(),
            deadline: Some(self.budget.saturating_sub(self.started.elapsed())),
        }
    }
}
