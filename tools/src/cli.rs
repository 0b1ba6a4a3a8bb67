//! The command line: `serve`, `pki`, `sim`, `client`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub mod audit;
pub mod cache;
pub mod config;
pub mod console;
pub mod examples;
pub mod health;
pub mod ledger;
pub mod manual;
pub mod policy;
pub mod report;
pub mod sync;
pub mod witness;

/// lienthong: a gRPC gateway for Vietnamese e-government data exchange.
#[derive(Debug, Parser)]
#[command(name = "lienthong", version)]
pub struct Cli {
    /// Log filter, e.g. `info` or `info,lienthong_gateway=debug` (default: the
    /// config's `log.level`, else `info`).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log lines as `text` or `json` (default: the config's `log.format`, else text).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<lienthong_gateway::config::LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(Serve),
    /// Manage the development PKI.
    #[command(subcommand)]
    Pki(Pki),
    /// Run a simulator of a national system.
    #[command(subcommand)]
    Sim(Sim),
    /// Call a gateway as an agency system.
    Client(crate::client::Client),
    /// Query, verify and export the audit log.
    #[command(subcommand)]
    Audit(audit::Audit),
    /// Witness another gateway's audit log: cosign its checkpoints while each
    /// extends the last one cosigned.
    #[command(subcommand)]
    Witness(witness::Witness),
    /// Look into or empty the cache of a stopped gateway.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// The dossier sync of a running gateway.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Reports of a running gateway: the QĐ 766 indicators.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Move an embedded ledger into PostgreSQL.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Explain the policy's decisions.
    #[command(subcommand)]
    Policy(Policy),
    /// The inspectors' web console: a one-time sign-in link.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// Print the default configuration, or check a configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Ask a running gateway whether each service is serving (grpc.health.v1).
    Health(health::Health),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Manpage,
    /// Load a gateway and measure it (`--local`: full versus baseline, same run).
    Bench(crate::bench::Options),
}

/// `serve` options; flags override the config file.
#[derive(Debug, Args)]
pub struct Serve {
    /// TOML configuration file; without it, the embedded development setup.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Admin listener (metrics, healthz, readyz).
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// The inspectors' console's listener.
    #[arg(long)]
    pub console_listen: Option<SocketAddr>,
    /// State directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Certificates directory.
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Use a national REST/JSON population API at this URL.
    #[arg(long, conflicts_with = "population_grpc")]
    pub population_url: Option<String>,
    /// Use another lienthong gateway at this URL as the population registry.
    #[arg(long)]
    pub population_grpc: Option<String>,
    /// Agency certificate (under `certs/clients/`) to present to the upstream gateway.
    #[arg(long, default_value = "H99.01", requires = "population_grpc")]
    pub population_grpc_agency: String,
    /// Deliver dossiers to the National Public Service Portal's REST API at this URL
    /// (e.g. `lienthong sim portal`), instead of the in-process simulator.
    #[arg(long)]
    pub portal_url: Option<String>,
    /// Per-call deadline of the REST or gRPC population adapter, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub population_timeout_ms: u64,
    /// Keep the ledger in PostgreSQL (shared with other replicas).
    #[command(flatten)]
    pub ledger: ledger::LedgerArgs,
    /// This replica's name in the claims it holds (default host-pid-random).
    #[arg(long)]
    pub replica: Option<String>,
}

/// `pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum Pki {
    /// Create the CA, CRL, server certificate and the demo agencies' certificates.
    Init {
        /// Certificates directory.
        #[arg(long, default_value = "certs")]
        certs_dir: PathBuf,
        /// Replace an existing PKI.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for an agency.
    Issue {
        /// Agency code, e.g. H99.03.
        #[arg(long)]
        agency: String,
        /// Certificates directory.
        #[arg(long, default_value = "certs")]
        certs_dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: i64,
    },
    /// Revoke an agency's certificate and rewrite the CRL.
    Revoke {
        /// Agency code.
        #[arg(long)]
        agency: String,
        /// Certificates directory.
        #[arg(long, default_value = "certs")]
        certs_dir: PathBuf,
    },
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum Policy {
    /// What the policy decides for an agency, operation, purpose and legal basis.
    Check(policy::Check),
}

/// `sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum Sim {
    /// The national population database as a REST/JSON server.
    Population {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: SocketAddr,
        /// Latency added to every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Share of calls that fail with a system error (0.0–1.0).
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Misbehave from the start: none, hang, malformed, server-error, cut or legacy-text
        /// (`PUT /sim/faults` changes it while running).
        #[arg(long, default_value = "none")]
        misbehaviour: lienthong_adapters::sim::Misbehaviour,
    },
    /// The National Public Service Portal's dossier sync API as a REST/JSON server.
    Portal {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: SocketAddr,
        /// Append every accepted revision to this file (JSON lines) and replay it
        /// at start, so the portal remembers across restarts.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Latency added to every answer, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Share of calls that fail with a system error (0.0–1.0).
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Misbehave from the start: none, hang, malformed, server-error, cut or legacy-text
        /// (`PUT /sim/faults` changes it while running).
        #[arg(long, default_value = "none")]
        misbehaviour: lienthong_adapters::sim::Misbehaviour,
        /// A citizen submits a dossier online to this agency every `online_every_ms`.
        #[arg(long)]
        online_agency: Option<String>,
        /// How often a citizen submits online, in milliseconds.
        #[arg(long, default_value_t = 1000, requires = "online_agency")]
        online_every_ms: u64,
        /// How long a session lasts after its login, in seconds.
        #[arg(long, default_value_t = 1800)]
        session_ttl_s: u64,
        /// A quota: at most this many integration calls per second (refused with
        /// 429 and Retry-After beyond it).
        #[arg(long)]
        quota_per_second: Option<u32>,
        /// In maintenance (503 with Retry-After) for this many seconds from the start.
        #[arg(long, default_value_t = 0)]
        maintenance_s: u64,
    },
}

impl Serve {
    /// The configuration: file (or embedded default) with flags applied; `server::run`
    /// validates it before acting on it.
    pub fn config(&self) -> Result<lienthong_gateway::Config, lienthong_gateway::Error> {
        use lienthong_gateway::config::Population;
        let mut config = match &self.config {
            Some(path) => lienthong_gateway::Config::load(path)?,
            None => lienthong_gateway::Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(listen) = self.admin_listen {
            config.admin.listen = listen;
        }
        if let Some(listen) = self.console_listen {
            config.console.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(dir) = &self.certs_dir {
            config.tls.certs_dir = dir.clone();
        }
        self.ledger.apply(&mut config);
        if let Some(replica) = &self.replica {
            config.ledger.replica = replica.clone();
        }
        let timeout = Duration::from_millis(self.population_timeout_ms);
        if let Some(url) = &self.population_url {
            config.population =
                Population::Rest(lienthong_gateway::config::RestApi::dev(url, timeout));
        }
        if let Some(url) = &self.portal_url {
            config.portal = lienthong_gateway::config::Portal::Rest(
                lienthong_gateway::config::RestApi::dev(url, Duration::from_secs(5)),
            );
        }
        if let Some(url) = &self.population_grpc {
            let paths = lienthong_pki::Paths::new(&config.tls.certs_dir);
            let agency = &self.population_grpc_agency;
            config.population = Population::Grpc {
                url: url.clone(),
                ca_file: paths.ca_cert(),
                cert_file: paths.client_cert(agency),
                key_file: paths.client_key(agency),
                server_name: None,
                timeout,
            };
        }
        Ok(config)
    }
}
