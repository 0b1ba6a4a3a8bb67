//! The client of the portal's integration API ([`super::wire`]).
//!
//! It logs in with the province's account and unit code, keeps the session for all
//! calls, and logs in again once when the portal says the session expired. A quota
//! used up or a maintenance window is [`Error::Busy`] with the portal's
//! `Retry-After`, so the sync worker waits as long as asked.
//!
//! A batch is delivered as [`push`] says: looked up first, one progress entry per
//! revision, each once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lienthong_proto::v1::Dossier;
use serde::de::DeserializeOwned;

use super::schema::{DanhSachTrucTuyen, HoSo, HoSoTrucTuyen};
use super::wire::{self, Call, ItemResult, Login, Reply, ThuTuc};
use super::{NationalPortal, Pushed};
use crate::http::{Account, Kind, client, read, transport};
use crate::{BadResponse, Error};

/// Where the portal logs in.
pub const LOGIN_PATH: &str = "/api/dvcqg/xacthuc";
/// Its integration endpoint.
pub const CALL_PATH: &str = "/api/dvcqg/tichhop";
/// The wait when a refusal names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The portal adapter.
pub struct Dvcqg {
    http: reqwest::Client,
    account: Account,
    /// The province's unit code (`dstcode`, `madonvi`).
    unit: String,
    session: Mutex<Option<Arc<str>>>,
    /// Procedures looked up (`LayThuTuc`), by code.
    procedures: Mutex<HashMap<String, Option<ThuTuc>>>,
}

impl Dvcqg {
    /// The adapter for `account`, calling as `unit`; no connection is made until
    /// the first call.
    pub fn new(account: Account, unit: &str) -> Result<Dvcqg, Error> {
        let http = client(
            &account.base_url,
            account.ca_pem.as_deref(),
            account.timeout,
        )?;
        Ok(Dvcqg {
            http,
            account,
            unit: unit.to_owned(),
            session: Mutex::default(),
            procedures: Mutex::default(),
        })
    }

