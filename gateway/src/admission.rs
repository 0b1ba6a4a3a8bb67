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

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tracing::Instrument;

use crate::config::{Limits, Rate, RateLimits};
use crate::error::Shed;
use crate::metrics::{MethodLabels, Metrics, RequestLabels, ShedLabels, code_name};
use crate::reload::Current;
use crate::tls::{Peer, Trust};

/// A token bucket per agency.
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Buckets for `limits`, each starting full.
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `agency` at `now`, or says how long until one is due.
    pub fn take(&self, agency: &str, now: Instant) -> Result<(), (Rate, Duration)> {
        let rate = self.limits.of(agency);
        let burst = f64::from(rate.burst);
        let mut buckets = self.buckets.lock().expect("rate buckets");
        // The agency's code is copied once, for its first request, not for every one.
        if !buckets.contains_key(agency) {
            buckets.insert(
                agency.to_owned(),
                Bucket {
                    tokens: burst,
                    at: now,
                },
            );
        }
        let bucket = buckets.get_mut(agency).expect("inserted above");
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate.per_second;
            Err((
                rate,
                Duration::from_secs_f64(wait).max(Duration::from_millis(1)),
            ))
        }
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

/// Finishes a request's accounting when its response ends (or is dropped).
struct Done {
    labels: RequestLabels,
    started: Instant,
    metrics: Arc<Metrics>,
    span: tracing::Span,
    _permits: Vec<OwnedSemaphorePermit>,
    /// Counted in `requests_in_flight` (refusals at the door are not).
    counted: bool,
}

impl Done {
    /// A trailers-only response carries its status in the headers; otherwise it
    /// comes in the trailers, seen by [`Observed`].
    fn wrap(mut self, response: Response) -> Response {
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

    fn finish(self) {
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
        let labels = RequestLabels {
            code,
            ..self.labels
        };
        self.metrics
            .latency
            .get_or_create(&MethodLabels {
                service: labels.service.clone(),
                method: labels.method.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.metrics.requests.get_or_create(&labels).inc();
        let elapsed_ms = elapsed.as_secs_f64() * 1e3;
        self.span.in_scope(|| {
            tracing::info!(status = code, elapsed_ms, "rpc finished");
        });
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
        if let Some(done) = self.done.take() {
            done.finish();
        }
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
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(done) = self.done.take() {
                    done.finish();
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_says_when() {
        let mut limits = RateLimits {
            per_second: 10.0,
            burst: 3,
            ..RateLimits::default()
        };
        limits.agencies.insert(
            "H99.02".into(),
            Rate {
                per_second: 1.0,
                burst: 1,
            },
        );
        let r = RateLimiter::new(limits);
        let t0 = Instant::now();
        for _ in 0..3 {
            r.take("H99.01", t0).expect("the burst");
        }
        let (rate, wait) = r.take("H99.01", t0).unwrap_err();
        assert_eq!(rate.per_second, 10.0);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        r.take("H99.01", t0 + Duration::from_millis(100))
            .expect("one token after 100 ms");
        // Another agency has its own bucket, and its own rate.
        r.take("H99.02", t0).expect("its burst of one");
        let (_, wait) = r.take("H99.02", t0).unwrap_err();
        assert!(wait > Duration::from_millis(990), "{wait:?}");
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            r.take("H99.01", later).unwrap();
        }
        assert!(r.take("H99.01", later).is_err());
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/lienthong.v1.IdentityService/GetCitizen"),
            ("lienthong.v1.IdentityService".into(), "GetCitizen".into())
        );
        assert_eq!(split_path("/"), (String::new(), String::new()));
    }
}
