//! `lienthong serve`: what happens around a running gateway in production — the
//! development PKI made when the configuration asks for it, the data dir, and a
//! graceful stop on SIGINT or SIGTERM.

use lienthong_pki::Paths;

use super::{registry, start};
use crate::{Config, Error};

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
    crate::data_dir::prepare(&config.data_dir)?;
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
