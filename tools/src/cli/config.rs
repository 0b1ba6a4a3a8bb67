//! `lienthong config default` and `lienthong config check FILE`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use lienthong_gateway::config::{Config, DEFAULT_FILE};
use lienthong_pki::Paths;

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration: every key, its default, what it does.
    Default,
    /// Check a configuration file: syntax, unknown keys, values, and the files it
    /// names (policy, certificates, keys).
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Runs the command: the text to print, or why the file is refused.
pub fn run(command: &ConfigCommand) -> Result<String, String> {
    match command {
        ConfigCommand::Default => Ok(DEFAULT_FILE.to_owned()),
        ConfigCommand::Check { file } => check(file),
    }
}

fn check(file: &Path) -> Result<String, String> {
    let config = Config::load(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut report = vec![format!("{}: valid", file.display())];
    match &config.policy.file {
        Some(policy) => {
            let loaded =
                lienthong_gateway::policy::Policy::load(policy).map_err(|e| e.to_string())?;
            report.push(format!(
                "policy {}: {} grants",
                policy.display(),
                loaded.grants().len()
            ));
        }
        None => report.push("policy: the embedded DEVELOPMENT policy".into()),
    }
    let calendar = config.dossiers.calendar().map_err(|e| e.to_string())?;
    report.push(format!(
        "calendar: version {}, {}–{}{}",
        calendar.version,
        calendar.years.0,
        calendar.years.1,
        if config.dossiers.calendar.is_none() {
            " (shipped)"
        } else {
            ""
        }
    ));
    lienthong_gateway::catalogue::Catalogue::load(config.dossiers.catalogue.as_deref())
        .map_err(|e| e.to_string())?;
    if config.dossiers.catalogue.is_none() {
        report.push("catalogue: the DEVELOPMENT catalogue (illustrative time limits)".into());
    }
    let paths = Paths::new(&config.tls.certs_dir);
    if config.tls.generate_dev_pki && !paths.ca_cert().exists() {
        report.push(format!(
            "tls: no PKI in {}; a DEVELOPMENT PKI will be generated (tls.generate_dev_pki)",
            paths.dir.display()
        ));
    } else {
        lienthong_gateway::install_crypto_provider();
        let trust = lienthong_gateway::tls::Trust::load(&paths, &config.tls.agency_uri_prefix)
            .map_err(|e| format!("tls: {e}"))?;
        report.push(format!(
            "tls {}: server certificate, CA and CRL load ({} revoked)",
            paths.dir.display(),
            trust.revoked.len()
        ));
        let key = config.audit_signing_key();
        if config.audit.enabled && !key.exists() && !config.tls.generate_dev_pki {
            return Err(format!("audit.signing_key {}: missing", key.display()));
        }
    }
    if config.tls.generate_dev_pki {
        report.push("warning: tls.generate_dev_pki = true is for development only".into());
    }
    if !config.policy.enabled {
        report.push("warning: policy.enabled = false: every agency reads everything".into());
    }
    if !config.audit.enabled {
        report.push("warning: audit.enabled = false: requests leave no record".into());
    }
    Ok(report.join("\n"))
}
