//! Assembly of the gateway: the ledger, the listener and its handshakes, the
//! cache, the dossier exchange, the services behind the router, health, the admin
//! listener, reloads, and a graceful shutdown.
//!
//! On shutdown the listener closes first, then in-flight requests finish, then the
//! dossier worker, then the ledger's writer signs a last checkpoint.

mod accept;
mod ledger;
mod router;
mod run;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::population::Registry;
use lienthong_adapters::population::grpc::{GrpcConfig, GrpcRegistry};
use lienthong_adapters::population::rest::RestRegistry;
use lienthong_adapters::sim::{Faults, Population};
use lienthong_pki::Paths;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use accept::{MAX_PENDING_HANDSHAKES, MAX_PENDING_HANDSHAKES_PER_ADDRESS};
pub use run::run;

use crate::admission::Admission;
use crate::audit;
use crate::breaker::Breaker;
use crate::cache::Cache;
use crate::clock;
use crate::config::{Config, Population as PopulationConfig};
use crate::health::Readiness;
use crate::metrics::{Measured, Metrics};
use crate::reload::Reloader;
use crate::services::Shared;
use crate::{Error, tls};
use accept::{Handshake, accept_loop};

/// A running gateway.
pub struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
    /// The audit log, when auditing is on.
    audit: Option<Arc<audit::Log>>,
    /// The ledger's writer: closed (a last signed checkpoint) once requests and
    /// deliveries have finished.
    writer: Arc<lienthong_ledger::Writer>,
    /// Flushed at shutdown.
    cache: Arc<Cache>,
    /// Stopped after the requests: the worker finishes its deliveries in flight.
    exchange: crate::sync::Exchange,
    /// Reloads certificates, CRL and policy.
    reloader: Arc<Reloader>,
    /// Readiness, turned NOT_SERVING first at shutdown.
    readiness: Arc<Readiness>,
    /// Every metric.
    metrics: Arc<Metrics>,
    /// Where the admin listener is, when it runs.
    admin: Option<SocketAddr>,
    /// Where the inspectors' console is, when it runs.
    console: Option<SocketAddr>,
}

impl Running {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dossier exchange.
    pub fn exchange(&self) -> &crate::sync::Exchange {
        &self.exchange
    }

    /// The cache in front of the registry.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The audit log, when auditing is on.
    pub fn audit(&self) -> Option<&Arc<audit::Log>> {
        self.audit.as_ref()
    }

    /// The admin listener's address (metrics, health), when it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The inspectors' console's address, when it runs.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reads certificates, CRL and policy again (what SIGHUP does).
    pub async fn reload(&self) -> crate::reload::Outcome {
        let reloader = self.reloader.clone();
        tokio::task::spawn_blocking(move || reloader.reload())
            .await
            .unwrap_or_default()
    }

    /// Runs the readiness checks now.
    pub async fn check_readiness(&self) -> crate::health::Report {
        self.readiness.check().await
    }

    /// Stops accepting, lets in-flight requests finish within `grace`, signs a last
    /// audit checkpoint, and returns.
    pub async fn shutdown(self, grace: Duration) -> Result<(), Error> {
        self.readiness.stopping().await;
        self.shutdown.cancel();
        let abort = self.task.abort_handle();
        let served = match tokio::time::timeout(grace, self.task).await {
            Ok(joined) => joined.map_err(|e| Error::Server(format!("task: {e}")))?,
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "in-flight requests did not finish in time; closing them"
                );
                abort.abort();
                Ok(())
            }
        };
        self.exchange.stop().await;
        self.writer.close().await;
        let cache = self.cache;
        let _ = tokio::task::spawn_blocking(move || cache.flush()).await;
        served
    }
}

/// The population adapter the configuration names.
pub fn registry(config: &Config) -> Result<Arc<dyn Registry>, Error> {
    let read = |path: &std::path::Path| std::fs::read(path).map_err(Error::io(path));
    Ok(match &config.population {
        PopulationConfig::Sim {
            latency,
            error_rate,
        } => Arc::new(Population::new(Faults::new(*latency, *error_rate))),
        PopulationConfig::Rest(api) => Arc::new(RestRegistry::new(
            api.account(config.limits.upstream.bounds())?,
        )?),
        PopulationConfig::Grpc {
            url,
            ca_file,
            cert_file,
            key_file,
            server_name,
            timeout,
        } => Arc::new(GrpcRegistry::new(GrpcConfig {
            url: url.clone(),
            ca_pem: read(ca_file)?,
            cert_pem: read(cert_file)?,
            key_pem: read(key_file)?,
            server_name: server_name.clone(),
            timeout: *timeout,
            max_message_bytes: config.limits.upstream.grpc_message_bytes,
            max_header_bytes: config.limits.upstream.header_bytes as u32,
        })?),
    })
}

/// Opens the ledger `config` names, alone: no writer, no gateway (for tools and
/// benchmarks that fill or read one).
pub async fn open_store(config: &Config) -> Result<Arc<dyn lienthong_ledger::Store>, Error> {
    ledger::store(config).await
}

