//! `lienthong console login`: a one-time sign-in link to the inspectors' console,
//! minted on the gateway's machine (it writes into the gateway's data dir).

use std::path::PathBuf;

use clap::Subcommand;
use lienthong_gateway::console::link;
use lienthong_gateway::policy::{Operation, Policy, Role};
use lienthong_proto::AgencyCode;

/// `console` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print a sign-in link for an agency holding the auditor role (it works once,
    /// within the config's `console.link_ttl`).
    Login {
        /// The gateway's configuration file; without it, the embedded development setup.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The inspecting agency.
        #[arg(long)]
        agency: String,
        /// The officer who signs in (kept in every audit record of the session).
        #[arg(long, default_value = "")]
        officer: String,
    },
}

/// Runs a `console` subcommand; the text to print, or what went wrong.
pub fn run(command: &ConsoleCommand) -> Result<String, String> {
    let ConsoleCommand::Login {
        config,
        agency,
        officer,
    } = command;
    let config = match config {
        Some(path) => lienthong_gateway::Config::load(path).map_err(|e| e.to_string())?,
        None => lienthong_gateway::Config::default(),
    };
    let code = AgencyCode::parse(agency).map_err(|e| format!("--agency {agency:?}: {e}"))?;
    let policy = Policy::configured(&config.policy).map_err(|e| e.to_string())?;
    policy
        .require(code.as_str(), Role::Auditor, Operation::ConsoleSignIn)
        .map_err(|denial| format!("{}; the console is for auditors only", denial.detail))?;
    if !config.console.on(config.tls.generate_dev_pki) {
        return Err(
            "the console is off in this configuration: set [console] enabled = true".into(),
        );
    }
    let officer = lienthong_proto::text::shown(officer.trim(), 100).into_owned();
    let token = link::mint(
        &link::dir(&config.data_dir),
        &code,
        &officer,
        config.console.link_ttl,
    )
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "{}/signin?token={token}\n(works once, for {}, until {} from now)",
        config.console.base_url(),
        code.as_str(),
        humantime::format_duration(config.console.link_ttl)
    ))
}
