//! The Merkle tree's proofs on a large log: how long an inclusion proof takes to
//! produce on a ledger of 10 million records (target: under 1 ms), against
//! reading one record from the same store in the same run; a consistency proof;
//! an inclusion proof asked over mTLS (`AuditService/ProveInclusion`, audited);
//! the check of a proof; and what the tree costs on disk.
//!
//! `cargo bench -p lienthong-gateway --bench proofs` (`-- --records N` for
//! another size). The log is filled through the writer, as the subjects bench
//! fills it.

use std::time::{Duration, Instant};

use lienthong_ledger::merkle;
use lienthong_proto::v1::ProveInclusionRequest;
use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use support::{Bench, pct, sorted};

mod support;

/// A spread of record numbers over `1..=size`.
fn spread(size: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| 1 + (i * 2_654_435_761) % size)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let bench = Bench::new();
    let (config, _) = support::large_log(&bench).await;
    println!(
        "ledger.redb {} MB",
        std::fs::metadata(config.data_dir.join("ledger.redb"))
            .unwrap()
            .len()
            / 1_000_000
    );

    let gw = bench.start(&config, Duration::ZERO).await;
    let store = gw.exchange().dossiers.store.clone();
    let head = store.audit_head().await.unwrap();
    let size = head.checkpoint;
    let root = store
        .audit_checkpoint_covering(size)
        .await
        .unwrap()
        .unwrap()
        .root;
    let root: merkle::Hash = root.try_into().unwrap();
    let n = 1_000;
    let (mut read, mut inclusion, mut check, mut lengths) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for seq in spread(size, n) {
        let t = Instant::now();
        let record = store.audit_record(seq).await.unwrap().unwrap();
        read.push(ms(t));
        let t = Instant::now();
        let proof = store.audit_inclusion(seq, size).await.unwrap();
        inclusion.push(ms(t));
        lengths.push(proof.len() as f64);
        let t = Instant::now();
        let leaf = merkle::leaf_hash(&record.hash);
        merkle::verify_inclusion(seq - 1, size, &leaf, &proof, &root).unwrap();
        check.push(ms(t));
    }
    let mut consistency = Vec::new();
    for first in spread(size, 200) {
        let t = Instant::now();
        store.audit_consistency(first, size).await.unwrap();
        consistency.push(ms(t));
    }
    let timeout = Duration::from_secs(60);
    let mut auditor = AuditServiceClient::new(bench.channel_as(&gw, "H99.90", timeout));
    let mut api = Vec::new();
    for seq in spread(size, 200) {
        let t = Instant::now();
        auditor
            .prove_inclusion(ProveInclusionRequest {
                seq,
                tree_size: size,
            })
            .await
            .unwrap();
        api.push(ms(t));
    }
    let (read, inclusion, check, consistency, api) = (
        sorted(read),
        sorted(inclusion),
        sorted(check),
        sorted(consistency),
        sorted(api),
    );
    println!("a tree of {size} records (the latest checkpoint), {n} records spread over it:");
    println!(
        "  one record read (baseline): p50 {:.3} ms, p99 {:.3} ms",
        pct(&read, 0.5),
        pct(&read, 0.99)
    );
    println!(
        "  inclusion proof from the store: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target: under 1 ms); {:.0} hashes on average",
        pct(&inclusion, 0.5),
        pct(&inclusion, 0.99),
        inclusion[inclusion.len() - 1],
        lengths.iter().sum::<f64>() / lengths.len() as f64
    );
    println!(
        "  inclusion proof ÷ record read (p50): {:.2}",
        pct(&inclusion, 0.5) / pct(&read, 0.5)
    );
    println!(
        "  its check: p50 {:.4} ms; consistency proof (200 first sizes): p50 {:.3} ms, p99 {:.3} ms",
        pct(&check, 0.5),
        pct(&consistency, 0.5),
        pct(&consistency, 0.99)
    );
    println!(
        "  ProveInclusion over mTLS (audited): p50 {:.2} ms, p99 {:.2} ms",
        pct(&api, 0.5),
        pct(&api, 0.99)
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
