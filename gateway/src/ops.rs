//! The admin listener: plain HTTP for the operations team's tools, never for agencies.
//!
//! - `/metrics`: Prometheus (OpenMetrics text);
//! - `/healthz`: 200 while the process answers (liveness);
//! - `/readyz`: 200 when every readiness check passes, else 503; the body is the
//!   report as JSON (see [`crate::health`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::breaker::State as Circuit;
use crate::cache::Cache;
use crate::health::Readiness;
use crate::metrics::{Metrics, Snapshot};
use crate::sync::Dossiers;

/// What the listener reads.
#[derive(Clone)]
pub struct Sources {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The readiness checks' last report.
    pub readiness: Arc<Readiness>,
    /// For the circuit state.
    pub cache: Arc<Cache>,
    /// For the outbox gauges.
    pub dossiers: Arc<Dossiers>,
    /// For free space.
    pub disk: Arc<crate::disk::Disk>,
    /// The population adapter's name.
    pub upstream: &'static str,
}

impl Sources {
    /// The state gauges as of now.
    async fn snapshot(&self) -> Snapshot {
        let circuit = match self.cache.breaker().state() {
            Circuit::Closed => 0,
            Circuit::HalfOpen => 1,
            Circuit::Open => 2,
        };
        let depth = self.dossiers.store.outbox_depth().await.unwrap_or_default();
        let now = crate::clock::now_micros();
        Snapshot {
            circuits: vec![(self.upstream, circuit)],
            outbox_depth: depth.waiting,
            outbox_oldest_seconds: depth
                .oldest
                .map_or(0.0, |at| (now - at).max(0) as f64 / 1e6),
            outbox_dead: depth.dead,
            disk_free_bytes: self.disk.free(),
            disk_level: self.disk.level() as i64,
            checks: self
                .readiness
                .report
                .get()
                .checks
                .iter()
                .map(|c| (c.name, c.ok))
                .collect(),
            witnesses: self
                .readiness
                .report
                .get()
                .witnesses
                .as_ref()
                .map(|w| (w.cosigned, w.latest, w.lag_seconds)),
        }
    }
}

async fn metrics(State(sources): State<Sources>) -> impl IntoResponse {
    let snapshot = sources.snapshot().await;
    let text = tokio::task::spawn_blocking(move || sources.metrics.encode(&snapshot))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn readyz(State(sources): State<Sources>) -> impl IntoResponse {
    let report = sources.readiness.report.get();
    let code = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(report.as_ref().clone()))
}

/// Binds `addr` and serves until `shutdown`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    sources: Sources,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Error> {
    let listen = |source| Error::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen)?;
    let bound = listener.local_addr().map_err(listen)?;
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(sources);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    tracing::info!(addr = %bound, "admin listener (metrics, healthz, readyz)");
    Ok(bound)
}
