//! Assembly of the gateway: listener, TLS handshakes, tower layers, services,
//! health, reflection and graceful shutdown.
//!
//! Handshakes run in their own tasks under a deadline, at most
//! [`MAX_PENDING_HANDSHAKES`] at a time and [`MAX_PENDING_HANDSHAKES_PER_ADDRESS`]
//! from one address, so a client that stalls mid-handshake holds one slot for a
//! bounded time, never the accept loop, and never every slot. Every response carries an
//! `x-request-id` header minted here (a client cannot choose it: it keys the audit
//! trail). On shutdown the listener closes first, then in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use lienthong_adapters::population::Registry;
use lienthong_adapters::population::grpc::{GrpcConfig, GrpcRegistry};
use lienthong_adapters::population::rest::RestRegistry;
use lienthong_adapters::sim::{Faults, Population};
use lienthong_proto::v1::admin_service_server::AdminServiceServer;
use lienthong_proto::v1::audit_service_server::AuditServiceServer;
use lienthong_proto::v1::dossier_service_server::DossierServiceServer;
use lienthong_proto::v1::identity_service_server::IdentityServiceServer;
use lienthong_proto::v1::residency_service_server::ResidencyServiceServer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::set_header::SetRequestHeaderLayer;

use crate::admission::Admission;
use crate::audit;
use crate::breaker::Breaker;
use crate::cache::Cache;
use crate::clock;
use crate::config::{Config, Population as PopulationConfig};
use crate::health::Readiness;
use crate::metrics::{Measured, Metrics, ReasonLabels};
use crate::reload::{Current, Reloader};
use crate::services::Shared;
use crate::services::admin::Admin;
use crate::services::audit::Audit;
use crate::services::dossier::Dossiers;
use crate::services::identity::Identity;
use crate::services::residency::Residency;
use crate::{Error, tls};
use lienthong_pki::Paths;

/// Handshakes in progress at once; further connections wait in the kernel backlog.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Handshakes in progress from one address at most: a client that opens
/// connections and stalls them mid-handshake holds this many of the
/// [`MAX_PENDING_HANDSHAKES`], never all of them. Beyond it, its next connection is
/// closed at once.
pub const MAX_PENDING_HANDSHAKES_PER_ADDRESS: usize = 32;

/// Handshakes in progress, per remote address.
#[derive(Default)]
struct Pending(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One handshake in progress, counted against its address until dropped.
struct PendingHandshake {
    pending: Arc<Pending>,
    from: std::net::IpAddr,
}

impl Pending {
    /// Counts a handshake from `from`, unless that address has too many already.
    fn enter(self: &Arc<Self>, from: std::net::IpAddr) -> Option<PendingHandshake> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(from).or_default();
        if *count >= MAX_PENDING_HANDSHAKES_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(PendingHandshake {
            pending: self.clone(),
            from,
        })
    }
}

impl Drop for PendingHandshake {
    fn drop(&mut self) {
        let mut counts = self.pending.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.from) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.from);
            }
        }
    }
}

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
        PopulationConfig::Rest(api) => Arc::new(RestRegistry::new(api.account()?)?),
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
        })?),
    })
}

