//! The end of a request as the door sees it: its status code (from the headers of a
//! trailers-only response, or from the trailers), counted by service, method, agency
//! and code when the response body ends or is dropped, timed, and logged once.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;
use tonic::body::Body;

use super::{Presence, Response};
use crate::metrics::{MethodLabels, Metrics, RequestLabels, code_name};

/// Finishes a request's accounting when its response ends, or when it is dropped
/// on the way (the client reset its stream, or its deadline passed): the in-flight
/// gauge and the slots always come back, and a handler still at work learns that
/// its client has gone.
pub(super) struct Done {
    pub(super) labels: RequestLabels,
    pub(super) started: Instant,
    pub(super) metrics: Arc<Metrics>,
    pub(super) span: tracing::Span,
    /// Released when the request ends.
    pub(super) permits: Vec<OwnedSemaphorePermit>,
    /// Counted in `requests_in_flight` (refusals at the door are not).
    pub(super) counted: bool,
    /// The handler's view of whether the client still waits.
    pub(super) presence: Arc<Presence>,
    /// A response exists (its body may still be streaming).
    answered: bool,
    finished: bool,
}

impl Done {
    /// The accounting of a request that has just arrived.
    pub(super) fn new(
        labels: RequestLabels,
        metrics: Arc<Metrics>,
        span: tracing::Span,
        presence: Arc<Presence>,
    ) -> Done {
        Done {
            labels,
            started: Instant::now(),
            metrics,
            span,
            permits: Vec::new(),
            counted: false,
            presence,
            answered: false,
            finished: false,
        }
    }

    /// A trailers-only response carries its status in the headers; otherwise it
    /// comes in the trailers, seen by [`Observed`].
    pub(super) fn wrap(mut self, response: Response) -> Response {
        self.answered = true;
        if let Some(code) = grpc_status(response.headers()) {
            self.labels.code = code;
        }
        let (parts, body) = response.into_parts();
        http::Response::from_parts(
            parts,
            Body::new(Observed {
                inner: body,
                done: Some(self),
            }),
        )
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.permits.clear();
        let code = if self.labels.code.is_empty() {
            // The stream ended without a status: the client went away.
            "CANCELLED"
        } else {
            self.labels.code
        };
        let elapsed = self.started.elapsed();
        if self.counted {
            self.metrics.in_flight.dec();
        }
        self.labels.code = code;
        self.metrics
            .latency
            .get_or_create(&MethodLabels {
                service: self.labels.service,
                method: self.labels.method,
            })
            .observe(elapsed.as_secs_f64());
        self.metrics.requests.get_or_create(&self.labels).inc();
        let elapsed_ms = elapsed.as_secs_f64() * 1e3;
        self.span.in_scope(|| {
            tracing::info!(status = code, elapsed_ms, "rpc finished");
        });
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if !self.answered {
            self.presence.leave();
        }
        self.finish();
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<&'static str> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(code_name(tonic::Code::from_i32(code)))
}

/// A response body that reports the request finished when it ends.
struct Observed {
    inner: Body,
    done: Option<Done>,
}

impl Drop for Observed {
    fn drop(&mut self) {
        drop(self.done.take());
    }
}

impl HttpBody for Observed {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(done)) = (frame.trailers_ref(), self.done.as_mut())
                    && let Some(code) = grpc_status(trailers)
                {
                    done.labels.code = code;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => drop(self.done.take()),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
