//! `lienthong config default` and `lienthong config check FILE`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use lienthong_gateway::config::{Config, DEFAULT_FILE};
use lienthong_pki::Paths;

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration: every key, its default, what it does.
    Default {
        /// The production values instead (what the Debian package installs as
        /// /etc/lienthong/lienthong.toml): no development PKI, state in
        /// /var/lib/lienthong, keys and policy in /etc/lienthong, JSON logs, the
        /// console off and the admin listener on loopback.
        #[arg(long)]
        production: bool,
    },
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
        ConfigCommand::Default { production: false } => Ok(DEFAULT_FILE.to_owned()),
        ConfigCommand::Default { production: true } => production(),
        ConfigCommand::Check { file } => check(file),
    }
}

/// Where the production values differ from the development setup: (the line as
/// the default file has it, the line instead). Every key is kept with its comment.
const PRODUCTION: &[(&str, &str)] = &[
    (
        "# lienthong gateway configuration.\n",
        "# lienthong gateway configuration: PRODUCTION values (`lienthong config default\n# --production`, what the Debian package installs). Unlike the development setup\n# described below: state in /var/lib/lienthong; certificates, keys and policy in\n# /etc/lienthong; no development PKI; the console off; the admin listener on\n# loopback; JSON logs. Before the first start, put the PKI in /etc/lienthong/certs\n# and the grants in /etc/lienthong/policy.toml, and point [population] and\n# [portal] at the national systems (`lienthong config check` warns until then).\n",
    ),
    ("listen = \"127.0.0.1:50051\"", "listen = \"0.0.0.0:50051\""),
    ("data_dir = \"data\"", "data_dir = \"/var/lib/lienthong\""),
    (
        "certs_dir = \"certs\"",
        "certs_dir = \"/etc/lienthong/certs\"",
    ),
    ("generate_dev_pki = true", "generate_dev_pki = false"),
    (
        "# file = \"/etc/lienthong/policy.toml\"",
        "file = \"/etc/lienthong/policy.toml\"",
    ),
    ("format = \"text\"", "format = \"json\""),
];

/// The default file with the production values.
fn production() -> Result<String, String> {
    let mut text = DEFAULT_FILE.to_owned();
    for (from, to) in PRODUCTION {
        if text.matches(from).count() != 1 {
            return Err(format!(
                "the default configuration no longer has {from:?} once"
            ));
        }
        text = text.replacen(from, to, 1);
    }
    Ok(text)
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
    let witnesses = lienthong_gateway::audit::witnesses::Witnesses::parse(
        &config.audit.witnesses,
        config.audit.witness_quorum,
    )
    .map_err(|detail| format!("audit.witnesses: {detail}"))?;
    if !config.audit.witnesses.is_empty() {
        report.push(format!(
            "audit: checkpoints cosigned by {} of {} witnesses",
            witnesses.quorum(),
            config.audit.witnesses.len()
        ));
    }
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
    if matches!(
        config.population,
        lienthong_gateway::config::Population::Sim { .. }
    ) {
        report.push(
            "warning: population.adapter = \"sim\": the in-process simulator, not the national population database".into(),
        );
    }
    if matches!(config.portal, lienthong_gateway::config::Portal::Sim { .. }) {
        report.push(
            "warning: portal.adapter = \"sim\": the in-process simulator, not the National Public Service Portal".into(),
        );
    }
    Ok(report.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_production_values_are_what_the_package_installs() {
        let text = production().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lienthong.toml");
        std::fs::write(&file, &text).unwrap();
        let config = Config::load(&file).unwrap();
        config.validate().unwrap();
        assert!(!config.tls.generate_dev_pki);
        assert_eq!(config.data_dir, Path::new("/var/lib/lienthong"));
        assert_eq!(config.tls.certs_dir, Path::new("/etc/lienthong/certs"));
        assert_eq!(
            config.policy.file.as_deref(),
            Some(Path::new("/etc/lienthong/policy.toml"))
        );
        assert!(config.admin.listen.ip().is_loopback());
        assert!(config.console.listen.ip().is_loopback());
        assert!(
            !config.console.on(config.tls.generate_dev_pki),
            "the console is off"
        );
        assert_eq!(
            config.log.format,
            lienthong_gateway::config::LogFormat::Json
        );
        // Every other key as the development file has it, comments included.
        let changed = DEFAULT_FILE
            .lines()
            .zip(text.lines().skip(6))
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            changed,
            PRODUCTION.len(),
            "only the header and the production keys differ"
        );
    }

    #[test]
    fn the_readme_shows_the_unit_the_package_installs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let unit =
            std::fs::read_to_string(root.join("packaging/debian/lienthong.service")).unwrap();
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("```ini\n{unit}```")),
            "README's unit differs from packaging/debian/lienthong.service"
        );
        let policy = std::fs::read_to_string(root.join("packaging/debian/policy.toml")).unwrap();
        let installed = lienthong_gateway::policy::Policy::parse(&policy, "policy.toml").unwrap();
        assert!(
            installed.grants().is_empty(),
            "the installed policy grants nothing"
        );
    }
}