/// Binds the listener and serves until [`Running::shutdown`].
pub async fn start(config: &Config, registry: Arc<dyn Registry>) -> Result<Running, Error> {
    config.validate()?;
    crate::install_crypto_provider();
    std::fs::create_dir_all(&config.data_dir).map_err(Error::io(&config.data_dir))?;
    let store: Arc<dyn lienthong_ledger::Store> =
        lienthong_ledger::embedded::Embedded::in_dir(&config.data_dir).map_err(Error::audit)?;
    let audit_metrics = crate::metrics::AuditMetrics::default();
    let signer = match config.audit.enabled {
        true => Some(Arc::new(audit::Signer::load(&config.audit_signing_key())?)),
        false => None,
    };
    let seal: Box<dyn lienthong_ledger::Seal> = match &signer {
        Some(signer) => Box::new(audit::chain::Chain::new(
            signer.clone(),
            config.audit.checkpoint_every,
        )),
        None => Box::new(lienthong_ledger::Unsealed),
    };
    let writer = Arc::new(
        lienthong_ledger::Writer::start(
            store.clone(),
            seal,
            lienthong_ledger::Settings {
                max_batch: config.audit.max_batch,
            },
            Arc::new(audit_metrics.clone()),
        )
        .map_err(Error::audit)?,
    );
    let audit = match signer {
        Some(signer) => {
            let log = audit::Log::on(
                store.clone(),
                writer.clone(),
                signer,
                config.audit.checkpoint_interval,
            );
            log.check_head().await?;
            Some(Arc::new(log))
        }
        None => {
            tracing::warn!("auditing is OFF: requests leave no record (benchmark baseline only)");
            None
        }
    };
    let metrics = Arc::new(Metrics::new(audit_metrics));
    let reloader = Arc::new(Reloader::load(
        Paths::new(&config.tls.certs_dir),
        &config.tls.agency_uri_prefix,
        &config.policy,
        metrics.clone(),
    )?);
    let registry: Arc<dyn Registry> = Measured::new(registry, metrics.clone());
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
    });
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut readiness = Readiness::new(
        config.data_dir.clone(),
        audit.clone(),
        cache.clone(),
        health,
    );
    readiness.lookups = vec![
        <IdentityServiceServer<Identity> as NamedService>::NAME,
        <ResidencyServiceServer<Residency> as NamedService>::NAME,
    ];
    readiness.basic = vec![
        <AuditServiceServer<Audit> as NamedService>::NAME,
        <AdminServiceServer<Admin> as NamedService>::NAME,
        <DossierServiceServer<Dossiers> as NamedService>::NAME,
    ];
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
            upstream: registry.name(),
        };
        Some(crate::ops::serve(config.admin.listen, sources, shutdown.clone()).await?)
    } else {
        None
    };
    // Advertise what is served, not every service of the contract (some are still
    // being built).
    let served = [
        <IdentityServiceServer<Identity> as NamedService>::NAME,
        <ResidencyServiceServer<Residency> as NamedService>::NAME,
        <AuditServiceServer<Audit> as NamedService>::NAME,
        <AdminServiceServer<Admin> as NamedService>::NAME,
        <DossierServiceServer<Dossiers> as NamedService>::NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ];
    let reflection = served
        .into_iter()
        .fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(lienthong_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
        .build_v1()
        .map_err(|e| Error::Server(format!("reflection: {e}")))?;

    let request_id = tower::ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-request-id"),
            |_: &http::Request<tonic::body::Body>| {
                HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok()
            },
        ))
        .layer(PropagateRequestIdLayer::x_request_id());
    let limits = &config.limits;
    let door = crate::admission::Layer(Arc::new(Admission::new(
        limits,
        metrics.clone(),
        reloader.trust.clone(),
    )));
    let size = limits.max_message_bytes;
    macro_rules! sized {
        ($server:ident, $service:expr) => {
            $server::new($service)
                .max_decoding_message_size(size)
                .max_encoding_message_size(size)
        };
    }
    let router = tonic::transport::Server::builder()
        .timeout(limits.request_timeout + Duration::from_secs(1))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .layer(request_id)
        .layer(door)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(sized!(IdentityServiceServer, Identity::new(shared.clone())))
        .add_service(sized!(
            ResidencyServiceServer,
            Residency::new(shared.clone())
        ))
        .add_service(sized!(AuditServiceServer, Audit::new(shared.clone())))
        .add_service(sized!(AdminServiceServer, Admin::new(shared.clone())))
        .add_service(sized!(DossierServiceServer, Dossiers::new(shared)));
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let incoming = ReceiverStream::new(incoming).map(Ok::<_, std::io::Error>);
        router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .map_err(|e| Error::Server(e.to_string()))
    });
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
    })
}

