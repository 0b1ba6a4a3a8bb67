//! Dossier exchange with the National Public Service Portal.
//!
//! A dossier change and its outbox entry are committed together by the ledger's
//! writer, durably, before the caller hears of it; a worker delivers the entries to
//! the portal in order per dossier ([`worker`]), and a poller brings the dossiers
//! citizens submitted on the portal ([`inbound`]).

pub mod inbound;
pub mod json;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::portal::NationalPortal;
use lienthong_adapters::portal::dvcqg::Dvcqg;
use lienthong_adapters::sim::Faults;
use lienthong_adapters::sim::gate::Credentials;
use lienthong_adapters::sim::portal_api;
use lienthong_ledger::{Applied, Change, Store, Writer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::{Config, Portal};

/// What the dossier service works with.
pub struct Dossiers {
    /// Where the dossiers and their outbox are kept.
    pub store: Arc<dyn Store>,
    /// The ledger's one writer.
    pub writer: Arc<Writer>,
    /// Dossiers from the portal.
    pub inbound: Arc<inbound::Inbound>,
    /// Woken after every commit that queued entries.
    changed: Arc<tokio::sync::Notify>,
}

impl Dossiers {
    /// The dossiers of `store`, changed through `writer`.
    pub async fn new(store: Arc<dyn Store>, writer: Arc<Writer>) -> Result<Dossiers, Error> {
        Ok(Dossiers {
            inbound: Arc::new(inbound::Inbound::on(store.clone()).await?),
            store,
            writer,
            changed: Arc::default(),
        })
    }

    /// Applies `change` without an audit record (the benchmark baseline); the
    /// result once it and its outbox entry are durable.
    pub async fn apply(&self, change: Change) -> Result<Applied, Error> {
        let appended = self
            .writer
            .append(None, Some(change))
            .await
            .map_err(Error::ledger)?;
        let applied = appended
            .applied
            .ok_or_else(|| Error::Ledger("the change was not applied".into()))?;
        if applied.is_ok() {
            self.notify();
        }
        Ok(applied)
    }

    /// Wakes the worker: entries were queued.
    pub fn notify(&self) {
        self.changed.notify_one();
    }

    /// Resolves once entries were queued since the last time it resolved.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Puts dead letters (of `code`, or all) back in the outbox; how many.
    pub async fn retry_dead(&self, code: Option<&str>) -> Result<u64, Error> {
        let requeued = self.store.retry_dead(code).await.map_err(Error::ledger)?;
        if requeued > 0 {
            self.notify();
        }
        Ok(requeued)
    }
}

/// True when `agency` may act for dossiers of `owner`: its own code, or one below it.
pub fn owns(agency: &str, owner: &str) -> bool {
    lienthong_proto::agency_code::acts_for(agency, owner)
}

/// The dossier exchange of a running gateway: the worker delivering the outbox, the
/// poller fetching online dossiers, and the in-process portal simulator if configured.
pub struct Exchange {
    /// For the dossier service.
    pub dossiers: Arc<Dossiers>,
    worker: JoinHandle<()>,
    poller: JoinHandle<()>,
    /// Keeps the in-process simulator's address for tests and logs.
    sim: Option<portal_api::Server>,
}

impl Exchange {
    /// Starts delivering the outbox of `store` (written by `writer`) and polling the
    /// portal until `shutdown`.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        writer: Arc<Writer>,
        metrics: &Arc<crate::metrics::Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Exchange, Error> {
        let dossiers = Arc::new(Dossiers::new(store, writer).await?);
        let inbound = dossiers.inbound.clone();
        let (portal, sim) = portal(config).await?;
        let portal: Arc<dyn NationalPortal> =
            crate::metrics::Measured::new(portal, metrics.clone());
        let replica = config.ledger.replica_name();
        tracing::info!(%replica, lease = ?config.sync.lease, "dossier exchange starting");
        let settings = worker::Settings {
            concurrency: config.sync.concurrency,
            batch: config.sync.batch,
            backoff_base: config.sync.backoff_base,
            backoff_max: config.sync.backoff_max,
            owner: replica.clone(),
            lease: config.sync.lease,
        };
        let worker = tokio::spawn(
            worker::Worker::new(dossiers.clone(), portal.clone(), settings).run(shutdown.clone()),
        );
        let poller = tokio::spawn(inbound::poll(
            inbound.clone(),
            portal,
            metrics.clone(),
            inbound::Polling {
                unit: config.sync.unit.clone(),
                interval: config.sync.poll_interval,
                replica,
                lease: config.sync.lease,
            },
            shutdown,
        ));
        Ok(Exchange {
            dossiers,
            worker,
            poller,
            sim,
        })
    }

    /// The in-process portal simulator, when the config runs one.
    pub fn simulator(&self) -> Option<&portal_api::Server> {
        self.sim.as_ref()
    }

    /// Waits for the worker and the poller (after `shutdown` was cancelled); the
    /// ledger's writer is closed after this, with the audit log.
    pub async fn stop(self) {
        let _ = self.worker.await;
        let _ = self.poller.await;
        if let Some(sim) = self.sim {
            let _ = sim.stop().await;
        }
    }
}

/// The portal adapter the configuration names.
async fn portal(
    config: &Config,
) -> Result<(Arc<dyn NationalPortal>, Option<portal_api::Server>), Error> {
    Ok(match &config.portal {
        Portal::Sim { latency, fail_rate } => {
            let path = config.data_dir.join("portal-sim.jsonl");
            let state = portal_api::Portal::open(&path).map_err(Error::io(&path))?;
            let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let server = portal_api::Server::start(
                listen,
                Credentials::default(),
                Faults::new(*latency, *fail_rate),
                state,
            )
            .await
            .map_err(|e| Error::Server(format!("portal simulator: {e}")))?;
            let client = Dvcqg::new(
                crate::config::RestApi::dev(&server.url(), Duration::from_secs(5))
                    .account(config.limits.upstream.bounds())?,
                &config.sync.unit,
            )?;
            (Arc::new(client), Some(server))
        }
        Portal::Rest(api) => (
            Arc::new(Dvcqg::new(
                api.account(config.limits.upstream.bounds())?,
                &config.sync.unit,
            )?),
            None,
        ),
    })
}
