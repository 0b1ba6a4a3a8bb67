//! W3C trace context (`traceparent`, `tracestate`) across the gateway: read from
//! a request's headers, written into the headers of REST calls and the metadata
//! of gRPC calls to the national systems, for the span the call is made in.
//!
//! It goes through the process's OpenTelemetry propagator: the gateway installs
//! the W3C one when it exports traces (`[tracing]`); otherwise the propagator is
//! the no-op default and nothing is read or written.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context `headers` carry, if the propagator reads one.
pub fn extract(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)))
}

/// `request` with the current span's trace context in its headers.
pub fn inject_http(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let mut headers = HeaderMap::new();
    inject(&mut HeadersMut(&mut headers));
    request.headers(headers)
}

/// The current span's trace context into gRPC `metadata`.
pub fn inject_grpc(metadata: &mut tonic::metadata::MetadataMap) {
    inject(&mut Metadata(metadata));
}

fn inject(into: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, into));
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(name, value);
        }
    }
}
