//! The door before the door: accepting TCP connections and running their TLS
//! handshakes.
//!
//! Handshakes run in their own tasks under a deadline, at most
//! [`MAX_PENDING_HANDSHAKES`] at a time and [`MAX_PENDING_HANDSHAKES_PER_ADDRESS`]
//! from one address, so a client that stalls mid-handshake holds one slot for a
//! bounded time, never the accept loop, and never every slot. Connections over
//! `limits.max_connections` are closed at once. A connection whose handshake
//! succeeds carries its agency's identity to the router.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, ReasonLabels};
use crate::reload::Current;
use crate::tls;

/// Handshakes in progress at once; further connections wait in the kernel backlog.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Handshakes in progress from one address at most: a client that opens
/// connections and stalls them mid-handshake holds this many of the
/// [`MAX_PENDING_HANDSHAKES`], never all of them. Beyond it, its next connection is
/// closed at once.
pub const MAX_PENDING_HANDSHAKES_PER_ADDRESS: usize = 32;

/// Handshakes in progress, per remote address.
#[derive(Default)]
pub(super) struct Pending(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

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

/// What each handshake task needs.
#[derive(Clone)]
pub(super) struct Handshake {
    pub(super) timeout: Duration,
    pub(super) agency_uri_prefix: Arc<str>,
    pub(super) trust: Arc<Current<tls::Trust>>,
    pub(super) metrics: Arc<Metrics>,
    /// `limits.max_connections`.
    pub(super) connections: Arc<Semaphore>,
    pub(super) per_connection: usize,
}

pub(super) async fn accept_loop(
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
