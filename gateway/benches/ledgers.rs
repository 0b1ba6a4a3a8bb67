//! What a shared ledger costs a lookup: cached citizen lookups (policy, field
//! release, a durable audit record, the cache on) at 4 connections × 16 in flight
//! through a gateway on PostgreSQL against one on the embedded redb ledger,
//! alternated in one run so that drift in the machine's load hits both alike.
//!
//! `cargo bench -p lienthong-gateway --bench ledgers` (`-- --quick` for a short
//! run). PostgreSQL is a throw-away cluster of Debian's package on the same
//! machine, with `synchronous_commit = on`.

use std::time::Duration;

use support::{Bench, distinct_ids, on_postgres, throughput, timed};

mod support;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 4_000 } else { 20_000 };
    let rounds = if quick { 2 } else { 4 };
    let bench = Bench::new();
    let redb = bench.start(&bench.config("redb"), Duration::ZERO).await;
    let mut config = bench.config("postgres");
    if !on_postgres(&mut config).await {
        return;
    }
    let postgres = bench.start(&config, Duration::ZERO).await;
    let hot = distinct_ids(100, 0);
    for gw in [&redb, &postgres] {
        timed(bench.channel(gw), &hot).await;
    }
    let ids: Vec<String> = hot.iter().cycle().take(n).cloned().collect();
    let (mut on_redb, mut on_pg) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        on_redb.push(throughput(&bench, &redb, &ids, 64).await);
        on_pg.push(throughput(&bench, &postgres, &ids, 64).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "cached GetCitizen, 4 connections x 16 in flight, {n} lookups per round, {rounds} rounds alternated"
    );
    println!("{:>22}  {:>10}  rounds", "ledger", "req/s");
    for (name, v) in [("redb (baseline)", &on_redb), ("PostgreSQL", &on_pg)] {
        let each: Vec<String> = v.iter().map(|r| format!("{r:.0}")).collect();
        println!("{name:>22}  {:>10.0}  {}", mean(v), each.join(" "));
    }
    println!(
        "{:>22}  {:>9.2}x",
        "PostgreSQL / redb",
        mean(&on_pg) / mean(&on_redb)
    );
    redb.shutdown(Duration::from_secs(5)).await.unwrap();
    postgres.shutdown(Duration::from_secs(5)).await.unwrap();
}
