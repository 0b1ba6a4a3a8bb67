//! The door every gRPC request passes before its handler: a span for its log lines,
//! its metrics, and the limits that keep one client from starving the others.
//!
//! In order: a deadline shorter than the gateway can answer in is refused
//! (`DEADLINE_EXCEEDED DEADLINE_TOO_SHORT`); a certificate revoked since its
//! connection opened is refused (`UNAUTHENTICATED CERTIFICATE_REVOKED`); an agency
//! over its rate is refused (`RESOURCE_EXHAUSTED RATE_LIMITED` with a `RetryInfo`
//! saying when a token is due); beyond the global, the connection's or the agency's
//! in-flight limit — streams against the agency's own stream limit — the request is
//! shed at once (`OVERLOADED`, `CONNECTION_OVERLOADED`, `AGENCY_OVERLOADED`,
//! `TOO_MANY_STREAMS`) rather than queued. Every path pays its agency's rate, served
//! or not. Only health and reflection pass without limits, so that probes keep
//! working under load. A refusal here reaches no handler and no data, so it is
//! logged and counted (`lienthong_requests_shed`) but not audited.
//!
//! Every request, refused or served, is counted by service, method, agency and status
//! code when its response ends (or when its client goes), and timed from arrival to
//! that end. A path that is not served is counted as `unknown`, so no client can
//! grow the label set. The handler, which runs detached, learns through the
//! request's [`Presence`] whether its client is still there.

mod agency;
pub mod known;
mod observe;
mod rate;
mod undecodable;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tracing::Instrument;

pub use agency::{Agencies, Full};
pub use rate::RateLimiter;

use known::UNKNOWN;
use observe::Done;

use crate::config::Limits;
use crate::error::Shed;
use crate::metrics::{Metrics, RequestLabels, ShedLabels};
use crate::reload::Current;
use crate::tls::{Peer, Trust};

/// Whether a request's client still waits for its answer. The door's future is
/// dropped when the client goes (it reset its stream, or its deadline passed); the
/// handler, running detached, reads this before it writes its audit record, so
/// that the record says whether the answer could still be delivered.
#[derive(Debug, Default)]
pub struct Presence(AtomicBool);

impl Presence {
    /// True once the client has gone.
    pub fn gone(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn leave(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What the door needs, shared by every connection.
pub struct Admission {
    metrics: Arc<Metrics>,
    trust: Arc<Current<Trust>>,
    rates: RateLimiter,
    global: Arc<Semaphore>,
    max_in_flight: usize,
    per_connection: usize,
    agencies: Agencies,
    min_deadline: Duration,
    /// Where a request that could not even be decoded is recorded.
    audit: Option<Arc<crate::audit::Log>>,
}

impl Admission {
    /// The door for `limits`, checking revocation against `trust`; `audit` records
    /// the requests the codec could not decode.
    pub fn new(
        limits: &Limits,
        metrics: Arc<Metrics>,
        trust: Arc<Current<Trust>>,
        audit: Option<Arc<crate::audit::Log>>,
    ) -> Admission {
        Admission {
            metrics,
            trust,
            rates: RateLimiter::new(limits.rate.clone()),
            global: Arc::new(Semaphore::new(limits.max_in_flight)),
            max_in_flight: limits.max_in_flight,
            per_connection: limits.max_in_flight_per_connection,
            agencies: Agencies::new(limits),
            min_deadline: limits.min_client_deadline,
            audit,
        }
    }

    /// Lets `peer`'s request in (holding its slots), or says why not; `stream`
    /// counts it against the agency's streams rather than its calls.
    fn admit(&self, peer: &Peer, stream: bool) -> Result<Vec<OwnedSemaphorePermit>, Shed> {
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
        let own = self
            .agencies
            .take(agency, stream)
            .map_err(|full| match full {
                Full::Calls(limit) => Shed::AgencyOverloaded {
                    agency: agency.to_owned(),
                    limit,
                },
                Full::Streams(limit) => Shed::TooManyStreams {
                    agency: agency.to_owned(),
                    limit,
                },
            })?;
        Ok(vec![global, connection, own])
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

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let served = known::served().get(request.uri().path());
        let (service, method) = served.map_or((UNKNOWN, UNKNOWN), |m| (m.service, m.method));
        let exempt = served.is_some_and(|m| m.exempt);
        let stream = served.is_some_and(|m| m.streams);
        let peer = request.extensions().get::<Arc<Peer>>().cloned();
        let agency = peer
            .as_ref()
            .map_or_else(String::new, |p| p.agency.as_str().to_owned());
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let span = tracing::info_span!("rpc", %request_id, %agency, %service, %method);
        if let Some(trace) = crate::telemetry::continue_trace(request.headers(), &span) {
            request
                .extensions_mut()
                .insert(crate::telemetry::TraceId(trace));
        }
        let admission = self.admission.clone();
        let presence = Arc::new(Presence::default());
        request.extensions_mut().insert(presence.clone());
        let labels = RequestLabels {
            service,
            method,
            agency,
            code: "",
        };
        let mut done = Done::new(labels, admission.metrics.clone(), span.clone(), presence);
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let admitted = match (&peer, exempt) {
            (Some(_), false) if deadline.is_some_and(|d| d < admission.min_deadline) => {
                Err(Shed::DeadlineTooShort {
                    asked: deadline.unwrap_or_default(),
                    min: admission.min_deadline,
                })
            }
            (Some(peer), false) => admission.admit(peer, stream),
            _ => Ok(Vec::new()),
        };
        let permits = match admitted {
            Ok(permits) => permits,
            Err(shed) => {
                let reason = shed.reason();
                let remote = peer.as_ref().map(|p| p.remote);
                span.in_scope(|| {
                    tracing::warn!(?remote, reason, error = %shed, "request refused at the door");
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
        done.permits = permits;
        done.counted = true;
        let call = self.inner.call(request).instrument(span);
        Box::pin(async move {
            let response = call.await?;
            let response = match (undecodable::detect(&response), &peer) {
                (true, Some(peer)) => {
                    let at = undecodable::Request {
                        peer,
                        service,
                        method,
                        request_id: &request_id,
                    };
                    undecodable::answer(admission.audit.as_deref(), at).await
                }
                _ => response,
            };
            Ok(done.wrap(response))
        })
    }
}

/// Parses the `grpc-timeout` header: an integer of at most 8 digits and a unit.
pub fn grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (amount, unit) = value.split_at(value.len() - 1);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header() {
        assert_eq!(grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(
            grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(grpc_timeout(bad), None, "{bad}");
        }
    }
}
