//! What every REST adapter of a national API shares: an HTTP client on rustls with
//! ring, trusting only the configured CA bundle and following no redirect; a
//! session token obtained with credentials, kept until the API refuses it and then
//! obtained again once; every answer read within its bounds ([`body`]); the
//! envelope `{MaKetQua, ThongDiep, DuLieu}` decoded; failures classified.

mod body;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::de::DeserializeOwned;

pub(crate) use body::read;
pub use body::{Bounds, Kind, depth};

use crate::national::{self as schema, Envelope, Token, TokenRequest};
use crate::{BadResponse, Error};

/// An HTTP client for `endpoint` (named in errors) trusting `ca_pem` (PEM, for
/// `https` URLs), giving up on a call after `timeout`.
pub fn client(
    endpoint: &str,
    ca_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    let setup = |detail: String| Error::Rejected {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| setup(format!("CA bundle: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| setup(format!("CA bundle: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        // The upstream is where the configuration says, never where it points.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| setup(e.to_string()))
}

/// Where a national API is and how to log in.
#[derive(Debug, Clone)]
pub struct Account {
    /// Base URL, e.g. `https://api.example.gov.vn` or a simulator's `http://…`.
    pub base_url: String,
    /// Account name.
    pub username: String,
    /// Its secret.
    pub password: String,
    /// Deadline for each HTTP call, connection included.
    pub timeout: Duration,
    /// Extra CA certificates (PEM) to trust for `https` URLs.
    pub ca_pem: Option<Vec<u8>>,
    /// What the API may send at most.
    pub bounds: Bounds,
}

/// What a failure of the connection to `account`'s API means.
pub(crate) fn transport(account: &Account, e: reqwest::Error) -> Error {
    let endpoint = account.base_url.clone();
    if e.is_timeout() {
        Error::Timeout {
            endpoint,
            after: account.timeout,
        }
    } else if e.is_decode() {
        Error::bad(endpoint, BadResponse::Malformed, e.to_string())
    } else {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        Error::Unavailable { endpoint, detail }
    }
}

/// A logged-in client of one national API.
pub struct Session {
    http: reqwest::Client,
    account: Account,
    /// The API's token endpoint.
    token_path: &'static str,
    /// The current token, shared by all calls; refreshed when refused.
    token: Mutex<Option<Arc<str>>>,
}

impl Session {
    /// A session that logs in at `token_path`; nothing is sent until the first call.
    pub fn new(account: Account, token_path: &'static str) -> Result<Session, Error> {
        let http = client(
            &account.base_url,
            account.ca_pem.as_deref(),
            account.timeout,
        )?;
        Ok(Session {
            http,
            account,
            token_path,
            token: Mutex::new(None),
        })
    }

    /// The API's base URL, naming it in errors.
    pub fn endpoint(&self) -> String {
        self.account.base_url.clone()
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.account.base_url.trim_end_matches('/'))
    }

    /// Sends the request `build` makes (the token is added), refreshing the token
    /// once if the API no longer accepts it; the envelope of any other answer, read
    /// within the bounds of `kind`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        kind: Kind,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Envelope<T>, Error> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let envelope: Envelope<T> = self
                .decode(
                    kind,
                    crate::trace::inject_http(build(&self.http).bearer_auth(&token))
                        .send()
                        .await,
                )
                .await?;
            if envelope.code == schema::UNAUTHORIZED && attempt == 0 {
                if let Ok(mut slot) = self.token.lock() {
                    *slot = None;
                }
                continue;
            }
            return Ok(envelope);
        }
        Err(Error::Rejected {
            endpoint: self.endpoint(),
            detail: "token refused twice".into(),
        })
    }

    /// The payload of a successful envelope, or the error its result code means.
    pub fn data<T>(&self, envelope: Envelope<T>) -> Result<T, Error> {
        match (envelope.code, envelope.data) {
            (schema::OK, Some(data)) => Ok(data),
            (schema::OK, None) => Err(Error::bad(
                self.endpoint(),
                BadResponse::Malformed,
                "success without DuLieu",
            )),
            (code, _) => Err(self.outcome(code, &envelope.message)),
        }
    }

    /// Maps the result codes every national API shares.
    pub fn outcome(&self, code: i32, message: &str) -> Error {
        let endpoint = self.endpoint();
        // The upstream's own words, escaped and cut: they end up in log lines.
        let detail = format!(
            "MaKetQua {code}: {}",
            lienthong_proto::text::shown(message, 256)
        );
        match code {
            schema::QUOTA_EXCEEDED | schema::SYSTEM_ERROR | schema::MAINTENANCE => {
                Error::Unavailable { endpoint, detail }
            }
            schema::BAD_REQUEST | schema::UNAUTHORIZED => Error::Rejected { endpoint, detail },
            _ => Error::bad(endpoint, BadResponse::Malformed, detail),
        }
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        transport(&self.account, e)
    }

    async fn token(&self) -> Result<Arc<str>, Error> {
        if let Some(token) = self.token.lock().ok().and_then(|t| t.clone()) {
            return Ok(token);
        }
        let request = TokenRequest {
            username: self.account.username.clone(),
            password: self.account.password.clone(),
        };
        let response = self
            .http
            .post(self.url(self.token_path))
            .json(&request)
            .send()
            .await;
        let envelope: Envelope<Token> = self.decode(Kind::Token, response).await?;
        let token: Arc<str> = self.data(envelope)?.access_token.into();
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some(token.clone());
        }
        Ok(token)
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        kind: Kind,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<Envelope<T>, Error> {
        let response = response.map_err(|e| self.transport(e))?;
        let endpoint = self.endpoint();
        let (status, body) = body::read(response, kind, &self.account.bounds, &endpoint, |e| {
            self.transport(e)
        })
        .await?;
        serde_json::from_slice(&body).map_err(|e| {
            if status.is_server_error() {
                Error::Unavailable {
                    endpoint,
                    detail: format!("HTTP {status}"),
                }
            } else {
                Error::bad(
                    endpoint,
                    BadResponse::Malformed,
                    format!("HTTP {status}: {}", schema::describe_json_error(&e)),
                )
            }
        })
    }
}
