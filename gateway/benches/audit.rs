//! What auditing costs: durable appends per second with 1, 16 and 256 concurrent
//! writers (group commit), on the embedded ledger and on PostgreSQL, against one
//! `INSERT` per transaction on the same database (how X-Road logs); and the latency
//! the audit record adds to a lookup.
//!
//! PostgreSQL is a throw-away cluster of Debian's `postgresql` package
//! (`lienthong-testdb`); without it the PostgreSQL rows are left out, saying so.
//!
//! `cargo bench -p lienthong-gateway --bench audit` (add `-- --quick` for a short
//! run). Figures are printed with the baseline they compare to, measured in the
//! same run: this machine is shared and noisy, so only ratios within a run mean much.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lienthong_gateway::audit::{Log, Settings, Signer};
use lienthong_ledger::Store;
use lienthong_ledger::embedded::Embedded;
use support::{Bench, audit_record as record, pct, sorted, timed};

mod support;

/// Durable appends/s with `writers` tasks appending back to back for `secs` to a
/// fresh ledger in `store`, and the mean records per commit.
async fn appends(store: Arc<dyn Store>, writers: usize, secs: f64) -> (f64, f64) {
    let settings = Settings {
        checkpoint_every: 1000,
        max_batch: 1024,
    };
    let log = Arc::new(
        Log::with_store(
            store,
            Signer::ephemeral(),
            settings,
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (log, stop, done) = (log.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = w as u64 * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    log.append(record(n)).await.unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed) as f64;
    for t in tasks {
        t.await.unwrap();
    }
    let stats = log.stats();
    let batch = stats.records.load(Ordering::Relaxed) as f64
        / stats.commits.load(Ordering::Relaxed).max(1) as f64;
    log.close().await;
    (count / elapsed, batch)
}

/// The anchor: `writers` clients each committing one `INSERT` of a record per
/// transaction (synchronous commit) for `secs`; records/s.
async fn one_insert_per_transaction(url: &str, writers: usize, secs: f64) -> f64 {
    let setup = connect(url).await;
    setup
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS anchor (seq BIGSERIAL PRIMARY KEY, record BYTEA NOT NULL)",
        )
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let client = connect(url).await;
        let (stop, done) = (stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let insert = client
                .prepare("INSERT INTO anchor (record) VALUES ($1)")
                .await
                .unwrap();
            let mut n = w as u64 * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                let bytes = prost::Message::encode_to_vec(&record(n));
                client.execute(&insert, &[&bytes]).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / elapsed
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn postgres(url: &str) -> Arc<dyn Store> {
    let options = lienthong_ledger::postgres::Options {
        url: url.to_owned(),
        password: None,
        pool_size: 16,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
    };
    lienthong_ledger::postgres::Postgres::open(&options)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = if quick { 1.0 } else { 4.0 };
    let cluster = lienthong_testdb::Cluster::shared();
    println!("durable audit appends, {secs} s each");
    println!(
        "  redb: group commit, redb without a sync + one journal frame per commit, one direct synchronous write"
    );
    println!(
        "  PostgreSQL: group commit, one transaction per batch (head row lock, multi-row INSERT), synchronous_commit = on"
    );
    println!("  anchor: one INSERT per transaction on the same PostgreSQL (how X-Road logs)");
    println!(
        "{:>8}  {:>12}  {:>14}  {:>14}  {:>14}  {:>12}  {:>10}",
        "writers",
        "redb rec/s",
        "redb rec/commit",
        "PG rec/s",
        "PG rec/commit",
        "anchor rec/s",
        "PG/anchor"
    );
    for writers in [1, 16, 256] {
        let dir = tempfile::tempdir().unwrap();
        let embedded: Arc<dyn Store> = Embedded::in_dir(dir.path()).unwrap();
        let (rate, batch) = appends(embedded, writers, secs).await;
        print!("{writers:>8}  {rate:>12.0}  {batch:>14.1}");
        match cluster {
            Some(cluster) => {
                let url = cluster.database().await;
                let (pg, pg_batch) = appends(postgres(&url).await, writers, secs).await;
                let anchor = one_insert_per_transaction(&url, writers.min(64), secs).await;
                println!(
                    "  {pg:>14.0}  {pg_batch:>14.1}  {anchor:>12.0}  {:>9.1}x",
                    pg / anchor
                );
            }
            None => println!("  (PostgreSQL not installed: left out)"),
        }
    }
    println!("  (the anchor runs at most 64 clients, as X-Road's measurement did)");

    let bench = Bench::new();
    let mut off = bench.config("without");
    off.audit.enabled = false;
    let with = bench.start(&bench.config("with"), Duration::ZERO).await;
    let without = bench.start(&off, Duration::ZERO).await;
    let n = if quick { 800 } else { 4000 };
    // Alternate the two, so drift in the machine's load hits both alike.
    // The same citizen every time: served from the cache, so the difference is the
    // audit record alone.
    let ids = vec!["001085012345".to_owned(); n / 4];
    let (on_channel, off_channel) = (bench.channel(&with), bench.channel(&without));
    timed(on_channel.clone(), &ids[..100]).await;
    timed(off_channel.clone(), &ids[..100]).await;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        off.extend(timed(off_channel.clone(), &ids).await);
        on.extend(timed(on_channel.clone(), &ids).await);
    }
    let (on, off) = (sorted(on), sorted(off));
    println!();
    println!("GetCitizen over mTLS (cache hits), 1 connection x 1 in flight, {n} lookups each");
    println!("{:>22}  {:>9}  {:>9}", "", "p50 (µs)", "p99 (µs)");
    for (name, v) in [("audit off (baseline)", &off), ("audit on", &on)] {
        println!("{name:>22}  {:>9.0}  {:>9.0}", pct(v, 0.5), pct(v, 0.99));
    }
    println!(
        "{:>22}  {:>9.0}  {:>9.0}",
        "added by auditing",
        pct(&on, 0.5) - pct(&off, 0.5),
        pct(&on, 0.99) - pct(&off, 0.99)
    );
    with.shutdown(Duration::from_secs(5)).await.unwrap();
    without.shutdown(Duration::from_secs(5)).await.unwrap();
}