/// What each handshake task needs.
#[derive(Clone)]
struct Handshake {
    timeout: Duration,
    agency_uri_prefix: Arc<str>,
    trust: Arc<Current<tls::Trust>>,
    metrics: Arc<Metrics>,
    /// `limits.max_connections`.
    connections: Arc<Semaphore>,
    per_connection: usize,
}

async fn accept_loop(
    listener: TcpListener,
    handshake: Handshake,
    connections: mpsc::Sender<tls::Connection>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let pending = Arc::new(Pending::default());
    loop {
        // Waiting for a free handshake slot must not hold up shutdown.
        let slot = tokio::select! {
            _ = shutdown.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let (tcp, remote) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Over the connection cap: close at once, so the client fails fast and
        // retries elsewhere, rather than waiting in a backlog.
        let Ok(open) = handshake.connections.clone().try_acquire_owned() else {
            handshake.metrics.connections_refused.inc();
            tracing::warn!(%remote, "connection refused: limits.max_connections are open");
            drop(tcp);
            continue;
        };
        let Some(in_progress) = pending.enter(remote.ip()) else {
            refuse(&handshake.metrics, "address_busy");
            tracing::warn!(%remote, "connection refused: {MAX_PENDING_HANDSHAKES_PER_ADDRESS} handshakes from this address are in progress");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (connections, handshake) = (connections.clone(), handshake.clone());
        tokio::spawn(async move {
            // The configuration in force when the handshake starts (reloads swap it).
            let acceptor = TlsAcceptor::from(handshake.trust.get().config.clone());
            let accepted = tls::accept(
                tcp,
                tls::Accept {
                    acceptor: &acceptor,
                    timeout: handshake.timeout,
                    prefix: &handshake.agency_uri_prefix,
                    per_connection: handshake.per_connection,
                    slot: Some(tls::Slot::new(open, handshake.metrics.connections.clone())),
                },
            )
            .await;
            drop((slot, in_progress));
            match accepted {
                Ok(connection) => {
                    tracing::debug!(%remote, agency = %connection.peer().agency, "client connected");
                    let _ = connections.send(connection).await;
                }
                Err(refused) => {
                    refuse(&handshake.metrics, refused.reason);
                    tracing::warn!(%remote, reason = refused.reason, detail = %refused.detail, "TLS handshake refused");
                }
            }
        });
    }
}

/// Counts a connection refused before or during its handshake, by reason.
fn refuse(metrics: &Metrics, reason: &'static str) {
    metrics
        .handshake_failures
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// `lienthong serve`: prepares the dev PKI and data dir when configured to, serves
/// until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), Error> {
    config.validate()?;
    let paths = Paths::new(&config.tls.certs_dir);
    if config.tls.generate_dev_pki && !paths.ca_cert().exists() {
        tracing::warn!(dir = %paths.dir.display(), "no PKI found; generating the DEVELOPMENT PKI (never use it in production)");
        lienthong_pki::init(&paths, false)?;
    }
    if config.tls.generate_dev_pki {
        // A dev PKI from an older version may lack a demo agency added since.
        lienthong_pki::issue_missing_demo_agencies(&paths)?;
    }
    if config.tls.generate_dev_pki
        && config.audit.signing_key.is_none()
        && !paths.audit_key().exists()
    {
        tracing::warn!(dir = %paths.dir.display(), "no audit signing key; generating a DEVELOPMENT key");
        lienthong_pki::init_audit_key(&paths)?;
    }
    std::fs::create_dir_all(&config.data_dir).map_err(Error::io(&config.data_dir))?;
    let running = start(&config, registry(&config)?).await?;
    wait_for_signal().await;
    tracing::info!(
        grace = ?config.limits.shutdown_grace,
        "shutting down: no new connections, finishing in-flight requests"
    );
    running.shutdown(config.limits.shutdown_grace).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
