//! The ledger on PostgreSQL, for several replicas of one deployment.
//!
//! Every replica opens the same database; the gateway migrates its schema on start
//! ([`schema`]). What the embedded ledger does within one process is done here
//! across processes:
//!
//! - **one audit chain**: each commit locks the `audit_head` row first, so the
//!   replicas' group commits take turns, each numbering its records after the last
//!   committed one ([`commit`]);
//! - **dossiers**: the same lock orders every dossier write, so revisions and the
//!   outbox follow one history whatever replica took the call;
//! - **the outbox**: claimed by dossier, with a lease, by one replica at a time
//!   ([`work`]); a dead replica's claims are taken when their lease runs out;
//! - **the inbound poller**: one at a time, under a lease; its cursor in the
//!   database;
//! - **events** between replicas (new inbound dossiers, cache purges): `LISTEN` /
//!   `NOTIFY` ([`events`]).
//!
//! Commits are synchronous (`synchronous_commit = on`, so a synchronous standby,
//! where configured, has the records too). A commit whose connection breaks while
//! the server was committing is resolved by asking the server whether that
//! transaction committed (`pg_xact_status`), never by guessing or by writing again.

mod commit;
mod events;
mod fast;
mod import;
mod prune;
mod read;
mod schema;
mod tree;
mod work;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use lienthong_proto::v1::{AuditRecord, Dossier};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;

pub use import::Imported;

use crate::merkle::{Frontier, Hash};
use crate::{Batch, Committed, Depth, Entry, Error, Event, Filter, Head, Page, Seal, Store};

/// How to reach the database.
#[derive(Clone)]
pub struct Options {
    /// `postgres://user@host:port/database` (or `host=… dbname=…`). A password in
    /// it works but is discouraged: give [`Options::password`] instead.
    pub url: String,
    /// The password, which the caller read from a file or the environment.
    pub password: Option<String>,
    /// Connections at most.
    pub pool_size: usize,
    /// The server cancels a statement that runs longer.
    pub statement_timeout: Duration,
    /// Connecting, or waiting for a free connection, gives up after this.
    pub connect_timeout: Duration,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("url", &redacted(&self.url))
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// `url` without its password, for logs.
pub fn redacted(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            let ports: Vec<String> = c.get_ports().iter().map(u16::to_string).collect();
            format!(
                "postgres://{}@{}:{}/{}",
                c.get_user().unwrap_or(""),
                hosts.join(","),
                ports.join(","),
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "(an unreadable PostgreSQL URL)".into(),
    }
}

/// Checks a URL before anything connects: it must parse, and must not hold a
/// password (that belongs in a file or the environment, never in a config file).
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    if parsed.get_password().is_some() {
        return Err("holds a password; give it from a file or the environment".into());
    }
    if parsed.get_hosts().is_empty() {
        return Err("names no host".into());
    }
    Ok(())
}

/// Maps a database error to [`Error::Unavailable`], saying what was being done.
pub(crate) fn db(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| match e.as_db_error() {
        Some(d) => Error::Unavailable(format!("{context}: {} ({})", d.message(), d.code().code())),
        None => Error::unavailable(context, e),
    }
}

/// The ledger on PostgreSQL.
pub struct Postgres {
    pool: Pool,
    described: String,
    events: broadcast::Sender<Event>,
    listener: tokio::task::JoinHandle<()>,
    /// How long an interrupted commit's outcome is asked for.
    resolve_for: Duration,
    /// The head (and Merkle tree) this replica committed last, for the fast path.
    last: std::sync::Mutex<Option<(Head, Frontier)>>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Postgres {
    /// Connects, migrates the schema and starts listening for other replicas'
    /// events. Must run inside a tokio runtime.
    pub async fn open(options: &Options) -> Result<Arc<Postgres>, Error> {
        let described = format!("PostgreSQL ledger {}", redacted(&options.url));
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| Error::Unavailable(format!("{described}: not a PostgreSQL URL: {e}")))?;
        if let Some(password) = &options.password {
            config.password(password);
        }
        let extra = config.get_options().map(str::to_owned).unwrap_or_default();
        config
            .application_name("lienthong")
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .options(format!(
                "{extra} -c search_path=lienthong -c synchronous_commit=on -c statement_timeout={}",
                options.statement_timeout.as_millis()
            ));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| Error::unavailable("the PostgreSQL pool", e))?;
        let mut client = get(&pool).await?;
        let was = schema::migrate(&mut client).await?;
        drop(client);
        tracing::info!(ledger = %described, schema = schema::latest(), was, "ledger open");
        let (events, _) = broadcast::channel(1024);
        let listener = events::listen(config, pool.clone(), events.clone()).await?;
        Ok(Arc::new(Postgres {
            pool,
            described,
            events,
            listener,
            resolve_for: options.statement_timeout.max(Duration::from_secs(5)),
            last: std::sync::Mutex::new(None),
        }))
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        get(&self.pool).await
    }
}

async fn get(pool: &Pool) -> Result<deadpool_postgres::Object, Error> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => db("connect to PostgreSQL")(e),
        e => Error::unavailable("connect to PostgreSQL", e),
    })
}

#[async_trait]
impl Store for Postgres {
    fn describe(&self) -> String {
        self.described.clone()
    }

    async fn commit(
        &self,
        batch: &mut Batch,
        seal: &mut (dyn Seal + Send),
    ) -> Result<Committed, Error> {
        commit::commit(self, batch, seal).await
    }

