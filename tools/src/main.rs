//! The `lienthong` binary: parses the command line and hands over to the library.

#![forbid(unsafe_code)]

use anyhow::Context;
use lienthong::cli::{Command, Pki, Policy, Sim};
use lienthong_gateway::config::LogFormat;
use lienthong_pki::{self as pki, Paths, Validity};
use lienthong_proto::AgencyCode;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// jemalloc, configured in `.cargo/config.toml`: at 16 and 64 requests in flight the
/// gateway spends about 15 % less CPU a request than with glibc's allocator, whose
/// `malloc`, `free` and consolidation took a sixth of it (BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = lienthong::cli::examples::parse();
    // `serve` logs as its configuration says, unless flags say otherwise.
    let config = match &cli.command {
        Command::Serve(serve) => Some(serve.config()?),
        _ => None,
    };
    let log = config.as_ref().map(|c| c.log.clone()).unwrap_or_default();
    let level = cli.log.as_deref().unwrap_or(&log.level);
    let filter = tracing_subscriber::EnvFilter::try_new(level).context("--log")?;
    // `serve` with a collector configured exports its spans too.
    let traced = match &config {
        Some(c) => lienthong_gateway::telemetry::layer(&c.tracing)?,
        None => None,
    };
    let (traces, telemetry) = traced.map_or((None, None), |(l, t)| (Some(l), Some(t)));
    let logger = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: never into a log file or
        // the journal, where they are bytes an inspector's viewer interprets.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let logger = match cli.log_format.unwrap_or(log.format) {
        LogFormat::Json => logger.json().flatten_event(true).boxed(),
        LogFormat::Text => logger.boxed(),
    };
    // The log's filter is the log's alone: the trace layer keeps the gateway's
    // debug spans (a request's steps) whatever the log level.
    tracing_subscriber::registry()
        .with(traces)
        .with(logger.with_filter(filter))
        .init();
    lienthong_gateway::install_crypto_provider();
    match cli.command {
        Command::Serve(_) => {
            let config = config.expect("read above");
            let served = lienthong_gateway::server::run(config).await;
            if let Some(telemetry) = telemetry {
                // The last spans leave before the process does.
                let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
            }
            served?
        }
        Command::Config(command) => print_or_exit(
            lienthong::cli::config::run(&command).map(|text| text.trim_end().to_owned()),
        ),
        Command::Bench(options) => match lienthong::bench::run(&options).await {
            Ok(reports) if options.json => println!("{}", serde_json::to_string_pretty(&reports)?),
            Ok(reports) => print!("{}", lienthong::bench::text(&options, &reports)),
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(1);
            }
        },
        Command::Health(health) => match lienthong::cli::health::run(&health).await {
            Ok((table, all)) => {
                println!("{table}");
                if !all {
                    std::process::exit(1);
                }
            }
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(2);
            }
        },
        Command::Pki(Pki::Init { certs_dir, force }) => {
            pki::init(&Paths::new(&certs_dir), force)?;
            println!("development PKI written to {}", certs_dir.display());
        }
        Command::Pki(Pki::Issue {
            agency,
            certs_dir,
            days,
        }) => {
            let code = AgencyCode::parse(&agency)
                .map_err(|e| anyhow::anyhow!("--agency {agency:?} {e}"))?;
            let path = pki::issue(&Paths::new(&certs_dir), &code, Validity::days(days))?;
            println!("issued {}", path.display());
        }
        Command::Pki(Pki::Revoke { agency, certs_dir }) => {
            pki::revoke(&Paths::new(&certs_dir), &agency)?;
            println!(
                "revoked {agency}; CRL rewritten (a running gateway picks it up on SIGHUP or within reload.watch_interval)"
            );
        }
        Command::Sim(Sim::Population {
            listen,
            latency_ms,
            error_rate,
            misbehaviour,
        }) => {
            use lienthong_adapters::sim::{Faults, population_api};
            let faults = Faults::new(std::time::Duration::from_millis(latency_ms), error_rate);
            faults.set_misbehaviour(misbehaviour);
            let server = population_api::Server::start(
                listen,
                population_api::Credentials::default(),
                faults,
            )
            .await?;
            println!("population simulator on {}", server.url());
            tokio::select! {
                result = server.wait() => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Command::Audit(audit) => {
            let mut out = std::io::stdout().lock();
            match lienthong::cli::audit::run(&audit, &mut out).await {
                Ok(true) => {}
                Ok(false) => std::process::exit(1),
                Err(failure) => {
                    eprintln!("{failure}");
                    std::process::exit(2);
                }
            }
        }
        Command::Witness(witness) => {
            let mut out = std::io::stdout().lock();
            match lienthong::cli::witness::run(&witness, &mut out).await {
                Ok(0) => {}
                Ok(status) => std::process::exit(status),
                Err(failure) => {
                    eprintln!("{failure}");
                    std::process::exit(2);
                }
            }
        }
        Command::Cache(command) => print_or_exit(lienthong::cli::cache::run(&command).await),
        Command::Ledger(command) => print_or_exit(lienthong::cli::ledger::run(&command).await),
        Command::Report(command) => print_or_exit(lienthong::cli::report::run(&command).await),
        Command::Console(command) => print_or_exit(lienthong::cli::console::run(&command)),
        Command::Completions { shell } => print_or_exit(lienthong::cli::manual::completions(shell)),
        Command::Manpage => print_or_exit(lienthong::cli::manual::manpage()),
        Command::Sync(command) => print_or_exit(lienthong::cli::sync::run(&command).await),
        Command::Policy(Policy::Check(check)) => match lienthong::cli::policy::check(&check) {
            Ok(explained) => println!("{explained}"),
            Err(explained) => {
                println!("{explained}");
                std::process::exit(1);
            }
        },
        Command::Sim(Sim::Portal {
            listen,
            record,
            latency_ms,
            fail_rate,
            misbehaviour,
            online_agency,
            online_every_ms,
            session_ttl_s,
            quota_per_second,
            maintenance_s,
        }) => {
            use lienthong_adapters::sim::{Faults, portal_api};
            let portal = match &record {
                Some(path) => portal_api::Portal::open(path)
                    .with_context(|| format!("--record {}", path.display()))?,
                None => portal_api::Portal::new(),
            };
            {
                use std::time::Duration;
                let mut rules = portal.rules();
                rules.session_ttl = Duration::from_secs(session_ttl_s.max(1));
                rules.quota = quota_per_second.map(|n| (n, Duration::from_secs(1)));
                if maintenance_s > 0 {
                    rules.maintenance(Duration::from_secs(maintenance_s));
                }
            }
            let faults = Faults::new(std::time::Duration::from_millis(latency_ms), fail_rate);
            faults.set_misbehaviour(misbehaviour);
            let server = portal_api::Server::start(
                listen,
                lienthong_adapters::sim::gate::Credentials::default(),
                faults,
                portal.clone(),
            )
            .await?;
            println!("portal simulator on {}", server.url());
            if let Some(agency) = online_agency {
                lienthong_proto::AgencyCode::parse(&agency)
                    .map_err(|e| anyhow::anyhow!("--online-agency {agency:?} {e}"))?;
                tokio::spawn(async move {
                    let every = std::time::Duration::from_millis(online_every_ms.max(1));
                    loop {
                        tokio::time::sleep(every).await;
                        portal.submit_online(&agency, 1);
                    }
                });
            }
            tokio::select! {
                result = server.wait() => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Command::Client(client) => match lienthong::client::run(&client).await {
            Ok(output) => println!("{}", output.trim_end()),
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(1);
            }
        },
    }
    Ok(())
}

/// Prints a subcommand's text, or its failure and exits with 1.
fn print_or_exit(result: Result<String, String>) {
    match result {
        Ok(text) => println!("{text}"),
        Err(failure) => {
            eprintln!("{failure}");
            std::process::exit(1);
        }
    }
}
