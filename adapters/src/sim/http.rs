//! A simulator's HTTP server: bound, serving a router in its own task, stopped on
//! demand (closing connections), or served until the process ends.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running HTTP server; dropping it does not stop it, [`Http::stop`] does.
pub struct Http {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Http {
    /// Binds `listen` and serves `router` until stopped; `name` is for the log.
    pub async fn serve(listen: SocketAddr, router: Router, name: &str) -> std::io::Result<Http> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "{name} simulator listening");
        Ok(Http { addr, stop, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes connections and waits for the server to end.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }

    /// Serves until the process ends.
    pub async fn wait(self) -> std::io::Result<()> {
        let _keep_open = self.stop;
        self.task.await.map_err(std::io::Error::other)?
    }
}
