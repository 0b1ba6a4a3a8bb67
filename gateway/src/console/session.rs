//! Sessions of the console: opened by a one-time sign-in link (see [`super::link`]),
//! kept in memory (a restart signs everyone out), ended by time or by signing out.
//! The browser holds only a random id in a `__Host-` cookie; the table holds its
//! SHA-256, so a memory dump does not hand out live cookies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::link::{self, Redeemed};
use super::{Inspector, Shown, view};
use crate::policy::{Operation, Role};

/// The session cookie's name (`__Host-`: the browser keeps it only if `Secure`,
/// for this host alone, path `/`).
pub const COOKIE: &str = "__Host-lienthong-console";

/// Sessions at most; signing in beyond it ends the one closest to its end.
const MAX_SESSIONS: usize = 256;

/// One signed-in inspector.
#[derive(Clone)]
pub struct Session {
    /// The agency signed in.
    pub agency: String,
    /// The officer the link named.
    pub officer: String,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// When it ends.
    ends: Instant,
}

/// The live sessions, by the SHA-256 of their id.
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
    ttl: Duration,
}

/// A fresh random token, hex.
pub fn token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    crate::audit::hex(&bytes)
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// No one signed in; sessions last `ttl`.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            live: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Opens a session for `agency`; returns its id.
    pub fn open(&self, agency: &str, officer: &str) -> String {
        let id = token();
        let now = Instant::now();
        let mut live = self.live.lock().expect("sessions");
        live.retain(|_, s| s.ends > now);
        if live.len() >= MAX_SESSIONS
            && let Some(first) = live.iter().min_by_key(|(_, s)| s.ends).map(|(k, _)| *k)
        {
            live.remove(&first);
        }
        live.insert(
            key(&id),
            Session {
                agency: agency.to_owned(),
                officer: officer.to_owned(),
                csrf: token(),
                ends: now + self.ttl,
            },
        );
        id
    }

    /// The live session `id`, if it is one.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut live = self.live.lock().expect("sessions");
        let k = key(id);
        match live.get(&k) {
            Some(s) if s.ends > Instant::now() => Some(s.clone()),
            Some(_) => {
                live.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.live.lock().expect("sessions").remove(&key(id));
    }
}

/// The session id the request's cookie carries.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// The sign-in page: with a link's token, a button that uses it (a link preview
/// or a mail scanner fetching the URL does not spend it); without, how to get one.
pub async fn signin_page(Query(q): Query<LinkQuery>) -> Response {
    let body = if q.token.is_empty() {
        html! {
            p { "Bảng điều khiển dành cho cơ quan giữ vai trò kiểm toán (" code { "auditor" } ")." }
            p { "Để đăng nhập, quản trị viên chạy lệnh sau trên máy chủ cổng và gửi cho bạn liên kết nó in ra (dùng được một lần, trong vài phút):" }
            pre { "lienthong console login --agency H99.90 --officer \"Nguyễn Văn A\"" }
        }
    } else {
        html! {
            p { "Liên kết đăng nhập này chỉ dùng được một lần." }
            form method="post" action="/signin" {
                input type="hidden" name="token" value=(q.token);
                button type="submit" id="signin" { "Đăng nhập" }
            }
        }
    };
    view::page("Đăng nhập", None, body).into_response()
}

/// Uses a sign-in link: once, in time, by an agency holding `auditor`; the
/// attempt is recorded, refusals too.
pub async fn signin(state: Shown, Form(q): Form<LinkQuery>) -> Response {
    let console = &state.0;
    let redeemed = match link::redeem(&console.links, &q.token) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "console: sign-in links unreadable");
            return view::refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Không đọc được liên kết đăng nhập.",
            );
        }
    };
    let (agency, officer) = match redeemed {
        Redeemed::Unknown => {
            tracing::warn!("console: sign-in with an unknown or used link refused");
            return view::refused(
                StatusCode::FORBIDDEN,
                "Liên kết đăng nhập không hợp lệ hoặc đã được dùng. Mỗi liên kết chỉ dùng được một lần: hãy xin một liên kết mới.",
            );
        }
        Redeemed::Expired { agency, officer } => {
            let _ = console
                .record(
                    &agency,
                    &officer,
                    Operation::ConsoleSignIn,
                    "",
                    "link expired".into(),
                    Some("LINK_EXPIRED"),
                )
                .await;
            return view::refused(
                StatusCode::FORBIDDEN,
                "Liên kết đăng nhập đã hết hạn. Hãy xin một liên kết mới.",
            );
        }
        Redeemed::Valid { agency, officer } => (agency, officer),
    };
    // Granted or refused, the sign-in is recorded before anything else happens.
    let denied = console
        .shared
        .policy
        .get()
        .require(&agency, Role::Auditor, Operation::ConsoleSignIn)
        .err();
    let reason = denied.as_ref().map(|d| d.reason.as_str());
    if let Err(page) = console
        .record(
            &agency,
            &officer,
            Operation::ConsoleSignIn,
            "",
            String::new(),
            reason,
        )
        .await
    {
        return page;
    }
    if denied.is_some() {
        return view::refused(
            StatusCode::FORBIDDEN,
            &format!(
                "Cơ quan {agency} không giữ vai trò kiểm toán (auditor), nên không được vào bảng điều khiển."
            ),
        );
    }
    let id = console.sessions.open(&agency, &officer);
    let cookie = format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct Csrf {
    #[serde(default)]
    csrf: String,
}

/// Signs out: with the session's CSRF token only.
pub async fn signout(state: Shown, inspector: Inspector, Form(form): Form<Csrf>) -> Response {
    if !same(&form.csrf, &inspector.csrf) {
        return view::refused(
            StatusCode::FORBIDDEN,
            "Yêu cầu thiếu mã chống giả mạo (CSRF) hợp lệ, nên bị từ chối.",
        );
    }
    state.0.sessions.close(&inspector.session);
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
        ))
        .expect("a valid header"),
    );
    response
}