/// Binds the listener and serves until [`Running::shutdown`].
pub async fn start(config: &Config, registry: Arc<dyn Registry>) -> Result<Running, Error> {
    config.validate()?;
    crate::install_crypto_provider();
    lienthong_proto::calendar::install(config.dossiers.calendar()?);
    let catalogue = Arc::new(crate::catalogue::Catalogue::load(
        config.dossiers.catalogue.as_deref(),
    )?);
    let directory = Arc::new(crate::directory::Directory::load(
        config.audit.agency_directory.as_deref(),
    )?);
    crate::data_dir::prepare(&config.data_dir)?;
    let ledger = ledger::open(config).await?;
    let (store, writer, audit) = (ledger.store, ledger.writer, ledger.audit);
    let disk = crate::disk::Disk::new(&config.data_dir, &config.disk);
    if let Some(log) = &audit {
        log.watch_disk(disk.clone());
    }
    let metrics = Arc::new(Metrics::new(ledger.metrics));
    let reloader = Arc::new(Reloader::load(
        Paths::new(&config.tls.certs_dir),
        &config.tls.agency_uri_prefix,
        &config.policy,
        metrics.clone(),
    )?);
    // Every answer checked (the record asked for, its text in NFC and clean),
    // whatever adapter brought it; and counted.
    let checked: Arc<dyn Registry> = lienthong_adapters::population::check::Checked::new(registry);
    let registry: Arc<dyn Registry> = Measured::new(checked, metrics.clone());
    let listen = |source| Error::Listen {
        addr: config.listen,
        source,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let shutdown = CancellationToken::new();

    let (connections, incoming) = mpsc::channel::<tls::Connection>(MAX_PENDING_HANDSHAKES);
    let handshake = Handshake {
        timeout: config.tls.handshake_timeout,
        agency_uri_prefix: config.tls.agency_uri_prefix.as_str().into(),
        trust: reloader.trust.clone(),
        metrics: metrics.clone(),
        connections: Arc::new(Semaphore::new(config.limits.max_connections)),
        per_connection: config.limits.max_in_flight_per_connection,
    };
    tokio::spawn(accept_loop(
        listener,
        handshake,
        connections,
        shutdown.clone(),
    ));

    let breaker = Breaker::new(
        config.breaker.failures,
        config.breaker.cool_down,
        Arc::new(clock::System),
    );
    let cache = Arc::new(Cache::open(
        &config.data_dir,
        config.cache.clone(),
        breaker,
        Arc::new(clock::System),
        registry.name(),
    ));
    cache.spawn_sweeper(shutdown.clone());
    disk.spawn(config.disk.check_interval, shutdown.clone());
    if let Some(log) = &audit {
        log.archive_as(crate::audit::archive::Plan::of(config));
        if config.audit.archive.enabled {
            crate::audit::archive::schedule(
                log.clone(),
                config.audit.archive.every,
                config.ledger.replica_name(),
                shutdown.clone(),
            );
        }
    }
    cache.follow_purges(store.events(), shutdown.clone());
    crate::report::board::spawn(
        store.clone(),
        metrics.clone(),
        config.dossiers.indicators_every,
        shutdown.clone(),
    );
    let exchange =
        crate::sync::Exchange::start(config, store, writer.clone(), &metrics, shutdown.clone())
            .await?;
    let shared = Arc::new(Shared {
        dossiers: exchange.dossiers.clone(),
        shutdown: shutdown.clone(),
        cache: cache.clone(),
        registry: registry.clone(),
        limits: config.limits.clone(),
        policy: reloader.policy.clone(),
        audit: audit.clone(),
        metrics: metrics.clone(),
        catalogue,
        directory,
    });
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut readiness = Readiness::new(
        config.data_dir.clone(),
        exchange.dossiers.store.clone(),
        disk.clone(),
        audit.clone(),
        cache.clone(),
        health,
    );
    readiness.lookups = router::LOOKUPS.to_vec();
    readiness.basic = router::BASIC.to_vec();
    let readiness = Arc::new(readiness);
    readiness.check().await;
    readiness
        .clone()
        .spawn(config.admin.health_interval, shutdown.clone());
    reloader
        .clone()
        .spawn(config.reload.watch_interval, shutdown.clone());
    let admin = if config.admin.enabled {
        let sources = crate::ops::Sources {
            metrics: metrics.clone(),
            readiness: readiness.clone(),
            cache: cache.clone(),
            dossiers: exchange.dossiers.clone(),
            disk: disk.clone(),
            upstream: registry.name(),
        };
        Some(crate::ops::serve(config.admin.listen, sources, shutdown.clone()).await?)
    } else {
        None
    };
    let console = if config.console.on(config.tls.generate_dev_pki) {
        Some(
            crate::console::serve(
                config,
                shared.clone(),
                reloader.trust.clone(),
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    let task = router::serve(
        &config.limits,
        shared,
        health_service,
        Admission::new(
            &config.limits,
            metrics.clone(),
            reloader.trust.clone(),
            audit.clone(),
        ),
        incoming,
        shutdown.clone(),
    )?;
    tracing::info!(%addr, "gateway listening (mTLS)");
    Ok(Running {
        writer,
        addr,
        shutdown,
        task,
        audit,
        cache,
        exchange,
        reloader,
        readiness,
        metrics,
        admin,
        console,
    })
}
