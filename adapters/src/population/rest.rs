//! A client of the national population REST/JSON API ([`super::schema`]).
//!
//! Obtains a bearer token with the configured credentials, keeps it until the API
//! refuses it, then obtains a new one once. Every call has a timeout. Result codes are
//! mapped to [`Error`] so the gateway can tell retryable outages from permanent
//! refusals, and a record for another personal ID than the one asked for is refused
//! as malformed: better no answer than someone else's data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, Residence};
use serde::de::DeserializeOwned;

use super::schema::{self, CongDan, CuTru, Envelope, Lookup, Token, TokenRequest};
use super::{Call, Registry};
use crate::Error;

/// Where the API is and how to talk to it.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Base URL, e.g. `https://api.dancu.example.gov.vn` or the simulator's `http://…`.
    pub base_url: String,
    /// Account name for the token endpoint.
    pub username: String,
    /// Its secret.
    pub password: String,
    /// Deadline for each HTTP call, connection included.
    pub timeout: Duration,
    /// Extra CA certificates (PEM) to trust for `https` URLs.
    pub ca_pem: Option<Vec<u8>>,
}

/// The REST adapter.
pub struct RestRegistry {
    http: reqwest::Client,
    config: RestConfig,
    /// The current token, shared by all calls; refreshed when refused.
    token: Mutex<Option<Arc<str>>>,
}

impl RestRegistry {
    /// Builds the adapter; no connection is made until the first call.
    pub fn new(config: RestConfig) -> Result<RestRegistry, Error> {
        let http = crate::http::client(&config.base_url, config.ca_pem.as_deref(), config.timeout)?;
        Ok(RestRegistry {
            http,
            config,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn endpoint(&self) -> String {
        self.config.base_url.clone()
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                endpoint: self.endpoint(),
                after: self.config.timeout,
            }
        } else if e.is_decode() {
            Error::Protocol {
                endpoint: self.endpoint(),
                detail: e.to_string(),
            }
        } else {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = format!("{detail}: {s}");
                source = s.source();
            }
            Error::Unavailable {
                endpoint: self.endpoint(),
                detail,
            }
        }
    }

    async fn token(&self) -> Result<Arc<str>, Error> {
        if let Some(token) = self.token.lock().ok().and_then(|t| t.clone()) {
            return Ok(token);
        }
        let request = TokenRequest {
            username: self.config.username.clone(),
            password: self.config.password.clone(),
        };
        let response = self
            .http
            .post(self.url("/api/v1/xacthuc/token"))
            .json(&request)
            .send()
            .await;
        let envelope: Envelope<Token> = self.decode(response).await?;
        let token: Arc<str> = match (envelope.code, envelope.data) {
            (schema::OK, Some(t)) => t.access_token.into(),
            (code, _) => return Err(self.outcome(code, &envelope.message)),
        };
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some(token.clone());
        }
        Ok(token)
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<Envelope<T>, Error> {
        let response = response.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&body).map_err(|e| {
            if status.is_server_error() {
                Error::Unavailable {
                    endpoint: self.endpoint(),
                    detail: format!("HTTP {status}"),
                }
            } else {
                Error::Protocol {
                    endpoint: self.endpoint(),
                    detail: format!("HTTP {status}: {}", schema::describe_json_error(&e)),
                }
            }
        })
    }

    /// Maps a non-success result code.
    fn outcome(&self, code: i32, message: &str) -> Error {
        let endpoint = self.endpoint();
        let detail = format!("MaKetQua {code}: {message}");
        match code {
            schema::NOT_FOUND => Error::NotFound { endpoint },
            schema::QUOTA_EXCEEDED | schema::SYSTEM_ERROR | schema::MAINTENANCE => {
                Error::Unavailable { endpoint, detail }
            }
            schema::BAD_REQUEST | schema::UNAUTHORIZED => Error::Rejected { endpoint, detail },
            _ => Error::Protocol { endpoint, detail },
        }
    }

    /// Posts a lookup, refreshing the token once if the API no longer accepts it.
    async fn lookup<T: DeserializeOwned>(
        &self,
        path: &str,
        id: &PersonalId,
        call: &Call,
    ) -> Result<T, Error> {
        let body = Lookup {
            personal_id: id.as_str().to_owned(),
            request_id: call.request_id.clone(),
        };
        for attempt in 0..2 {
            let token = self.token().await?;
            let response = self
                .http
                .post(self.url(path))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let envelope: Envelope<T> = self.decode(response).await?;
            match (envelope.code, envelope.data) {
                (schema::OK, Some(data)) => return Ok(data),
                (schema::OK, None) => {
                    return Err(Error::Protocol {
                        endpoint: self.endpoint(),
                        detail: "success without DuLieu".into(),
                    });
                }
                (schema::UNAUTHORIZED, _) if attempt == 0 => {
                    if let Ok(mut slot) = self.token.lock() {
                        *slot = None;
                    }
                }
                (code, _) => return Err(self.outcome(code, &envelope.message)),
            }
        }
        Err(Error::Rejected {
            endpoint: self.endpoint(),
            detail: "token refused twice".into(),
        })
    }

    fn check_subject(&self, asked: &PersonalId, got: &str) -> Result<(), Error> {
        if got == asked.as_str() {
            Ok(())
        } else {
            Err(Error::Protocol {
                endpoint: self.endpoint(),
                detail: "answered with another citizen's record".into(),
            })
        }
    }
}

#[async_trait]
impl Registry for RestRegistry {
    fn name(&self) -> &'static str {
        "rest"
    }

    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, Error> {
        let record: CongDan = self.lookup("/api/v1/congdan/tracuu", id, call).await?;
        self.check_subject(id, &record.so_dinh_danh)?;
        Citizen::try_from(record).map_err(|detail| Error::Protocol {
            endpoint: self.endpoint(),
            detail,
        })
    }

    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, Error> {
        let record: CuTru = self.lookup("/api/v1/cutru/tracuu", id, call).await?;
        self.check_subject(id, &record.so_dinh_danh)?;
        Residence::try_from(record).map_err(|detail| Error::Protocol {
            endpoint: self.endpoint(),
            detail,
        })
    }
}
