//! Inbound: dossiers citizens submitted on the national portal, for this province.
//!
//! A poller asks the portal for its online feed after the last cursor it stored, and
//! stores each new dossier with the portal's cursor in one durable transaction, so a
//! crash between the two can neither lose a dossier nor store it twice (dossier codes
//! are kept unique). Stored dossiers get our own sequence numbers: the cursor that
//! `WatchDossiers` clients resume from.

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::portal::NationalPortal;
use lienthong_ledger::Store;
use lienthong_proto::v1::Dossier;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::Error;

/// The inbound dossiers.
pub struct Inbound {
    store: Arc<dyn Store>,
    /// The last number stored; watchers wait on it.
    head: watch::Sender<u64>,
}

impl Inbound {
    /// The inbound dossiers of `store`.
    pub async fn on(store: Arc<dyn Store>) -> Result<Inbound, Error> {
        let head = store.inbound_head().await.map_err(Error::ledger)?;
        Ok(Inbound {
            store,
            head: watch::channel(head).0,
        })
    }

    /// The portal's cursor after the last dossier stored ("" before any).
    pub async fn portal_cursor(&self) -> Result<String, Error> {
        self.store.inbound_cursor().await.map_err(Error::ledger)
    }

    /// Stores the dossiers of one page of the portal's feed and its last cursor, in
    /// one durable transaction; returns how many were new.
    pub async fn store(&self, page: &[(String, Dossier)]) -> Result<usize, Error> {
        if page.is_empty() {
            return Ok(0);
        }
        let (new, head) = self
            .store
            .store_inbound(page)
            .await
            .map_err(Error::ledger)?;
        self.head.send_replace(head);
        Ok(new)
    }

    /// Up to `limit` stored dossiers after number `after`.
    pub async fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error> {
        self.store
            .inbound(after, limit)
            .await
            .map_err(Error::ledger)
    }

    /// Follows the last number stored.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}

/// Polls the portal's feed for agencies under `unit` every `interval` until
/// `shutdown`, storing what is new.
pub async fn poll(
    inbound: Arc<Inbound>,
    portal: Arc<dyn NationalPortal>,
    unit: String,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let mut more = false;
        match inbound.portal_cursor().await {
            Ok(cursor) => match portal.online(&unit, &cursor, 100).await {
                Ok(page) => {
                    more = page.more;
                    let dossiers: Vec<(String, Dossier)> = page
                        .items
                        .iter()
                        .filter_map(|item| match Dossier::try_from(&item.dossier) {
                            Ok(d) => Some((item.cursor.clone(), d)),
                            Err(why) => {
                                tracing::warn!(dossier = %item.dossier.dossier_code, %why, "malformed online dossier skipped");
                                None
                            }
                        })
                        .collect();
                    match inbound.store(&dossiers).await {
                        Ok(n) if n > 0 => tracing::info!(new = n, "online dossiers received"),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "could not store online dossiers")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "portal feed unavailable; will poll again"),
            },
            Err(e) => tracing::error!(error = %e, "could not read the portal cursor"),
        }
        if more {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
