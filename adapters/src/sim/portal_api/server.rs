//! The portal simulator's HTTP side: login for a session, the integration endpoint,
//! and what the portal enforces before it serves a call ([`Rules`]): its maintenance
//! window and its quota (HTTP 503 and 429 with `Retry-After`), the session's
//! lifetime, the unit calling, and the faults every simulator injects.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, extract::State};
use serde::Serialize;

use super::{Portal, Stats, catalogue};
use crate::portal::dvcqg::{CALL_PATH, LOGIN_PATH};
use crate::portal::wire::{self, Call, Login, Reply};
use crate::sim::gate::Credentials;
use crate::sim::{Faults, Injected};

/// What the portal enforces; change it through [`Portal::rules`].
#[derive(Debug, Clone)]
pub struct Rules {
    /// How long a session lasts after the login.
    pub session_ttl: Duration,
    /// At most this many integration calls per window (`None`: no quota).
    pub quota: Option<(u32, Duration)>,
    /// In maintenance until then.
    pub maintenance_until: Option<Instant>,
    /// The current quota window: its start and the calls in it.
    window: (Option<Instant>, u32),
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            session_ttl: Duration::from_secs(30 * 60),
            quota: None,
            maintenance_until: None,
            window: (None, 0),
        }
    }
}

impl Rules {
    /// Maintenance for the next `d`.
    pub fn maintenance(&mut self, d: Duration) {
        self.maintenance_until = Some(Instant::now() + d);
    }

    /// Counts a call against the quota; how long to wait if it is used up.
    fn spend(&mut self, now: Instant) -> Option<Duration> {
        let (calls, per) = self.quota?;
        let start = match self.window.0 {
            Some(start) if now < start + per => start,
            _ => {
                self.window = (Some(now), 0);
                now
            }
        };
        if self.window.1 >= calls {
            return Some(start + per - now);
        }
        self.window.1 += 1;
        None
    }
}

struct Shared {
    credentials: Credentials,
    faults: Arc<Faults>,
    portal: Arc<Portal>,
    /// Session → (unit, expiry).
    sessions: Mutex<HashMap<String, (String, Instant)>>,
}

/// A running portal simulator; [`Server::stop`] stops it, its [`Portal`] lives on.
pub struct Server {
    http: crate::sim::http::Http,
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
            credentials,
            faults,
            portal,
            sessions: Mutex::default(),
        });
        let router = Router::new()
            .route(LOGIN_PATH, post(login))
            .route(CALL_PATH, post(call))
            .route("/healthz", get(|| async { "ok" }))
            .route("/sim/stats", get(stats))
            .with_state(shared.clone());
        let http =
            crate::sim::http::Http::serve(listen, router, shared.faults.clone(), "portal").await?;
        Ok(Server { http, shared })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The faults it injects.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.shared.faults
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

/// An answer with `status` and `reply`, and `Retry-After` when there is a wait.
fn answer<T: Serialize>(status: StatusCode, reply: Reply<T>, wait: Option<Duration>) -> Response {
    let mut response = (status, Json(reply)).into_response();
    if let Some(wait) = wait {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds.max(1)));
    }
    response
}

fn refuse(status: StatusCode, code: &str, message: &str, wait: Option<Duration>) -> Response {
    answer::<()>(status, Reply::code(code, message), wait)
}

/// What every call meets first: injected faults and the maintenance window.
async fn gate(s: &Shared) -> Result<(), Response> {
    let until = s.portal.rules().maintenance_until;
    if let Some(until) = until.filter(|u| *u > Instant::now()) {
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            wire::MAINTENANCE,
            "Hệ thống đang bảo trì",
            Some(until - Instant::now()),
        ));
    }
    match s.faults.inject().await {
        Ok(()) => Ok(()),
        Err(Injected::Outage) => Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            wire::MAINTENANCE,
            "Hệ thống đang bảo trì",
            Some(Duration::from_secs(1)),
        )),
        Err(Injected::SystemError) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire::SYSTEM_ERROR,
            "Lỗi hệ thống",
            None,
        )),
    }
}

fn unit_of(headers: &HeaderMap) -> Option<String> {
    let unit = headers.get("dstcode")?.to_str().ok()?;
    lienthong_proto::AgencyCode::parse(unit).ok()?;
    Some(unit.to_owned())
}

