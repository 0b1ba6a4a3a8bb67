//! The gRPC services and what every handler shares: who is calling (from the
//! connection), the request id, the deadline budget, validation of the request at
//! the edge, the policy decision, the upstream call under that budget, and the end
//! of every request: its audit record, durable before the answer leaves, and the log
//! line of the outcome.

pub mod admin;
pub mod audit;
pub mod dossier;
pub mod fields;
mod finish;
pub mod identity;
pub mod report;
mod request;
pub mod residency;
pub mod subjects;
mod validate;
pub mod witness;

use std::future::Future;
use std::sync::Arc;

use lienthong_adapters::population::Registry;
use lienthong_proto::v1::RequestContext;
use tonic::Status;

pub(crate) use request::Ctx;
pub use validate::{Violations, lookup};

use crate::config::Limits;
use crate::policy::{Fields, Policy};

/// What the services share.
pub struct Shared {
    /// The population registry adapter.
    pub registry: Arc<dyn Registry>,
    /// Deadlines.
    pub limits: Limits,
    /// The cache and circuit breaker in front of the registry.
    pub cache: Arc<crate::cache::Cache>,
    /// Who may read what (replaced whole on reload).
    pub policy: Arc<crate::reload::Current<Policy>>,
    /// Counters of what the gateway does.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Dossiers and their exchange with the portal.
    pub dossiers: Arc<crate::sync::Dossiers>,
    /// Cancelled when the gateway stops: long streams end so that it can.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Where every request is recorded; `None` only in the benchmark baseline.
    pub audit: Option<Arc<crate::audit::Log>>,
    /// The procedures' time limits.
    pub catalogue: Arc<crate::catalogue::Catalogue>,
    /// Agency code → name, for citizens' access lists.
    pub directory: Arc<crate::directory::Directory>,
}

/// What a request's audit record says beyond who called and how it ended.
#[derive(Default)]
pub(crate) struct Trail {
    /// The subject's personal ID, as sent.
    pub subject: String,
    /// The request context, as sent.
    pub context: RequestContext,
    /// The fields that left the gateway.
    pub released: Fields,
    /// How the cache served the record, when it did.
    pub cache: Option<crate::cache::View>,
}

impl Trail {
    /// A trail about `subject` under `context`.
    pub(crate) fn new(subject: &str, context: Option<&RequestContext>) -> Trail {
        Trail {
            subject: subject.to_owned(),
            context: context.cloned().unwrap_or_default(),
            released: Fields::NONE,
            cache: None,
        }
    }
}

/// Runs a handler so that a client that hangs up mid-request does not cancel it:
/// once a request is under way it always reaches its audit record. The handler
/// runs in the request's own task, and only if that task drops it unfinished is
/// the rest spawned on its own (a task and its wake-ups per request cost more
/// than the rest of a cached lookup's handler).
pub(crate) async fn detached<T: Send + 'static>(
    handler: impl Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    use tracing::Instrument;
    Finish(Some(Box::pin(handler.in_current_span()))).await
}

/// A handler polled where it is awaited, and finished on its own if dropped.
struct Finish<F: Future + Send + 'static>(Option<std::pin::Pin<Box<F>>>);

impl<T, F: Future<Output = Result<T, Status>> + Send + 'static> Future for Finish<F> {
    type Output = Result<T, Status>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let handler = self.0.as_mut().expect("a handler polled after it finished");
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.as_mut().poll(cx)));
        let out = match polled {
            Ok(std::task::Poll::Pending) => return std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(out)) => out,
            Err(_) => Err(Status::internal("handler failed: it panicked")),
        };
        self.0 = None;
        std::task::Poll::Ready(out)
    }
}

impl<F: Future + Send + 'static> Drop for Finish<F> {
    fn drop(&mut self) {
        if let Some(rest) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                rest.await;
            });
        }
    }
}

/// A request's message with its free text in NFC: the one form the gateway
/// validates, compares, records and forwards ([`lienthong_proto::text::InNfc`]).
pub(crate) fn in_nfc<T: lienthong_proto::text::InNfc>(request: tonic::Request<T>) -> T {
    let mut message = request.into_inner();
    message.to_nfc();
    message
}
