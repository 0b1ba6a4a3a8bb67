//! A client of the national population REST/JSON API ([`super::schema`]).
//!
//! Obtains a bearer token with the configured credentials, keeps it until the API
//! refuses it, then obtains a new one once. Every call has a timeout. Result codes are
//! mapped to [`Error`] so the gateway can tell retryable outages from permanent
//! refusals, and a record for another personal ID than the one asked for is refused
//! as malformed: better no answer than someone else's data.

use async_trait::async_trait;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{Citizen, Residence};
use serde::de::DeserializeOwned;

use super::schema::{CongDan, CuTru, Lookup};
use super::{Call, Registry};
pub use crate::http::Account;
use crate::http::{Kind, Session};
use crate::national::{self as schema, Envelope};
use crate::{BadResponse, Error};

/// The REST adapter.
pub struct RestRegistry {
    session: Session,
}

impl RestRegistry {
    /// Builds the adapter; no connection is made until the first call.
    pub fn new(account: Account) -> Result<RestRegistry, Error> {
        Ok(RestRegistry {
            session: Session::new(account, "/api/v1/xacthuc/token")?,
        })
    }

    fn endpoint(&self) -> String {
        self.session.endpoint()
    }

    /// Posts a lookup by personal ID.
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
        let url = self.session.url(path);
        let envelope: Envelope<T> = self
            .session
            .call(Kind::Lookup, |http| http.post(&url).json(&body))
            .await?;
        if envelope.code == schema::NOT_FOUND {
            return Err(Error::NotFound {
                endpoint: self.endpoint(),
            });
        }
        self.session.data(envelope)
    }

    fn bad(&self, cause: BadResponse, detail: String) -> Error {
        Error::bad(self.endpoint(), cause, detail)
    }
}

#[async_trait]
impl Registry for RestRegistry {
    fn name(&self) -> &'static str {
        "rest"
    }

    async fn citizen(&self, id: &PersonalId, call: &Call) -> Result<Citizen, Error> {
        let record: CongDan = self.lookup("/api/v1/congdan/tracuu", id, call).await?;
        Citizen::try_from(record).map_err(|detail| self.bad(BadResponse::Schema, detail))
    }

    async fn residence(&self, id: &PersonalId, call: &Call) -> Result<Residence, Error> {
        let record: CuTru = self.lookup("/api/v1/cutru/tracuu", id, call).await?;
        Residence::try_from(record).map_err(|detail| self.bad(BadResponse::Schema, detail))
    }
}