    fn endpoint(&self) -> String {
        self.account.base_url.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.account.base_url.trim_end_matches('/'))
    }

    /// Posts `body` to `path`; the answer, or what its refusal means.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        kind: Kind,
        body: &impl serde::Serialize,
    ) -> Result<Reply<T>, Error> {
        let response = crate::trace::inject_http(
            self.http
                .post(self.url(path))
                .header("dstcode", &self.unit)
                .json(body),
        )
        .send()
        .await
        .map_err(|e| transport(&self.account, e))?;
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map_or(DEFAULT_WAIT, Duration::from_secs);
        let endpoint = self.endpoint();
        let (status, bytes) = read(response, kind, &self.account.bounds, &endpoint, |e| {
            transport(&self.account, e)
        })
        .await?;
        let reply: Reply<T> = serde_json::from_slice(&bytes).map_err(|e| {
            if status.is_server_error() || status.as_u16() == 429 {
                Error::Unavailable {
                    endpoint: endpoint.clone(),
                    detail: format!("HTTP {status}"),
                }
            } else {
                Error::bad(
                    endpoint.clone(),
                    BadResponse::Malformed,
                    format!(
                        "HTTP {status}: {}",
                        crate::national::describe_json_error(&e)
                    ),
                )
            }
        })?;
        if wire::is_ok(&reply.error_code) || reply.error_code == wire::SESSION_EXPIRED {
            return Ok(reply);
        }
        // The portal's own words, escaped and cut: they end up in log lines.
        let detail = format!(
            "error_code {}: {}",
            lienthong_proto::text::shown(&reply.error_code, 16),
            lienthong_proto::text::shown(&reply.message, 256)
        );
        Err(match reply.error_code.as_str() {
            wire::QUOTA | wire::MAINTENANCE => Error::Busy {
                endpoint,
                detail,
                retry_after: wait,
            },
            wire::SYSTEM_ERROR => Error::Unavailable { endpoint, detail },
            wire::FORBIDDEN | wire::BAD_REQUEST => Error::Rejected { endpoint, detail },
            _ => Error::bad(endpoint, BadResponse::Malformed, detail),
        })
    }

    async fn session(&self) -> Result<Arc<str>, Error> {
        if let Some(session) = self.session.lock().ok().and_then(|s| s.clone()) {
            return Ok(session);
        }
        let login = Login {
            username: self.account.username.clone(),
            password: self.account.password.clone(),
        };
        let reply: Reply<serde_json::Value> = self.post(LOGIN_PATH, Kind::Token, &login).await?;
        let session: Arc<str> = match reply.session {
            Some(s) if wire::is_ok(&reply.error_code) && !s.is_empty() => s.into(),
            _ => {
                return Err(Error::Rejected {
                    endpoint: self.endpoint(),
                    detail: "the login gave no session".into(),
                });
            }
        };
        if let Ok(mut slot) = self.session.lock() {
            *slot = Some(session.clone());
        }
        Ok(session)
    }

    /// Calls the integration endpoint, logging in again once if the session expired.
    pub async fn call<T: DeserializeOwned>(
        &self,
        kind: Kind,
        mut call: Call,
    ) -> Result<Reply<T>, Error> {
        call.madonvi.clone_from(&self.unit);
        for _ in 0..2 {
            call.session = self.session().await?.to_string();
            let reply: Reply<T> = self.post(CALL_PATH, kind, &call).await?;
            if reply.error_code != wire::SESSION_EXPIRED {
                return Ok(reply);
            }
            if let Ok(mut slot) = self.session.lock() {
                *slot = None;
            }
        }
        Err(Error::Rejected {
            endpoint: self.endpoint(),
            detail: "a fresh session refused as expired".into(),
        })
    }

    /// The dossier `code` as the portal holds it, with its progress entries.
    pub async fn lookup(&self, code: &str) -> Result<Option<HoSo>, Error> {
        let call = Call {
            service: wire::LOOKUP.into(),
            mahoso: Some(code.into()),
            ..Call::default()
        };
        let reply: Reply<HoSo> = self.call(Kind::Lookup, call).await?;
        let held = reply.result.into_iter().next();
        if held.as_ref().is_some_and(|h| h.dossier_code != code) {
            return Err(Error::bad(
                self.endpoint(),
                BadResponse::WrongRecord,
                format!("asked for dossier {code}, got another"),
            ));
        }
        Ok(held)
    }

    /// The procedure `code` of the national catalogue, if the portal knows it.
    pub async fn procedure(&self, code: &str) -> Result<Option<ThuTuc>, Error> {
        if let Some(known) = self
            .procedures
            .lock()
            .ok()
            .and_then(|p| p.get(code).cloned())
        {
            return Ok(known);
        }
        let call = Call {
            service: wire::PROCEDURE.into(),
            ma_tthc: Some(code.into()),
            ..Call::default()
        };
        let reply: Reply<ThuTuc> = self.call(Kind::Feed, call).await?;
        let found = reply.result.into_iter().find(|t| t.code == code);
        if let Ok(mut procedures) = self.procedures.lock() {
            procedures.insert(code.to_owned(), found.clone());
        }
        Ok(found)
    }

    /// A batch call (`service` with `data`); one result per item, in order.
    async fn batch<I: serde::Serialize>(
        &self,
        service: &str,
        updating: Option<bool>,
        items: &[(String, I)],
    ) -> Result<Vec<ItemResult>, Error> {
        let data: Vec<&I> = items.iter().map(|(_, i)| i).collect();
        let call = Call {
            service: service.into(),
            is_updating: updating.map(|u| if u { "True" } else { "False" }.into()),
            data: Some(serde_json::to_value(data).expect("plain data")),
            ..Call::default()
        };
        let reply: Reply<ItemResult> = self.call(Kind::Sync, call).await?;
        let matches = reply.result.len() == items.len()
            && reply
                .result
                .iter()
                .zip(items)
                .all(|(r, (code, _))| &r.dossier_code == code);
        if !matches {
            return Err(Error::bad(
                self.endpoint(),
                BadResponse::WrongRecord,
                format!(
                    "{service}: {} results for {} items, or out of order",
                    reply.result.len(),
                    items.len()
                ),
            ));
        }
        Ok(reply.result)
    }

    /// What an item's refusal means: for good ("400"), or to be looked at again.
    fn refusal(&self, service: &str, r: &ItemResult) -> Error {
        let endpoint = self.endpoint();
        let detail = format!(
            "{service} error_code {}: {}",
            lienthong_proto::text::shown(&r.error_code, 16),
            lienthong_proto::text::shown(&r.message, 256)
        );
        if r.error_code == wire::BAD_REQUEST {
            Error::Refused { endpoint, detail }
        } else {
            Error::Unavailable { endpoint, detail }
        }
    }

    /// The portal's record of `d`, with the procedure's field from the catalogue
    /// when the portal knows it (a catalogue that cannot be read leaves it empty).
    async fn record(&self, d: &Dossier) -> HoSo {
        let mut h = HoSo::from(d);
        if let Ok(Some(t)) = self.procedure(&d.procedure_code).await {
            if let Some(field) = t.fields.first() {
                h.field_code.clone_from(&field.code);
                h.field_name.clone_from(&field.name);
            }
            if h.procedure_name.is_empty() {
                h.procedure_name = t.name;
            }
        }
        h
    }
}

#[async_trait]
impl NationalPortal for Dvcqg {
    fn name(&self) -> &'static str {
        "portal-dvcqg"
    }

    async fn push(&self, batch: &[Dossier]) -> Result<Vec<Result<Pushed, Error>>, Error> {
        self.deliver(batch).await
    }

    async fn online(&self, after: &str, limit: u32) -> Result<DanhSachTrucTuyen, Error> {
        let call = Call {
            service: wire::ONLINE.into(),
            contro: Some(after.into()),
            soluong: Some(limit),
            ..Call::default()
        };
        let reply: Reply<HoSoTrucTuyen> = self.call(Kind::Feed, call).await?;
        Ok(DanhSachTrucTuyen {
            items: reply.result,
            more: reply.more,
        })
    }
}

mod push;

#[cfg(test)]
mod tests;
