//! Traces across systems (OpenTelemetry). With `[tracing] otlp_endpoint` set, the
//! request span of every call continues the W3C trace its client sent (or starts
//! one, sampled at `sampling_ratio`), its child spans (policy, cache, upstream call,
//! audit commit) follow, the trace context goes on to the national systems
//! ([`lienthong_adapters::trace`]), and the spans are exported over OTLP/gRPC in
//! batches. Unset, none of it runs: no layer, no propagator, no cost.
//!
//! Either way a request's audit record keeps its trace id: the one the gateway's
//! span has, or else the one the client's `traceparent` names, so an inspector can
//! go from a record to its trace. Spans carry no personal ID or name: their fields
//! are the request id, the agency and the method, and log events keep the personal
//! ID masked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::{Level, Subscriber};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::registry::LookupSpan;

use crate::Error;
use crate::config::TracingConfig;

/// The trace id of a request (32 lowercase hex digits), for its audit record.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

/// Whether a trace layer was built: without one, a request's trace id is read
/// from its header alone, and the propagator and span context are not asked.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How long an export may take before the batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporting side, to flush and stop at the end.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered now.
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!(error = %e, "trace export: flush failed");
        }
    }

    /// Exports what is buffered and stops exporting.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "trace export: shutdown failed");
        }
    }
}

/// The layer that makes OpenTelemetry spans of the gateway's spans (its own
/// crates' only, down to debug: the request's steps are debug spans, so that
/// without this layer a log filter at info never builds them).
pub type Layer<S> = Filtered<OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, Targets, S>;

/// The layer that exports the gateway's spans as `config` says, and what flushes
/// it; `None` when no collector is configured. Installs the W3C propagator. Must
/// be called within a Tokio runtime (the exporter's channel lives on it).
pub fn layer<S>(config: &TracingConfig) -> Result<Option<(Layer<S>, Telemetry)>, Error>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| Error::Config {
            key: "tracing.otlp_endpoint".into(),
            detail: e.to_string(),
        })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sampling_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    EXPORTING.store(true, Ordering::Relaxed);
    let tracer = provider.tracer("lienthong");
    let ours = Targets::new()
        .with_target("lienthong_gateway", Level::DEBUG)
        .with_target("lienthong_adapters", Level::DEBUG)
        .with_target("lienthong_ledger", Level::DEBUG);
    Ok(Some((
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(ours),
        Telemetry { provider },
    )))
}

/// Continues in `span` the trace `headers` carry (when traces are exported), and
/// returns the trace id its audit record keeps: the span's, or else the one the
/// client's `traceparent` names.
pub fn continue_trace(headers: &http::HeaderMap, span: &tracing::Span) -> Option<String> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return client_trace_id(headers);
    }
    let parent = lienthong_adapters::trace::extract(headers);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        return Some(id.to_string());
    }
    client_trace_id(headers)
}

/// The trace id of a well-formed version-00 `traceparent` header.
fn client_trace_id(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = value.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    well_formed.then(|| trace.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(traceparent: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", traceparent.parse().unwrap());
        h
    }

    #[test]
    fn a_clients_trace_id_is_read_from_a_well_formed_traceparent_only() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            client_trace_id(&with(&format!("00-{id}-00f067aa0ba902b7-01"))).as_deref(),
            Some(id)
        );
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "001085012345",
        ] {
            assert_eq!(client_trace_id(&with(bad)), None, "{bad}");
        }
        assert_eq!(client_trace_id(&http::HeaderMap::new()), None);
        // Without an exporting layer, the span has no trace: the client's id is kept.
        let span = tracing::info_span!("rpc");
        assert_eq!(
            continue_trace(&with(&format!("00-{id}-00f067aa0ba902b7-01")), &span).as_deref(),
            Some(id)
        );
    }
}
