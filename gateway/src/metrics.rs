//! What the gateway is doing, as Prometheus metrics (`/metrics` on the admin listener).
//!
//! Labels name services, methods, agencies, status codes, adapters and reasons:
//! bounded sets, never personal data. Counters and histograms are updated where the
//! event happens; gauges that describe state (circuits, outbox, readiness) are read
//! when scraped ([`Metrics::encode`] takes a [`Snapshot`]).

use std::fmt::Write;
use std::time::Instant;

use lienthong_adapters::Error as AdapterError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry as Prometheus;

mod indicators;
mod labels;
mod measured;
mod writer;

pub use labels::{
    BadResponseLabels, CacheLabels, CheckLabels, IndicatorLabels, MethodLabels, OperationLabels,
    ReasonLabels, ReloadLabels, RequestLabels, ShedLabels, UpstreamLabels, UpstreamName,
};
pub use measured::Measured;
pub use writer::AuditMetrics;

/// Latency buckets in seconds: 100 µs to about 26 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// A family of latency histograms.
type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// State read at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Circuit state per upstream: 0 closed, 1 half-open, 2 open.
    pub circuits: Vec<(&'static str, i64)>,
    /// Entries waiting in the outbox.
    pub outbox_depth: u64,
    /// Age of the oldest waiting entry, in seconds (0 when empty).
    pub outbox_oldest_seconds: f64,
    /// Dead letters waiting for an operator.
    pub outbox_dead: u64,
    /// Free bytes on the data dir's file system.
    pub disk_free_bytes: u64,
    /// 0 ample, 1 below the soft threshold, 2 below the hard one.
    pub disk_level: i64,
    /// Readiness checks: name and whether it passes.
    pub checks: Vec<(&'static str, bool)>,
    /// The audit log's witnesses, when it has any: the tree size of the newest
    /// checkpoint cosigned by their quorum, that of the latest checkpoint, and the
    /// lag between them in seconds.
    pub witnesses: Option<(u64, u64, i64)>,
}

/// Every metric of a running gateway.
pub struct Metrics {
    registry: Prometheus,
    /// Requests finished, by service, method, agency and status code.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency (until the response ended), by service and method.
    pub latency: Latencies<MethodLabels>,
    /// Requests in flight.
    pub in_flight: Gauge,
    /// Requests refused before their handler (limits, revocation).
    pub shed: Family<ShedLabels, Counter>,
    /// Open client connections.
    pub connections: Gauge,
    /// Connections closed at once because `limits.max_connections` were open.
    pub connections_refused: Counter,
    /// TLS handshakes that failed, by reason.
    pub handshake_failures: Family<ReasonLabels, Counter>,
    /// Upstream calls, by adapter, operation and outcome.
    pub upstream: Family<UpstreamLabels, Counter>,
    /// Upstream latency, by adapter and operation.
    pub upstream_latency: Latencies<OperationLabels>,
    /// Upstream answers refused as bad, by adapter and cause.
    pub bad_responses: Family<BadResponseLabels, Counter>,
    /// Lookups by how the cache served them.
    pub cache: Family<CacheLabels, Counter>,
    /// The audit writer.
    pub audit: AuditMetrics,
    /// Reloads, by component and outcome.
    pub reloads: Family<ReloadLabels, Counter>,
    circuits: Family<UpstreamName, Gauge>,
    outbox_depth: Gauge,
    outbox_oldest: Gauge<f64, std::sync::atomic::AtomicU64>,
    outbox_dead: Gauge,
    disk_free: Gauge,
    disk_level: Gauge,
    witness_cosigned: Gauge,
    witness_latest: Gauge,
    witness_lag: Gauge,
    checks: Family<CheckLabels, Gauge>,
    indicators: Family<IndicatorLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(AuditMetrics::default())
    }
}

