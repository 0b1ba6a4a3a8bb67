//! The population simulator as a real HTTP server speaking the national REST/JSON
//! schema ([`crate::population::schema`]).
//!
//! `POST /api/v1/xacthuc/token` trades credentials for a bearer token;
//! `POST /api/v1/congdan/tracuu` and `POST /api/v1/cutru/tracuu` look a citizen or a
//! residence up by personal ID. Outcomes travel in the envelope's result code
//! (201 not found, 400 bad request, 401 bad token, 500 system error, 503 maintenance),
//! with the HTTP status a national gateway would send alongside.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use lienthong_proto::PersonalId;
use serde::Serialize;

pub use super::gate::Credentials;
use super::gate::{Answer, Gate, fail, ok};
use super::http::Http;
use super::{Faults, citizens, today};
use crate::national::{self as national, Token, TokenRequest};
use crate::population::schema::{CongDan, CuTru, Lookup};

struct Shared {
    gate: Gate,
    /// The W3C `traceparent` of the latest lookups (at most [`TRACES`]), as a
    /// national system's access log keeps them: what joins its side to a trace.
    traces: Arc<Mutex<VecDeque<String>>>,
}

/// Trace contexts remembered.
const TRACES: usize = 256;

/// A running simulator; dropping it does not stop it, [`Server::stop`] does.
pub struct Server {
    http: Http,
    faults: Arc<Faults>,
    traces: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Binds `listen` and serves until stopped.
    pub async fn start(
        listen: SocketAddr,
        credentials: Credentials,
        faults: Arc<Faults>,
    ) -> std::io::Result<Server> {
        let traces = Arc::new(Mutex::new(VecDeque::new()));
        let shared = Arc::new(Shared {
            gate: Gate::new(credentials, faults.clone()),
            traces: traces.clone(),
        });
        let router = Router::new()
            .route("/api/v1/xacthuc/token", post(token))
            .route("/api/v1/congdan/tracuu", post(citizen))
            .route("/api/v1/cutru/tracuu", post(residence))
            .route("/healthz", get(|| async { "ok" }))
            .with_state(shared);
        let http = Http::serve(listen, router, faults.clone(), "population").await?;
        Ok(Server {
            http,
            faults,
            traces,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The `traceparent` headers of the latest lookups, oldest first.
    pub fn traceparents(&self) -> Vec<String> {
        self.traces
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The faults it injects; change them at run time.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
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

async fn token(State(s): State<Arc<Shared>>, Json(req): Json<TokenRequest>) -> Answer<Token> {
    s.gate.token(&req)
}

/// Authenticates, injects faults and parses the personal ID shared by both lookups.
async fn admit<T>(s: &Shared, headers: &HeaderMap, req: &Lookup) -> Result<PersonalId, Answer<T>> {
    s.gate.admit(headers).await?;
    if let Some(trace) = headers.get("traceparent").and_then(|v| v.to_str().ok())
        && let Ok(mut traces) = s.traces.lock()
    {
        if traces.len() == TRACES {
            traces.pop_front();
        }
        traces.push_back(trace.to_owned());
    }
    PersonalId::parse(&req.personal_id).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            national::BAD_REQUEST,
            &format!("SoDinhDanh {e}"),
        )
    })
}

fn found<T: Serialize>(record: Option<T>) -> Answer<T> {
    match record {
        Some(r) => ok(r),
        None => fail(
            StatusCode::OK,
            national::NOT_FOUND,
            "Không tìm thấy thông tin công dân",
        ),
    }
}

async fn citizen(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(req): Json<Lookup>,
) -> Answer<CongDan> {
    match admit(&s, &headers, &req).await {
        Ok(id) => found(
            citizens::citizen(&id, today())
                .map(|c| s.gate.faults().citizen(c))
                .as_ref()
                .map(CongDan::from),
        ),
        Err(answer) => answer,
    }
}

async fn residence(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(req): Json<Lookup>,
) -> Answer<CuTru> {
    match admit(&s, &headers, &req).await {
        Ok(id) => found(citizens::residence(&id, today()).as_ref().map(CuTru::from)),
        Err(answer) => answer,
    }
}
