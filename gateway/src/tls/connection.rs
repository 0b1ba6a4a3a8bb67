//! An accepted connection: the handshake under its deadline, the peer it proves,
//! the connection's slot under the cap, and the stream tonic serves on.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use super::{Peer, Refused, failure_reason, identity};

/// An accepted mTLS connection with its verified peer.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    peer: Arc<Peer>,
    _slot: Option<Slot>,
}

/// A connection's place under `limits.max_connections`, given back when it closes.
pub struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    open: prometheus_client::metrics::gauge::Gauge,
}

impl Slot {
    /// Holds `permit` and counts the connection in `open` until dropped.
    pub fn new(
        permit: tokio::sync::OwnedSemaphorePermit,
        open: prometheus_client::metrics::gauge::Gauge,
    ) -> Slot {
        open.inc();
        Slot {
            _permit: permit,
            open,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Connection {
    /// The verified peer.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }
}

/// What a handshake needs besides the socket.
pub struct Accept<'a> {
    /// The TLS configuration in force.
    pub acceptor: &'a TlsAcceptor,
    /// A handshake not finished by then is abandoned.
    pub timeout: Duration,
    /// The agency SAN URI prefix.
    pub prefix: &'a str,
    /// Requests in flight on the connection at most.
    pub per_connection: usize,
    /// The connection's place under the connection cap.
    pub slot: Option<Slot>,
}

/// Runs the handshake on `tcp` within `timeout` and establishes the peer.
pub async fn accept(tcp: TcpStream, how: Accept<'_>) -> Result<Connection, Refused> {
    let refused = |reason, detail: String| Refused { reason, detail };
    let remote = tcp
        .peer_addr()
        .map_err(|e| refused("closed", e.to_string()))?;
    let stream = match tokio::time::timeout(how.timeout, how.acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(refused(failure_reason(&e), e.to_string())),
        Err(_) => {
            return Err(refused(
                "timeout",
                format!("handshake not finished within {:?}", how.timeout),
            ));
        }
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or_else(|| refused("no_certificate", "no client certificate".into()))?;
    let (agency, serial) = identity(cert, how.prefix).map_err(|e| refused("agency_identity", e))?;
    let fingerprint = Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Connection {
        peer: Arc::new(Peer {
            agency,
            fingerprint,
            remote,
            serial,
            slots: Arc::new(tokio::sync::Semaphore::new(how.per_connection)),
        }),
        stream,
        _slot: how.slot,
    })
}

impl Connected for Connection {
    type ConnectInfo = Arc<Peer>;

    fn connect_info(&self) -> Arc<Peer> {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
