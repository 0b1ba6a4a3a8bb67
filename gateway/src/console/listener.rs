//! The console's TLS listener, as axum serves it: connections are accepted in
//! their own task, each handshake runs in its own task under a deadline (a slow
//! or silent client holds up no one), and only finished handshakes are handed on.
//! It presents the server certificate the reloader holds now.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::reload::Current;
use crate::tls::Trust;

/// Handshakes in progress at most; more connections wait to be accepted.
const PENDING: usize = 64;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Finished TLS connections, ready for HTTP.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Binds `addr` and accepts until `shutdown`.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<ServerConfig>,
        shutdown: CancellationToken,
    ) -> Result<TlsListener, Error> {
        let listen = |source| Error::Listen { addr, source };
        let tcp = TcpListener::bind(addr).await.map_err(listen)?;
        let local = tcp.local_addr().map_err(listen)?;
        let (tx, ready) = mpsc::channel(PENDING);
        let acceptor = TlsAcceptor::from(tls);
        let pending = Arc::new(Semaphore::new(PENDING));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = pending.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = tokio::select! {
                    () = shutdown.cancelled() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "console: accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "console: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "console: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // Shut down: nothing more comes; the server's graceful shutdown ends it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The console's TLS configuration: the server certificate the gRPC listener has
/// now (so a renewed certificate reaches new console connections with the same
/// reload, SIGHUP or file watch), no client certificate (an inspector signs in
/// with a one-time link), HTTP/1.1.
pub fn config(trust: Arc<Current<Trust>>) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Pki(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Following(trust)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate of whatever [`Trust`] is current.
struct Following(Arc<Current<Trust>>);

impl std::fmt::Debug for Following {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the reloaded server certificate")
    }
}

impl rustls::server::ResolvesServerCert for Following {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.get().config.cert_resolver.resolve(hello)
    }
}
