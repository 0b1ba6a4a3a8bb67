//! A simulator's HTTP server: bound, serving a router in its own task, stopped on
//! demand (closing connections), or served until the process ends.
//!
//! Every simulator also gets its faults' wire-level misbehaviours
//! ([`Misbehaviour`]) on its API routes, and `GET`/`PUT /sim/faults` to read and
//! change its faults while it runs (`{"latency_ms": 2000, "error_rate": 0.1,
//! "down": false, "misbehaviour": "cut"}`, every key optional).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Faults, Misbehaviour};

/// A running HTTP server; dropping it does not stop it, [`Http::stop`] does.
pub struct Http {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Http {
    /// Binds `listen` and serves `router`, misbehaving as `faults` say, until
    /// stopped; `name` is for the log.
    pub async fn serve(
        listen: SocketAddr,
        router: Router,
        faults: Arc<Faults>,
        name: &str,
    ) -> std::io::Result<Http> {
        let router = router
            .layer(middleware::from_fn_with_state(faults.clone(), misbehave))
            .merge(
                Router::new()
                    .route("/sim/faults", get(read_faults).put(change_faults))
                    .with_state(faults),
            );
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "{name} simulator listening");
        Ok(Http { addr, stop, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes connections and waits for the server to end.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }

    /// Serves until the process ends.
    pub async fn wait(self) -> std::io::Result<()> {
        let _keep_open = self.stop;
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// The faults as `/sim/faults` shows them and takes them (every key optional).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// Added to every answer, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Share of calls (0.0–1.0) that fail with a system error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// In maintenance: every call fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<bool>,
    /// A wire-level misbehaviour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub misbehaviour: Option<Misbehaviour>,
}

impl FaultSettings {
    fn of(faults: &Faults) -> FaultSettings {
        FaultSettings {
            latency_ms: Some(faults.latency().as_millis() as u64),
            error_rate: Some(faults.error_rate()),
            down: Some(faults.is_down()),
            misbehaviour: Some(faults.misbehaviour()),
        }
    }
}

async fn read_faults(State(faults): State<Arc<Faults>>) -> Json<FaultSettings> {
    Json(FaultSettings::of(&faults))
}

async fn change_faults(
    State(faults): State<Arc<Faults>>,
    Json(change): Json<FaultSettings>,
) -> Result<Json<FaultSettings>, (StatusCode, String)> {
    if let Some(rate) = change.error_rate.filter(|r| !(0.0..=1.0).contains(r)) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("error_rate {rate}: must be within 0.0 and 1.0"),
        ));
    }
    if let Some(ms) = change.latency_ms {
        faults.set_latency(Duration::from_millis(ms));
    }
    if let Some(rate) = change.error_rate {
        faults.set_error_rate(rate);
    }
    if let Some(down) = change.down {
        faults.set_down(down);
    }
    if let Some(how) = change.misbehaviour {
        faults.set_misbehaviour(how);
    }
    tracing::warn!(faults = ?FaultSettings::of(&faults), "simulator faults changed");
    Ok(Json(FaultSettings::of(&faults)))
}

/// True for a call of the portal's integration endpoint that only reads (a lookup,
/// the catalogue, the feed): its lost answer would lose no work.
fn portal_read(body: &[u8]) -> bool {
    use crate::portal::wire;
    #[derive(serde::Deserialize)]
    struct Service {
        service: String,
    }
    serde_json::from_slice::<Service>(body)
        .is_ok_and(|c| [wire::LOOKUP, wire::PROCEDURE, wire::ONLINE].contains(&c.service.as_str()))
}

/// The wire-level misbehaviours, on every route but the simulator's own. The two
/// that do the work and lose its answer (malformed, cut) spare the portal's reads,
/// which every delivery makes first: they lose the answer of a write.
async fn misbehave(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path.starts_with("/sim/") {
        return next.run(request).await;
    }
    let how = faults.misbehaviour();
    let request = if matches!(how, Misbehaviour::Malformed | Misbehaviour::Cut)
        && request.method() == axum::http::Method::POST
    {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 4 << 20).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        if portal_read(&bytes) {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    match how {
        // Text is written by the handlers.
        Misbehaviour::None | Misbehaviour::LegacyText => next.run(request).await,
        // The call is taken and never answered.
        Misbehaviour::Hang => std::future::pending().await,
        Misbehaviour::Malformed => {
            // The work is done; its answer is lost in a garbled body.
            drop(next.run(request).await);
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"MaKetQua":0,"ThongDiep":"Thành công","DuLieu":{"#,
            )
                .into_response()
        }
        Misbehaviour::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>500 Internal Server Error</h1><hr>nginx</body></html>",
        )
            .into_response(),
        Misbehaviour::Cut => {
            // The work is done and the answer begun; then the connection is cut.
            let (mut parts, _) = next.run(request).await.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            let cut = tokio_stream::iter([
                Ok(Bytes::from_static(b"{\"MaKetQua\":0,")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated cut",
                )),
            ]);
            Response::from_parts(parts, Body::from_stream(cut))
        }
    }
}
