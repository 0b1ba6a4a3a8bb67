//! Dossier exchange with the National Public Service Portal.
//!
//! A dossier and the outbox entry of its change are written in one redb transaction,
//! committed durably before the call returns ([`outbox`]); a worker delivers the
//! entries to the portal in order per dossier.

pub mod inbound;
pub mod outbox;
pub mod worker;

use std::sync::Arc;

/// What the dossier service works with.
pub struct Dossiers {
    /// Dossiers received in the province, and their outbox.
    pub outbox: Arc<outbox::Outbox>,
    /// Dossiers from the portal.
    pub inbound: Arc<inbound::Inbound>,
}

/// True when `agency` may act for dossiers of `owner`: its own code, or one below it.
pub fn owns(agency: &str, owner: &str) -> bool {
    owner == agency
        || owner
            .strip_prefix(agency)
            .is_some_and(|rest| rest.starts_with('.'))
}

use std::time::Duration;

use lienthong_adapters::portal::NationalPortal;
use lienthong_adapters::portal::rest::RestPortal;
use lienthong_adapters::sim::Faults;
use lienthong_adapters::sim::gate::Credentials;
use lienthong_adapters::sim::portal_api;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::config::{Config, Portal};

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
    /// Opens the dossier tables in `ledger` and starts delivering until `shutdown`.
    pub async fn start(
        config: &Config,
        ledger: Arc<redb::Database>,
        metrics: &Arc<crate::metrics::Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Exchange, Error> {
        let outbox = Arc::new(outbox::Outbox::on(ledger.clone())?);
        let inbound = Arc::new(inbound::Inbound::on(ledger)?);
        let (portal, sim) = portal(config).await?;
        let portal: Arc<dyn NationalPortal> =
            crate::metrics::Measured::new(portal, metrics.clone());
        let settings = worker::Settings {
            concurrency: config.sync.concurrency,
            backoff_base: config.sync.backoff_base,
            backoff_max: config.sync.backoff_max,
            ..worker::Settings::default()
        };
        let worker = tokio::spawn(
            worker::Worker::new(outbox.clone(), portal.clone(), settings).run(shutdown.clone()),
        );
        let poller = tokio::spawn(inbound::poll(
            inbound.clone(),
            portal,
            config.sync.unit.clone(),
            config.sync.poll_interval,
            shutdown,
        ));
        Ok(Exchange {
            dossiers: Arc::new(Dossiers { outbox, inbound }),
            worker,
            poller,
            sim,
        })
    }

    /// The in-process portal simulator, when the config runs one.
    pub fn simulator(&self) -> Option<&portal_api::Server> {
        self.sim.as_ref()
    }

    /// Waits for the worker and the poller (after `shutdown` was cancelled), then
    /// commits what the dossier writer holds.
    pub async fn stop(self) {
        let _ = self.worker.await;
        let _ = self.poller.await;
        self.dossiers.outbox.close().await;
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
            let client = RestPortal::new(
                crate::config::RestApi::dev(&server.url(), Duration::from_secs(5)).account()?,
            )?;
            (Arc::new(client), Some(server))
        }
        Portal::Rest(api) => (Arc::new(RestPortal::new(api.account()?)?), None),
    })
}
