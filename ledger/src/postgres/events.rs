//! Events between replicas: `NOTIFY lienthong` when something every replica must
//! know happened, `LISTEN lienthong` on a connection of each replica's own.
//!
//! A notification carries no data, only what kind of thing happened; the data is
//! read from the tables, so that nothing is lost with a notification missed while
//! the listening connection was down: after every (re)connection the listener
//! announces the inbound head again and catches up on the purges it did not see.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{db, get};
use crate::{Error, Event};

/// The channel.
const CHANNEL: &str = "lienthong";

/// How long announced purges are kept for replicas that reconnect: a week.
const PURGES_KEPT_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// See [`crate::Store::announce`].
pub(super) async fn announce(
    client: &mut tokio_postgres::Client,
    event: &Event,
) -> Result<(), Error> {
    match event {
        Event::Inbound(_) => {
            client
                .execute("SELECT pg_notify('lienthong', 'inbound')", &[])
                .await
                .map_err(db("announce"))?;
        }
        Event::Purge(id) => {
            let txn = client.transaction().await.map_err(db("announce a purge"))?;
            txn.execute(
                "INSERT INTO cache_purges (personal_id, at_micros) VALUES ($1, now_micros())",
                &[id],
            )
            .await
            .map_err(db("announce a purge"))?;
            txn.execute("SELECT pg_notify('lienthong', 'purge')", &[])
                .await
                .map_err(db("announce a purge"))?;
            // Purges only matter to replicas catching up after a lost connection;
            // a week on, every cached record they could concern has expired. The
            // table stays small.
            txn.execute(
                "DELETE FROM cache_purges WHERE at_micros < now_micros() - $1",
                &[&PURGES_KEPT_MICROS],
            )
            .await
            .map_err(db("announce a purge"))?;
            txn.commit().await.map_err(db("announce a purge"))?;
        }
    }
    Ok(())
}

/// Starts listening on a connection of its own; the task reconnects whenever the
/// connection is lost, for as long as the store lives.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    pool: Pool,
    events: broadcast::Sender<Event>,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    // Purges from before this start are not this process's business.
    let client = get(&pool).await?;
    let seen: i64 = client
        .query_one("SELECT coalesce(max(seq), 0) FROM cache_purges", &[])
        .await
        .map_err(db("read the cache purges"))?
        .get(0);
    drop(client);
    Ok(tokio::spawn(async move {
        let mut listener = Listener {
            config,
            pool,
            events,
            seen,
        };
        let mut wait = Duration::from_millis(100);
        loop {
            match listener.session().await {
                Ok(()) => wait = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, ?wait, "ledger events: not listening; will reconnect")
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }))
}

struct Listener {
    config: tokio_postgres::Config,
    pool: Pool,
    events: broadcast::Sender<Event>,
    /// The last purge passed on.
    seen: i64,
}

impl Listener {
    /// One connection's life: listen, catch up, pass notifications on until the
    /// connection ends.
    async fn session(&mut self) -> Result<(), Error> {
        let (client, mut connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(db("connect the event listener"))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "ledger events: the connection failed");
                        break;
                    }
                }
            }
        });
        let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
        if let Err(e) = listening {
            driver.abort();
            return Err(db("listen for ledger events")(e));
        }
        // What may have been missed while not listening.
        self.inbound().await?;
        self.purges().await?;
        while let Some(kind) = rx.recv().await {
            match kind.as_str() {
                "inbound" => self.inbound().await?,
                "purge" => self.purges().await?,
                other => tracing::debug!(kind = other, "ledger events: unknown notification"),
            }
        }
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    async fn inbound(&self) -> Result<(), Error> {
        let head = super::read::inbound_head(&**get(&self.pool).await?).await?;
        let _ = self.events.send(Event::Inbound(head));
        Ok(())
    }

    async fn purges(&mut self) -> Result<(), Error> {
        let rows = get(&self.pool)
            .await?
            .query(
                "SELECT seq, personal_id FROM cache_purges WHERE seq > $1 ORDER BY seq",
                &[&self.seen],
            )
            .await
            .map_err(db("read the cache purges"))?;
        for row in rows {
            self.seen = row.get(0);
            let _ = self.events.send(Event::Purge(row.get(1)));
        }
        Ok(())
    }
}
