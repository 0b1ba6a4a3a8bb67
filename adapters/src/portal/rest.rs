//! A client of the portal's dossier sync API ([`super::schema`]).
//!
//! Result codes are mapped so the sync worker can tell what to do: delivered (new or
//! a redelivery) is success; out of order, system errors, maintenance and network
//! failures are retryable; an illegal status change or a malformed dossier is
//! refused for good (dead letter); refused credentials are the gateway's fault (an
//! operator must act; the update waits).

use async_trait::async_trait;

use super::schema::{DanhSachTrucTuyen, HoSo, KetQuaDongBo, OUT_OF_ORDER, UNPROCESSABLE};
use super::{NationalPortal, Pushed};
use crate::http::{Account, Kind, Session};
use crate::national::{self as schema, Envelope};
use crate::{BadResponse, Error};

/// The REST adapter of the portal.
pub struct RestPortal {
    session: Session,
}

impl RestPortal {
    /// Builds the adapter for `account`; no connection is made until the first call.
    pub fn new(account: Account) -> Result<RestPortal, Error> {
        Ok(RestPortal {
            session: Session::new(account, "/api/dvcqg/xacthuc")?,
        })
    }
}

#[async_trait]
impl NationalPortal for RestPortal {
    fn name(&self) -> &'static str {
        "portal-rest"
    }

    async fn push(&self, dossier: &HoSo) -> Result<Pushed, Error> {
        let url = self.session.url("/api/dvcqg/hoso/dongbo");
        let envelope: Envelope<KetQuaDongBo> = self
            .session
            .call(Kind::Sync, |http| http.post(&url).json(dossier))
            .await?;
        let endpoint = self.session.endpoint();
        let detail = format!(
            "MaKetQua {}: {}",
            envelope.code,
            lienthong_proto::text::shown(&envelope.message, 256)
        );
        match envelope.code {
            OUT_OF_ORDER => return Err(Error::Unavailable { endpoint, detail }),
            UNPROCESSABLE | schema::BAD_REQUEST => return Err(Error::Refused { endpoint, detail }),
            _ => {}
        }
        let done = self.session.data(envelope)?;
        if done.dossier_code != dossier.dossier_code || done.revision < dossier.revision {
            return Err(Error::bad(
                self.session.endpoint(),
                BadResponse::WrongRecord,
                format!(
                    "acknowledged {} revision {} for {} revision {}",
                    done.dossier_code, done.revision, dossier.dossier_code, dossier.revision
                ),
            ));
        }
        Ok(Pushed {
            revision: done.revision,
            duplicate: done.duplicate,
        })
    }

    async fn online(
        &self,
        unit: &str,
        after: &str,
        limit: u32,
    ) -> Result<DanhSachTrucTuyen, Error> {
        let url = self.session.url("/api/dvcqg/hoso/tructuyen");
        let limit = limit.to_string();
        let envelope: Envelope<DanhSachTrucTuyen> = self
            .session
            .call(Kind::Feed, |http| {
                http.get(&url).query(&[
                    ("MaDonVi", unit),
                    ("SauConTro", after),
                    ("SoLuong", &limit),
                ])
            })
            .await?;
        self.session.data(envelope)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lienthong_proto::v1::DossierStatus;

    use super::*;
    use crate::sim::Faults;
    use crate::sim::gate::Credentials;
    use crate::sim::portal_api::{Portal, Server};

    fn account(url: String, password: &str) -> Account {
        Account {
            base_url: url,
            username: Credentials::default().username,
            password: password.into(),
            timeout: Duration::from_secs(2),
            ca_pem: None,
            bounds: crate::http::Bounds::default(),
        }
    }

    fn revision(revision: u64, status: DossierStatus) -> HoSo {
        use crate::sim::dossiers::{RECEIVED, dossier};
        HoSo {
            revision,
            ..HoSo::from(&dossier("H99.01-261122-0001", status, RECEIVED))
        }
    }

    /// A portal simulator on a free port, no faults, no record.
    async fn sim() -> Server {
        let listen = "127.0.0.1:0".parse().unwrap();
        let faults = Faults::new(Duration::ZERO, 0.0);
        Server::start(listen, Credentials::default(), faults, Portal::new())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn outcomes_map_to_what_the_sync_worker_must_do() {
        use DossierStatus::*;
        let sim = sim().await;
        let portal = RestPortal::new(account(sim.url(), &Credentials::default().password)).unwrap();
        let first = portal.push(&revision(1, Accepted)).await.unwrap();
        assert_eq!((first.revision, first.duplicate), (1, false));
        assert!(portal.push(&revision(1, Accepted)).await.unwrap().duplicate);
        let skipped = portal.push(&revision(3, Processed)).await.unwrap_err();
        assert!(skipped.retryable(), "{skipped}");
        portal.push(&revision(2, Processing)).await.unwrap();
        let illegal = portal.push(&revision(3, Registered)).await.unwrap_err();
        assert!(
            matches!(illegal, Error::Refused { .. }) && !illegal.retryable(),
            "{illegal}"
        );
        assert_eq!(illegal.fault(), crate::Fault::Caller);
        sim.faults().set_error_rate(1.0);
        assert!(
            portal
                .push(&revision(3, Processed))
                .await
                .unwrap_err()
                .retryable()
        );
        sim.faults().set_error_rate(0.0);
        sim.portal().submit_online("H99.01", 2);
        let feed = portal.online("H99", "", 10).await.unwrap();
        assert_eq!(feed.items.len(), 2);
        sim.stop().await.unwrap();
        let down = portal.push(&revision(3, Processed)).await.unwrap_err();
        assert!(down.retryable(), "{down}");
    }

    #[tokio::test]
    async fn refused_credentials_are_the_gateways_fault() {
        let sim = sim().await;
        let portal = RestPortal::new(account(sim.url(), "wrong")).unwrap();
        let err = portal
            .push(&revision(1, DossierStatus::Accepted))
            .await
            .unwrap_err();
        assert_eq!(err.fault(), crate::Fault::Gateway, "{err}");
        assert!(!err.retryable());
        assert_eq!(sim.portal().stats().accepted, 0);
    }
}
