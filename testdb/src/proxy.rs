//! A TCP proxy in front of the cluster that reads the PostgreSQL protocol going to
//! the server and can break a connection at the worst moment of a commit: just
//! before the `COMMIT` reaches the server (the transaction is lost), or just after
//! (the server commits and the client never hears it). A statement marked
//! `/* lienthong:commit */`, which commits on its own, counts as a commit too: its
//! commit point is the `Sync` after it is bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where the next `COMMIT` is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cut {
    /// Pass everything.
    Never = 0,
    /// Close the connection instead of passing the next `COMMIT` on.
    BeforeCommit = 1,
    /// Pass the next `COMMIT` on, then close the connection before its answer.
    AfterCommit = 2,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicU8>,
    cuts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy on a free loopback port to the server at `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cut = Arc::new(AtomicU8::new(Cut::Never as u8));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (c, n) = (cut.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (c, n) = (c.clone(), n.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, c, n).await;
                    }
                });
            }
        });
        Proxy {
            addr,
            cut,
            cuts,
            task,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts the next `COMMIT` (of any connection) as `how`; once.
    pub fn arm(&self, how: Cut) {
        self.cut.store(how as u8, Ordering::SeqCst);
    }

    /// How many commits it has cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Passes bytes both ways; watches the client's messages for a `COMMIT`.
async fn relay(client: TcpStream, server: TcpStream, cut: Arc<AtomicU8>, cuts: Arc<AtomicUsize>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
    });
    // Client to server, message by message: the startup message has no type byte,
    // every later one is a type byte, a length (which counts itself) and a body.
    let mut first = true;
    // Prepared statements marked as commits, and whether one is bound and waits
    // for its Sync.
    let mut marked: Vec<Vec<u8>> = Vec::new();
    let mut bound = false;
    loop {
        let mut kind = [0u8; 1];
        if !first && client_rx.read_exact(&mut kind).await.is_err() {
            break;
        }
        let mut len = [0u8; 4];
        if client_rx.read_exact(&mut len).await.is_err() {
            break;
        }
        let n = u32::from_be_bytes(len).saturating_sub(4) as usize;
        let mut body = vec![0u8; n];
        if client_rx.read_exact(&mut body).await.is_err() {
            break;
        }
        let name = |from: usize| -> Vec<u8> {
            body[from.min(body.len())..]
                .split(|b| *b == 0)
                .next()
                .unwrap_or_default()
                .to_vec()
        };
        if !first && kind[0] == b'P' {
            let statement = name(0);
            let query = &body[statement.len() + 1..];
            if query.starts_with(b"/* lienthong:commit */") {
                marked.push(statement);
            }
        }
        if !first && kind[0] == b'B' {
            let portal = name(0);
            bound = marked.contains(&name(portal.len() + 1));
        }
        let sync = !first && kind[0] == b'S' && std::mem::take(&mut bound);
        let commit = sync || (!first && kind[0] == b'Q' && body.starts_with(b"COMMIT"));
        let how = if commit {
            cut.swap(Cut::Never as u8, Ordering::SeqCst)
        } else {
            Cut::Never as u8
        };
        if how == Cut::BeforeCommit as u8 {
            cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
        let mut message = Vec::with_capacity(5 + n);
        if !first {
            message.push(kind[0]);
        }
        message.extend_from_slice(&len);
        message.extend_from_slice(&body);
        if how == Cut::AfterCommit as u8 {
            // Let the server take it, but not answer through us.
            down.abort();
            cuts.fetch_add(1, Ordering::SeqCst);
            let _ = server_tx.write_all(&message).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            break;
        }
        if server_tx.write_all(&message).await.is_err() {
            break;
        }
        // An SSL or GSS request is answered with one byte and followed by the real
        // startup message, also without a type byte.
        let request = first && n == 4 && matches!(body[..], [0x04, 0xd2, 0x16, 0x2f | 0x30]);
        first = request;
    }
    down.abort();
}
