//! Archiving a large log while lookups go on: how long archiving N records takes,
//! how much memory it holds, and what it costs the p99 latency of live lookups,
//! against the same lookups measured just before and just after in the same run.
//!
//! `cargo bench -p lienthong-gateway --bench archive` archives 10 million records
//! (`-- --records N` for another count, `-- --quick` for 200,000). The log is
//! filled through the ledger's writer first (its records all older than the cut),
//! then a gateway on that data dir serves cached lookups from 2 sequential
//! clients while the same archiving the schedule and `AdminService/ArchiveAudit`
//! run moves everything but the last record into archive files, verifies them,
//! notes them and removes them from the live store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lienthong_gateway::audit::archive::{Actor, Plan};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use support::{Bench, distinct_ids, pct, request, sorted, timed};

mod support;

/// The resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Latencies (µs) of lookups from `clients` sequential callers until `stop`.
async fn lookups(
    bench: &Bench,
    gw: &lienthong_gateway::server::Running,
    ids: &[String],
    stop: Arc<AtomicBool>,
) -> Vec<f64> {
    let tasks: Vec<_> = (0..2)
        .map(|c| {
            let mut client = IdentityServiceClient::new(bench.channel(gw));
            let (ids, stop) = (ids.to_vec(), stop.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for id in ids.iter().cycle().skip(c * 7) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let t = Instant::now();
                    client.get_citizen(request(id)).await.unwrap();
                    out.push(t.elapsed().as_secs_f64() * 1e6);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Lookups for `window`, with nothing else going on.
async fn quiet(
    bench: &Bench,
    gw: &lienthong_gateway::server::Running,
    ids: &[String],
    window: Duration,
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let out = lookups(bench, gw, ids, stop).await;
    timer.await.unwrap();
    out
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let records: u64 = args
        .iter()
        .position(|a| a == "--records")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 200_000 } else { 10_000_000 });
    let bench = Bench::new();
    let mut config = bench.config("data");
    config.audit.archive.enabled = false;
    std::fs::create_dir_all(&config.data_dir).unwrap();

    // The log to archive, filled through the writer in large group commits.
    let filling = Instant::now();
    support::fill_log(&bench, &config.data_dir, records).await;
    let filled = filling.elapsed();
    let before = lienthong_ledger::now_micros();
    let ledger_bytes = std::fs::metadata(config.data_dir.join("ledger.redb"))
        .unwrap()
        .len();

    let gw = bench.start(&config, Duration::ZERO).await;
    let ids = distinct_ids(50, 0);
    timed(bench.channel(&gw), &ids).await;
    let window = if quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(20)
    };
    let before_latencies = quiet(&bench, &gw, &ids, window).await;

    // Archiving, with the lookups going on and the memory watched.
    let log = gw.audit().unwrap().clone();
    let plan = Plan::of(&config);
    let stop = Arc::new(AtomicBool::new(false));
    let rss_before = rss_kib();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let watcher = {
        let (stop, peak) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let during = {
        let stop = stop.clone();
        let (bench_ref, gw_ref, ids_ref) = (&bench, &gw, &ids);
        let load = lookups(bench_ref, gw_ref, ids_ref, stop.clone());
        let archiving = async {
            let started = Instant::now();
            let by = Actor {
                purpose: "bench".into(),
                ..Actor::default()
            };
            let archived = plan
                .run(&log, Some(before), false, &by)
                .await
                .unwrap()
                .archived;
            let took = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            (archived, took)
        };
        tokio::join!(load, archiving)
    };
    watcher.await.unwrap();
    let (during_latencies, (archived, took)) = during;
    let after_latencies = quiet(&bench, &gw, &ids, window).await;

    let verifying = Instant::now();
    let report = log.verify(0, 0).await.unwrap();
    let verified = verifying.elapsed();
    assert!(report.ok, "{}", report.detail);
    let archived_records: u64 = archived.iter().map(|n| n.last - n.first + 1).sum();
    let archive_bytes: u64 = archived
        .iter()
        .map(|n| {
            std::fs::metadata(plan.settings.dir.join(&n.file))
                .unwrap()
                .len()
        })
        .sum();

    let mut baseline = before_latencies;
    baseline.extend(after_latencies);
    let (baseline, during_sorted) = (sorted(baseline), sorted(during_latencies));
    println!(
        "archiving {records} audit records ({} MB of ledger, filled in {:.1} s) into {} files of at most {} records",
        ledger_bytes / 1_000_000,
        filled.as_secs_f64(),
        archived.len(),
        plan.settings.per_file
    );
    println!(
        "  archived {archived_records} records in {:.1} s ({:.0} records/s), {} MB compressed; whole log verified in {:.1} s",
        took.as_secs_f64(),
        archived_records as f64 / took.as_secs_f64(),
        archive_bytes / 1_000_000,
        verified.as_secs_f64()
    );
    println!(
        "  memory: {} MiB resident before, peak {} MiB while archiving (+{} MiB)",
        rss_before / 1024,
        peak.load(Ordering::Relaxed) / 1024,
        peak.load(Ordering::Relaxed).saturating_sub(rss_before) / 1024
    );
    println!("  cached GetCitizen latency, 2 sequential clients (ms):");
    println!(
        "  {:>34}  {:>8}  {:>8}  {:>8}  {:>8}",
        "", "lookups", "p50", "p99", "p99.9"
    );
    for (name, v) in [
        ("before and after (baseline)", &baseline),
        ("while archiving", &during_sorted),
    ] {
        println!(
            "  {name:>34}  {:>8}  {:>8.3}  {:>8.3}  {:>8.3}",
            v.len(),
            pct(v, 0.5) / 1000.0,
            pct(v, 0.99) / 1000.0,
            pct(v, 0.999) / 1000.0
        );
    }
    println!(
        "  {:>34}  {:>+8.3} ms p99 ({:.2}x)",
        "cost of archiving",
        (pct(&during_sorted, 0.99) - pct(&baseline, 0.99)) / 1000.0,
        pct(&during_sorted, 0.99) / pct(&baseline, 0.99)
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
