//! What the cache buys: lookups through the gateway served from the cache (a hot
//! set looked up before) against lookups of citizens never seen (each one a miss:
//! upstream call, sealing, sled write), in one run, at 1 x 1 and 16 in flight.
//!
//! `cargo bench -p lienthong-gateway --bench cache` (`-- --quick` for a short run).
//! The upstream is the in-process simulator, without and with 10 ms of latency (a
//! national system is rarely faster).

use std::time::Duration;

use support::{Bench, distinct_ids, pct, sorted, throughput, timed};

mod support;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 400 } else { 2000 };
    let bench = Bench::new();
    println!("GetCitizen over mTLS with policy and a durable audit record; {n} lookups per cell");
    println!(
        "{:>16}  {:>6}  {:>9}  {:>9}  {:>12}",
        "upstream", "cache", "p50 (µs)", "p99 (µs)", "16 in flight"
    );
    for (i, latency) in [Duration::ZERO, Duration::from_millis(10)]
        .into_iter()
        .enumerate()
    {
        let gw = bench
            .start(&bench.config(&format!("data-{i}")), latency)
            .await;
        let hot = distinct_ids(100, 0);
        timed(bench.channel(&gw), &hot).await;
        let hot_n: Vec<String> = hot.iter().cycle().take(n).cloned().collect();
        let cold_seq = distinct_ids(n, 100_000 + i * 400_000);
        let cold_par = distinct_ids(n, 200_000 + i * 400_000);
        let channel = bench.channel(&gw);
        let hit = sorted(timed(channel.clone(), &hot_n).await);
        let miss = sorted(timed(channel, &cold_seq).await);
        let hit_rate = throughput(&bench, &gw, &hot_n, 16).await;
        let miss_rate = throughput(&bench, &gw, &cold_par, 16).await;
        let name = format!("sim + {} ms", latency.as_millis());
        for (how, v, rate) in [("hit", &hit, hit_rate), ("miss", &miss, miss_rate)] {
            println!(
                "{name:>16}  {how:>6}  {:>9.0}  {:>9.0}  {:>8.0} req/s",
                pct(v, 0.5),
                pct(v, 0.99),
                rate
            );
        }
        println!(
            "{:>16}  {:>6}  {:>9.2}  {:>9.2}  {:>8.2}x",
            "",
            "hit/miss",
            pct(&miss, 0.5) / pct(&hit, 0.5),
            pct(&miss, 0.99) / pct(&hit, 0.99),
            hit_rate / miss_rate
        );
        gw.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}