impl Metrics {
    /// The metrics, registered; `audit` is the writer's (its clones share the values).
    pub fn new(audit: AuditMetrics) -> Metrics {
        let mut registry = Prometheus::with_prefix("lienthong");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency),
            in_flight: Gauge::default(),
            shed: Family::default(),
            connections: Gauge::default(),
            connections_refused: Counter::default(),
            handshake_failures: Family::default(),
            upstream: Family::default(),
            upstream_latency: Family::new_with_constructor(latency),
            bad_responses: Family::default(),
            cache: Family::default(),
            audit,
            reloads: Family::default(),
            circuits: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_oldest: Gauge::default(),
            outbox_dead: Gauge::default(),
            disk_free: Gauge::default(),
            disk_level: Gauge::default(),
            witness_cosigned: Gauge::default(),
            witness_latest: Gauge::default(),
            witness_lag: Gauge::default(),
            checks: Family::default(),
            indicators: Family::default(),
            registry: Prometheus::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "gRPC requests finished, by service, method, agency and status code",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "gRPC request latency until the response ended",
            m.latency.clone(),
        );
        r.register(
            "requests_in_flight",
            "gRPC requests in flight (open streams count)",
            m.in_flight.clone(),
        );
        r.register(
            "requests_shed",
            "requests refused before their handler: rate limit, load shedding, revocation",
            m.shed.clone(),
        );
        r.register(
            "connections_open",
            "open client connections (TLS established)",
            m.connections.clone(),
        );
        r.register(
            "connections_refused",
            "connections closed at once because limits.max_connections were open",
            m.connections_refused.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "TLS handshakes refused or failed, by reason",
            m.handshake_failures.clone(),
        );
        r.register(
            "upstream_requests",
            "calls to national systems, by adapter, operation and outcome",
            m.upstream.clone(),
        );
        r.register(
            "upstream_duration_seconds",
            "latency of calls to national systems",
            m.upstream_latency.clone(),
        );
        r.register(
            "upstream_bad_responses",
            "answers of national systems refused as bad (too large, malformed, another \
             record, hidden text…), by adapter and cause",
            m.bad_responses.clone(),
        );
        r.register(
            "circuit_state",
            "circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
            m.circuits.clone(),
        );
        r.register(
            "cache_lookups",
            "lookups by how the cache served them",
            m.cache.clone(),
        );
        r.register(
            "audit_batch_records",
            "audit records per durable commit (group commit)",
            m.audit.batch.clone(),
        );
        r.register(
            "audit_flush_duration_seconds",
            "time to write and fsync one audit batch",
            m.audit.flush.clone(),
        );
        r.register(
            "audit_commit_failures",
            "audit commits that failed; the requests in them were refused",
            m.audit.failures.clone(),
        );
        r.register(
            "outbox_depth",
            "dossier revisions waiting for delivery to the portal",
            m.outbox_depth.clone(),
        );
        r.register(
            "outbox_oldest_pending_seconds",
            "age of the oldest revision waiting for delivery",
            m.outbox_oldest.clone(),
        );
        r.register(
            "outbox_dead_letters",
            "revisions the portal refused for good, waiting for an operator",
            m.outbox_dead.clone(),
        );
        r.register(
            "disk_free_bytes",
            "free bytes on the data dir's file system",
            m.disk_free.clone(),
        );
        r.register(
            "disk_level",
            "0 ample, 1 below disk.soft_free_mb (degraded), 2 below disk.hard_free_mb (refusing)",
            m.disk_level.clone(),
        );
        r.register(
            "audit_witness_cosigned_tree_size",
            "tree size of the newest checkpoint cosigned by the quorum of witnesses (0: none)",
            m.witness_cosigned.clone(),
        );
        r.register(
            "audit_checkpoint_tree_size",
            "tree size of the latest signed checkpoint",
            m.witness_latest.clone(),
        );
        r.register(
            "audit_witness_lag_seconds",
            "how long before the latest checkpoint the newest cosigned one was signed",
            m.witness_lag.clone(),
        );
        r.register(
            "reloads",
            "reloads of certificates and policy, by component and outcome",
            m.reloads.clone(),
        );
        r.register(
            "ready",
            "readiness checks: 1 passing, 0 failing",
            m.checks.clone(),
        );
        r.register(
            "dossier_indicator",
            "QĐ 766/QĐ-TTg indicators of this month's dossiers (Vietnam time), per agency \
             and in total (agency=\"all\"): received (Số hồ sơ tiếp nhận), online_rate \
             (Tỷ lệ hồ sơ trực tuyến), on_time_rate (Tỷ lệ hồ sơ xử lý trước hạn, đúng \
             hạn), in_progress_overdue (Đang giải quyết quá hạn), sync_rate (Tỷ lệ hồ sơ \
             đồng bộ lên Cổng DVCQG), oldest_unsynced_seconds, and the other counts",
            m.indicators.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The metrics in the OpenMetrics text format, with `state` as of now.
    pub fn encode(&self, state: &Snapshot) -> String {
        for (upstream, value) in &state.circuits {
            self.circuits
                .get_or_create(&UpstreamName { upstream })
                .set(*value);
        }
        self.outbox_depth.set(state.outbox_depth as i64);
        self.outbox_oldest.set(state.outbox_oldest_seconds);
        self.outbox_dead.set(state.outbox_dead as i64);
        self.disk_free
            .set(state.disk_free_bytes.min(i64::MAX as u64) as i64);
        self.disk_level.set(state.disk_level);
        if let Some((cosigned, latest, lag)) = state.witnesses {
            self.witness_cosigned.set(cosigned as i64);
            self.witness_latest.set(latest as i64);
            self.witness_lag.set(lag);
        }
        for (check, ok) in &state.checks {
            self.checks
                .get_or_create(&CheckLabels { check })
                .set(i64::from(*ok));
        }
        let mut text = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            let _ = writeln!(text, "# encoding failed");
        }
        text
    }

    /// Counts an upstream answer refused as bad.
    pub fn bad_response(&self, adapter: &'static str, cause: lienthong_adapters::BadResponse) {
        self.bad_responses
            .get_or_create(&BadResponseLabels {
                adapter,
                cause: cause.as_str(),
            })
            .inc();
    }

    /// Counts one upstream call that took since `started`.
    pub fn upstream_call<T>(
        &self,
        adapter: &'static str,
        operation: &'static str,
        started: Instant,
        result: &Result<T, AdapterError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(AdapterError::NotFound { .. }) => "not_found",
            Err(AdapterError::Unavailable { .. }) => "unavailable",
            Err(AdapterError::Timeout { .. }) => "timeout",
            Err(AdapterError::Busy { .. }) => "busy",
            Err(AdapterError::Protocol { cause, .. }) => {
                self.bad_response(adapter, *cause);
                "protocol"
            }
            Err(AdapterError::Refused { .. }) => "refused",
            Err(AdapterError::Rejected { .. }) => "rejected",
        };
        self.upstream
            .get_or_create(&UpstreamLabels {
                adapter,
                operation,
                outcome,
            })
            .inc();
        self.upstream_latency
            .get_or_create(&OperationLabels { adapter, operation })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The canonical name of a gRPC status code, as the gRPC spec writes it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