    async fn audit_head(&self) -> Result<Head, Error> {
        read::head(&**self.client().await?).await
    }

    async fn audit_page(&self, from: u64, to: u64, limit: usize) -> Result<Page, Error> {
        let mut client = self.client().await?;
        read::page(&mut client, from, to, limit).await
    }

    async fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>, Error> {
        read::record(&**self.client().await?, seq).await
    }

    async fn audit_inclusion(&self, seq: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let index = crate::entry_of(seq)?;
        let client = self.client().await?;
        tree::prove(&**client, size, |node| {
            crate::merkle::inclusion_proof(index, size, node)
        })
        .await
    }

    async fn audit_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, Error> {
        let client = self.client().await?;
        tree::prove(&**client, second, |node| {
            crate::merkle::consistency_proof(first, second, node)
        })
        .await
    }

    async fn audit_cosign(&self, seq: u64, witness: &str, line: &str) -> Result<(), Error> {
        tree::cosign(&**self.client().await?, seq, witness, line).await
    }

    async fn audit_cosignatures(&self, seq: u64) -> Result<Vec<String>, Error> {
        tree::cosignatures(&**self.client().await?, seq).await
    }

    async fn audit_cosigned(&self, quorum: usize) -> Result<Option<u64>, Error> {
        tree::cosigned(&**self.client().await?, quorum).await
    }

    async fn audit_first(&self) -> Result<u64, Error> {
        prune::first(&**self.client().await?).await
    }

    async fn audit_remove(&self, upto: u64, limit: usize) -> Result<u64, Error> {
        let mut client = self.client().await?;
        prune::remove(&mut client, upto, limit).await
    }

    async fn dossier_facts(
        &self,
        month: lienthong_proto::Month,
        each: &mut (dyn FnMut(Dossier) + Send),
    ) -> Result<u64, Error> {
        read::facts(&mut self.client().await?, month, each).await
    }

    async fn retire_dossiers(&self, stubs: &[Dossier]) -> Result<u64, Error> {
        let mut client = self.client().await?;
        prune::retire(&mut client, stubs).await
    }

    async fn audit_by_subject(
        &self,
        subject: &str,
        from: u64,
        below: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<AuditRecord>, Error> {
        let client = self.client().await?;
        read::by_subject(&client, subject, from..below, limit, newest_first).await
    }

    async fn audit_checkpoint_covering(
        &self,
        seq: u64,
    ) -> Result<Option<lienthong_proto::v1::Checkpoint>, Error> {
        read::covering(&**self.client().await?, seq).await
    }

    async fn audit_seq_at(&self, micros: i64) -> Result<u64, Error> {
        read::seq_at(&**self.client().await?, micros).await
    }

    async fn dossier(&self, code: &str) -> Result<Option<Dossier>, Error> {
        read::dossier(&**self.client().await?, code).await
    }

    async fn dossiers(
        &self,
        after: &str,
        limit: usize,
        filter: &Filter,
    ) -> Result<(Vec<Dossier>, bool), Error> {
        read::dossiers(&**self.client().await?, after, limit, filter).await
    }

    async fn outbox(&self, after: u64, limit: usize) -> Result<Vec<Entry>, Error> {
        read::outbox(&**self.client().await?, after, limit).await
    }

    async fn outbox_depth(&self) -> Result<Depth, Error> {
        read::depth(&**self.client().await?).await
    }

    async fn dead_letters(&self) -> Result<Vec<(Entry, String)>, Error> {
        read::dead_letters(&**self.client().await?).await
    }

    async fn retry_dead(&self, code: Option<&str>) -> Result<u64, Error> {
        let mut client = self.client().await?;
        work::retry_dead(&mut client, code).await
    }

    async fn inbound_cursor(&self) -> Result<String, Error> {
        read::inbound_cursor(&**self.client().await?).await
    }

    async fn store_inbound(
        &self,
        dossiers: &[Dossier],
        cursor: &str,
    ) -> Result<(usize, u64), Error> {
        let mut client = self.client().await?;
        work::store_inbound(&mut client, dossiers, cursor).await
    }

    async fn inbound(&self, after: u64, limit: usize) -> Result<Vec<(u64, Dossier)>, Error> {
        read::inbound(&**self.client().await?, after, limit).await
    }

    async fn inbound_head(&self) -> Result<u64, Error> {
        read::inbound_head(&**self.client().await?).await
    }

    async fn claim(&self, owner: &str, lease: Duration, limit: usize) -> Result<Vec<Entry>, Error> {
        let mut client = self.client().await?;
        work::claim(&mut client, owner, lease, limit).await
    }

    async fn release(&self, owner: &str) -> Result<(), Error> {
        work::release(&**self.client().await?, owner).await
    }

    async fn lease(&self, name: &str, owner: &str, lease: Duration) -> Result<bool, Error> {
        work::lease(&**self.client().await?, name, owner, lease).await
    }

    async fn announce(&self, event: Event) -> Result<(), Error> {
        let mut client = self.client().await?;
        events::announce(&mut client, &event).await
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn ping(&self) -> Result<(), Error> {
        self.client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map_err(db("ping PostgreSQL"))?;
        Ok(())
    }

    async fn close(&self) -> Result<(), Error> {
        // Every commit was durable when it returned; nothing waits to be flushed.
        Ok(())
    }
}
