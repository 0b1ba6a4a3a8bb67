//! The door every gRPC request passes before its handler: a span for its log lines,
//! its metrics, and the limits that keep one client from starving the others.
//!
//! In order: a certificate revoked since its connection opened is refused
//! (`UNAUTHENTICATED CERTIFICATE_REVOKED`); an agency over its rate is refused
//! (`RESOURCE_EXHAUSTED RATE_LIMITED` with a `RetryInfo` saying when a token is due);
//! beyond the global or the connection's in-flight limit, the request is shed at once
//! (`RESOURCE_EXHAUSTED OVERLOADED` / `CONNECTION_OVERLOADED`) rather than queued.
//! The health and reflection services pass without limits, so that probes keep
//! working under load. A refusal here reaches no handler and no data, so it is
//! logged and counted (`lienthong_requests_shed`) but not audited.
//!
//! Every request, refused or served, is counted by service, method, agency and status
//! code when its response ends, and timed from arrival to that end.

mod observe;
mod rate;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tracing::Instrument;

pub use rate::RateLimiter;

use observe::Done;

use crate::config::Limits;
use crate::error::Shed;
use crate::metrics::{Metrics, RequestLabels, ShedLabels};
use crate::reload::Current;
use crate::tls::{Peer, Trust};

/// What the door needs, shared by every connection.
pub struct Admission {
    metrics: Arc<Metrics>,
    trust: Arc<Current<Trust>>,
    rates: RateLimiter,
    global: Arc<Semaphore>,
    max_in_flight: usize,
    per_connection: usize,
}

impl Admission {
    /// The door for `limits`, checking revocation against `trust`.
    pub fn new(limits: &Limits, metrics: Arc<Metrics>, trust: Arc<Current<Trust>>) -> Admission {
        Admission {
            metrics,
            trust,
            rates: RateLimiter::new(limits.rate.clone()),
            global: Arc::new(Semaphore::new(limits.max_in_flight)),
            max_in_flight: limits.max_in_flight,
            per_connection: limits.max_in_flight_per_connection,
        }
    }

    /// Lets `peer`'s request in (holding its slots), or says why not.
    fn admit(&self, peer: &Peer) -> Result<Vec<OwnedSemaphorePermit>, Shed> {
        if self.trust.get().revoked.contains(&peer.serial) {
            return Err(Shed::Revoked);
        }
        let agency = peer.agency.as_str();
        self.rates
            .take(agency, Instant::now())
            .map_err(|(rate, retry)| Shed::RateLimited {
                agency: agency.to_owned(),
                per_second: rate.per_second.to_string(),
                retry,
            })?;
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| Shed::Overloaded(self.max_in_flight))?;
        let connection = peer
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Shed::ConnectionOverloaded(self.per_connection))?;
        Ok(vec![global, connection])
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct Layer(pub Arc<Admission>);

impl<S> tower::Layer<S> for Layer {
    type Service = Door<S>;

    fn layer(&self, inner: S) -> Door<S> {
        Door {
            inner,
            admission: self.0.clone(),
        }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct Door<S> {
    inner: S,
    admission: Arc<Admission>,
}

type Response = http::Response<Body>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Door<S>
where
    S: tower::Service<http::Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let (service, method) = split_path(request.uri().path());
        let peer = request.extensions().get::<Arc<Peer>>().cloned();
        let agency = peer
            .as_ref()
            .map_or_else(String::new, |p| p.agency.as_str().to_owned());
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let span = tracing::info_span!("rpc", %request_id, %agency, %service, %method);
        let admission = self.admission.clone();
        let done = Done {
            labels: RequestLabels {
                service,
                method,
                agency,
                code: "",
            },
            started,
            metrics: admission.metrics.clone(),
            span: span.clone(),
            _permits: Vec::new(),
            counted: false,
        };
        let governed = done.labels.service.starts_with("lienthong.");
        let permits = match (&peer, governed) {
            (Some(peer), true) => admission.admit(peer).map_err(|shed| (shed, peer)),
            _ => Ok(Vec::new()),
        };
        let permits = match permits {
            Ok(permits) => permits,
            Err((shed, peer)) => {
                let reason = shed.reason();
                span.in_scope(|| {
                    tracing::warn!(remote = %peer.remote, reason, error = %shed, "request refused at the door");
                });
                admission
                    .metrics
                    .shed
                    .get_or_create(&ShedLabels {
                        reason,
                        agency: done.labels.agency.clone(),
                    })
                    .inc();
                let response: Response = tonic::Status::from(crate::Error::Shed(shed)).into_http();
                return Box::pin(async move { Ok(done.wrap(response)) });
            }
        };
        admission.metrics.in_flight.inc();
        let done = Done {
            _permits: permits,
            counted: true,
            ..done
        };
        let call = self.inner.call(request).instrument(span);
        Box::pin(async move {
            let response = call.await;
            Ok(done.wrap(response?))
        })
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    (service.to_owned(), method.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/lienthong.v1.IdentityService/GetCitizen"),
            ("lienthong.v1.IdentityService".into(), "GetCitizen".into())
        );
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }
}
