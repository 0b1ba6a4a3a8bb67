//! Opening the ledger of a running gateway: its store, its one writer, and the
//! audit log over them when auditing is on.

use std::sync::Arc;

use lienthong_ledger::postgres::{Postgres, redacted};
use lienthong_ledger::{Seal, Settings, Store, Unsealed, Writer};

use crate::config::Backend;
use crate::metrics::AuditMetrics;
use crate::{Config, Error, audit};

/// The ledger's parts.
pub(super) struct Ledger {
    /// Where the durable state is.
    pub(super) store: Arc<dyn Store>,
    /// Its one writer.
    pub(super) writer: Arc<Writer>,
    /// The audit log; `None` only in the benchmark baseline.
    pub(super) audit: Option<Arc<audit::Log>>,
    /// What the writer reports.
    pub(super) metrics: AuditMetrics,
}

/// Opens the store `config` names: the embedded file in the data dir, or the
/// PostgreSQL database (its schema created or migrated).
pub(super) async fn store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    let ledger = &config.ledger;
    match ledger.backend {
        Backend::Redb => {
            let store = lienthong_ledger::embedded::Embedded::in_dir(&config.data_dir)
                .map_err(Error::audit)?;
            Ok(store)
        }
        Backend::Postgres => {
            let store = Postgres::open(&ledger.options()?)
                .await
                .map_err(Error::audit)?;
            tracing::info!(database = %redacted(&ledger.url), "ledger on PostgreSQL");
            Ok(store)
        }
    }
}

/// Opens the ledger `config` names and starts its writer.
pub(super) async fn open(config: &Config) -> Result<Ledger, Error> {
    let store = store(config).await?;
    let audit_metrics = AuditMetrics::default();
    let signer = match config.audit.enabled {
        true => Some(Arc::new(audit::Signer::load(&config.audit_signing_key())?)),
        false => None,
    };
    let seal: Box<dyn Seal> = match &signer {
        Some(signer) => Box::new(audit::chain::Chain::new(
            signer.clone(),
            config.audit.checkpoint_every,
        )),
        None => Box::new(Unsealed),
    };
    let writer = Arc::new(
        Writer::start(
            store.clone(),
            seal,
            Settings {
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
            log.witnessed_by(
                audit::witnesses::Witnesses::parse(
                    &config.audit.witnesses,
                    config.audit.witness_quorum,
                )
                .map_err(|detail| Error::Config {
                    key: "audit.witnesses".into(),
                    detail,
                })?
                .with_grace(config.audit.witness_grace),
            );
            Some(Arc::new(log))
        }
        None => {
            tracing::warn!("auditing is OFF: requests leave no record (benchmark baseline only)");
            None
        }
    };
    Ok(Ledger {
        store,
        writer,
        audit,
        metrics: audit_metrics,
    })
}
