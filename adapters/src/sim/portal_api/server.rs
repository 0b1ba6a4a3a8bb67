//! The portal simulator's HTTP side: its routes over the [`Portal`] state, behind
//! the credentials and faults every simulator shares.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{Portal, Stats};
use crate::national::{self as schema, Token, TokenRequest};
use crate::portal::schema::{DanhSachTrucTuyen, HoSo, KetQuaDongBo};
use crate::sim::Faults;
use crate::sim::gate::{Answer, Credentials, Gate, fail, ok};
use crate::sim::http::Http;

struct Shared {
    gate: Gate,
    portal: Arc<Portal>,
}

/// A running portal simulator; [`Server::stop`] stops it, its [`Portal`] lives on.
pub struct Server {
    http: Http,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `listen` and serves `portal` until stopped.
    pub async fn start(
        listen: SocketAddr,
        credentials: Credentials,
        faults: Arc<Faults>,
        portal: Arc<Portal>,
    ) -> std::io::Result<Server> {
        let shared = Arc::new(Shared {
            gate: Gate::new(credentials, faults),
            portal,
        });
        let router = Router::new()
            .route("/api/dvcqg/xacthuc", post(token))
            .route("/api/dvcqg/hoso/dongbo", post(sync))
            .route("/api/dvcqg/hoso/tructuyen", get(feed))
            .route("/healthz", get(|| async { "ok" }))
            .route("/sim/stats", get(stats))
            .with_state(shared.clone());
        let http = Http::serve(listen, router, shared.gate.faults().clone(), "portal").await?;
        Ok(Server { http, shared })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The faults it injects.
    pub fn faults(&self) -> &Arc<Faults> {
        self.shared.gate.faults()
    }

    /// The portal behind it.
    pub fn portal(&self) -> &Arc<Portal> {
        &self.shared.portal
    }

    /// Stops accepting, closes connections and waits for the server to end.
    pub async fn stop(self) -> std::io::Result<()> {
        self.http.stop().await
    }

    /// Serves until the process ends.
    pub async fn wait(self) -> std::io::Result<()> {
        self.http.wait().await
    }
}

async fn stats(State(s): State<Arc<Shared>>) -> Json<Stats> {
    Json(s.portal.stats())
}

async fn token(State(s): State<Arc<Shared>>, Json(req): Json<TokenRequest>) -> Answer<Token> {
    s.gate.token(&req)
}

async fn sync(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(h): Json<HoSo>,
) -> Answer<KetQuaDongBo> {
    if let Err(refused) = s.gate.admit(&headers).await {
        return refused;
    }
    match s.portal.sync(h) {
        Ok(done) => ok(done),
        Err((status, code, message)) => fail(status, code, &message),
    }
}

/// The feed's query string.
#[derive(Deserialize)]
struct FeedQuery {
    #[serde(rename = "MaDonVi")]
    unit: String,
    #[serde(rename = "SauConTro", default)]
    after: String,
    #[serde(rename = "SoLuong", default)]
    limit: Option<usize>,
}

async fn feed(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
) -> Answer<DanhSachTrucTuyen> {
    if let Err(refused) = s.gate.admit(&headers).await {
        return refused;
    }
    let after = if q.after.is_empty() {
        Ok(0)
    } else {
        q.after.parse::<usize>()
    };
    match after {
        Ok(after) => {
            let mut page = s
                .portal
                .feed(&q.unit, after, q.limit.unwrap_or(100).clamp(1, 1000));
            let faults = s.gate.faults();
            for item in &mut page.items {
                let name = std::mem::take(&mut item.dossier.applicant_name);
                item.dossier.applicant_name = faults.written(name);
            }
            ok(page)
        }
        Err(_) => fail(
            StatusCode::BAD_REQUEST,
            schema::BAD_REQUEST,
            "SauConTro không hợp lệ",
        ),
    }
}
