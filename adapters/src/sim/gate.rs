//! What every simulated national API does before it answers: check the bearer
//! token it handed out, then inject the configured faults — with the result codes
//! and HTTP statuses a national gateway sends.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};

use super::{Faults, Injected};
use crate::national::{self as schema, Envelope, Token, TokenRequest};

/// Credentials a simulator accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Secret.
    pub password: String,
}

impl Default for Credentials {
    /// The development account, also the REST adapters' default.
    fn default() -> Self {
        Credentials {
            username: "lienthong-dev".into(),
            password: "lienthong-dev-secret".into(),
        }
    }
}

/// An answer: HTTP status and the enveloped body.
pub type Answer<T> = (StatusCode, Json<Envelope<T>>);

/// A failed answer.
pub fn fail<T>(status: StatusCode, code: i32, message: &str) -> Answer<T> {
    (
        status,
        Json(Envelope {
            code,
            message: message.into(),
            data: None,
        }),
    )
}

/// A successful answer.
pub fn ok<T>(data: T) -> Answer<T> {
    (
        StatusCode::OK,
        Json(Envelope {
            code: schema::OK,
            message: "Thành công".into(),
            data: Some(data),
        }),
    )
}

/// The account, the tokens handed out, the faults.
pub struct Gate {
    credentials: Credentials,
    faults: Arc<Faults>,
    /// Tokens handed out; never expire while the simulator runs.
    tokens: Mutex<HashSet<String>>,
}

impl Gate {
    /// A gate for `credentials` injecting `faults`.
    pub fn new(credentials: Credentials, faults: Arc<Faults>) -> Gate {
        Gate {
            credentials,
            faults,
            tokens: Mutex::default(),
        }
    }

    /// The faults injected.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// Trades credentials for a token.
    pub fn token(&self, req: &TokenRequest) -> Answer<Token> {
        if req.username != self.credentials.username || req.password != self.credentials.password {
            return fail(
                StatusCode::UNAUTHORIZED,
                schema::UNAUTHORIZED,
                "Sai tên đăng nhập hoặc mật khẩu",
            );
        }
        let token = format!(
            "{:016x}{:016x}",
            RandomState::new().hash_one(1u8),
            RandomState::new().hash_one(2u8)
        );
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(token.clone());
        }
        ok(Token {
            access_token: token,
            expires_in: 3600,
        })
    }

    /// Checks the bearer token, then injects faults; `Err` is the answer to send.
    pub async fn admit<T>(&self, headers: &HeaderMap) -> Result<(), Answer<T>> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let known = match (bearer, self.tokens.lock()) {
            (Some(t), Ok(tokens)) => tokens.contains(t),
            _ => false,
        };
        if !known {
            return Err(fail(
                StatusCode::UNAUTHORIZED,
                schema::UNAUTHORIZED,
                "Mã truy cập không hợp lệ hoặc đã hết hạn",
            ));
        }
        match self.faults.inject().await {
            Ok(()) => Ok(()),
            Err(Injected::Outage) => Err(fail(
                StatusCode::SERVICE_UNAVAILABLE,
                schema::MAINTENANCE,
                "Hệ thống đang bảo trì",
            )),
            Err(Injected::SystemError) => Err(fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                schema::SYSTEM_ERROR,
                "Lỗi hệ thống",
            )),
        }
    }
}