async fn login(State(s): State<Arc<Shared>>, headers: HeaderMap, Json(l): Json<Login>) -> Response {
    if let Err(refused) = gate(&s).await {
        return refused;
    }
    let unit = unit_of(&headers);
    let (Some(unit), true) = (
        unit,
        l.username == s.credentials.username && l.password == s.credentials.password,
    ) else {
        return refuse(
            StatusCode::OK,
            wire::FORBIDDEN,
            "Sai tài khoản, mật khẩu hoặc mã đơn vị",
            None,
        );
    };
    let session = format!(
        "{:016x}{:016x}",
        RandomState::new().hash_one(1u8),
        RandomState::new().hash_one(2u8)
    );
    let expires = Instant::now() + s.portal.rules().session_ttl;
    if let Ok(mut sessions) = s.sessions.lock() {
        sessions.retain(|_, (_, until)| *until > Instant::now());
        sessions.insert(session.clone(), (unit, expires));
    }
    answer(
        StatusCode::OK,
        Reply::<()> {
            session: Some(session),
            ..Reply::ok(Vec::new())
        },
        None,
    )
}

async fn call(State(s): State<Arc<Shared>>, headers: HeaderMap, Json(c): Json<Call>) -> Response {
    if let Err(refused) = gate(&s).await {
        return refused;
    }
    let now = Instant::now();
    let wait = s.portal.rules().spend(now);
    if let Some(wait) = wait {
        s.portal.count(|stats| stats.quota_refusals += 1);
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            wire::QUOTA,
            "Vượt quá số lượt gọi cho phép",
            Some(wait),
        );
    }
    let holder = s
        .sessions
        .lock()
        .ok()
        .and_then(|sessions| sessions.get(&c.session).cloned());
    let unit = match holder {
        Some((unit, until)) if until > now => unit,
        _ => {
            s.portal.count(|stats| stats.expired_sessions += 1);
            return refuse(
                StatusCode::UNAUTHORIZED,
                wire::SESSION_EXPIRED,
                "Phiên làm việc không hợp lệ hoặc đã hết hạn",
                None,
            );
        }
    };
    if unit_of(&headers).as_deref() != Some(&unit) || c.madonvi != unit {
        return refuse(
            StatusCode::OK,
            wire::FORBIDDEN,
            "Mã đơn vị không khớp",
            None,
        );
    }
    serve(&s, &unit, c)
}

/// Serves the operation `c.service` names for `unit`.
fn serve(s: &Shared, unit: &str, c: Call) -> Response {
    let portal = &s.portal;
    let bad = |m: &str| refuse(StatusCode::OK, wire::BAD_REQUEST, m, None);
    let batch = |done: std::io::Result<Result<Vec<wire::ItemResult>, String>>| match done {
        Ok(Ok(results)) => answer(StatusCode::OK, Reply::ok(results), None),
        Ok(Err(why)) => bad(&why),
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire::SYSTEM_ERROR,
            &format!("Lỗi ghi: {e}"),
            None,
        ),
    };
    match c.service.as_str() {
        wire::SYNC => match c.is_updating.as_deref() {
            Some("True") => batch(portal.sync(true, c.data)),
            Some("False") => batch(portal.sync(false, c.data)),
            _ => bad("isUpdating phải là True hoặc False"),
        },
        wire::PROGRESS => batch(portal.progress(c.data)),
        wire::LOOKUP => match c.mahoso {
            Some(code) => answer(StatusCode::OK, Reply::ok(portal.lookup(&code)), None),
            None => bad("Thiếu mahoso"),
        },
        wire::PROCEDURE => match c.ma_tthc {
            Some(code) => {
                let found: Vec<_> = catalogue::procedure(&code).into_iter().collect();
                answer(StatusCode::OK, Reply::ok(found), None)
            }
            None => bad("Thiếu maTTHC"),
        },
        wire::ONLINE => {
            let after = c.contro.unwrap_or_default();
            let after = if after.is_empty() {
                Ok(0)
            } else {
                after.parse::<usize>()
            };
            let Ok(after) = after else {
                return bad("contro không hợp lệ");
            };
            let limit = c.soluong.unwrap_or(100).clamp(1, 1000) as usize;
            let (mut items, more) = portal.feed(unit, after, limit);
            for item in &mut items {
                let name = std::mem::take(&mut item.dossier.applicant_name);
                item.dossier.applicant_name = s.faults.written(name);
            }
            answer(
                StatusCode::OK,
                Reply {
                    more,
                    ..Reply::ok(items)
                },
                None,
            )
        }
        _ => bad("service không được hỗ trợ"),
    }
}
