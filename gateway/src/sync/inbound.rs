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
use lienthong_proto::v1::Dossier;
use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::Error;

const INBOUND: TableDefinition<u64, &[u8]> = TableDefinition::new("inbound");
const CODES: TableDefinition<&str, u64> = TableDefinition::new("inbound_codes");
const META: TableDefinition<&str, &str> = TableDefinition::new("inbound_meta");
const PORTAL_CURSOR: &str = "portal_cursor";

fn err(context: &'static str) -> impl Fn(redb::Error) -> Error {
    move |e| Error::Ledger(format!("inbound {context}: {e}"))
}

/// The inbound dossiers.
pub struct Inbound {
    db: Arc<Database>,
    /// The last sequence number stored; watchers wait on it.
    head: watch::Sender<u64>,
}

impl Inbound {
    /// The inbound tables of an open ledger (made if missing).
    pub fn on(db: Arc<Database>) -> Result<Inbound, Error> {
        let e = err("open");
        let txn = db.begin_write().map_err(|x| e(x.into()))?;
        let head = {
            let table = txn.open_table(INBOUND).map_err(|x| e(x.into()))?;
            txn.open_table(CODES).map_err(|x| e(x.into()))?;
            txn.open_table(META).map_err(|x| e(x.into()))?;
            table
                .last()
                .map_err(|x| e(x.into()))?
                .map_or(0, |(k, _)| k.value())
        };
        txn.commit().map_err(|x| e(x.into()))?;
        Ok(Inbound {
            db,
            head: watch::channel(head).0,
        })
    }

    /// The portal's cursor after the last dossier stored ("" before any).
    pub fn portal_cursor(&self) -> Result<String, Error> {
        let e = err("read cursor");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(META).map_err(|x| e(x.into()))?;
        let value = table.get(PORTAL_CURSOR).map_err(|x| e(x.into()))?;
        Ok(value.map(|v| v.value().to_owned()).unwrap_or_default())
    }

    /// Stores the dossiers of one page of the portal's feed and its last cursor, in
    /// one durable transaction; returns how many were new.
    pub fn store(&self, page: &[(String, Dossier)]) -> Result<usize, Error> {
        let Some((cursor, _)) = page.last() else {
            return Ok(0);
        };
        let e = err("store");
        let txn = self.db.begin_write().map_err(|x| e(x.into()))?;
        let mut new = 0;
        let head = {
            let mut inbound = txn.open_table(INBOUND).map_err(|x| e(x.into()))?;
            let mut codes = txn.open_table(CODES).map_err(|x| e(x.into()))?;
            let mut meta = txn.open_table(META).map_err(|x| e(x.into()))?;
            let mut head = inbound
                .last()
                .map_err(|x| e(x.into()))?
                .map_or(0, |(k, _)| k.value());
            for (_, d) in page {
                if codes
                    .get(d.dossier_code.as_str())
                    .map_err(|x| e(x.into()))?
                    .is_some()
                {
                    continue;
                }
                head += 1;
                inbound
                    .insert(head, d.encode_to_vec().as_slice())
                    .map_err(|x| e(x.into()))?;
                codes
                    .insert(d.dossier_code.as_str(), head)
                    .map_err(|x| e(x.into()))?;
                new += 1;
            }
            meta.insert(PORTAL_CURSOR, cursor.as_str())
                .map_err(|x| e(x.into()))?;
            head
        };
        txn.commit().map_err(|x| e(x.into()))?;
        self.head.send_replace(head);
        Ok(new)
    }

    /// Up to `limit` stored dossiers after sequence number `after`.
    pub fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error> {
        let e = err("read");
        let txn = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = txn.open_table(INBOUND).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in table
            .range(after.saturating_add(1)..)
            .map_err(|x| e(x.into()))?
        {
            let (k, v) = item.map_err(|x| e(x.into()))?;
            if let Ok(d) = Dossier::decode(v.value()) {
                out.push((k.value(), d));
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Follows the last sequence number stored.
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
        match inbound.portal_cursor() {
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
                    let i = inbound.clone();
                    match tokio::task::spawn_blocking(move || i.store(&dossiers)).await {
                        Ok(Ok(n)) if n > 0 => tracing::info!(new = n, "online dossiers received"),
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "could not store online dossiers")
                        }
                        _ => {}
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
