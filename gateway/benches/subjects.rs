//! A citizen's records on a large log: how long "who read my data" takes on a
//! ledger of 10 million records, through the subject index, against finding the
//! same citizen's records the way an inspector's filtered query does (reading the
//! log), in the same run.
//!
//! `cargo bench -p lienthong-gateway --bench subjects` (`-- --records N` for another
//! size). The log is filled through the writer (1,000,000 citizens, 10 records
//! each, spread over the whole log); a gateway on it then answers
//! `SubjectAccessService/ListSubjectAccesses` over mTLS for 200 citizens one after
//! another (each answer audited, and with the checkpoint covering each record),
//! and the store's index is read directly for the same citizens.

use std::time::{Duration, Instant};

use lienthong_proto::v1::audit_service_client::AuditServiceClient;
use lienthong_proto::v1::subject_access_service_client::SubjectAccessServiceClient;
use lienthong_proto::v1::{ListSubjectAccessesRequest, QueryAuditRequest};
use support::{Bench, pct, sorted};

mod support;

#[tokio::main]
async fn main() {
    let bench = Bench::new();
    let (config, records) = support::large_log(&bench).await;

    let gw = bench.start(&config, Duration::ZERO).await;
    let timeout = Duration::from_secs(600);
    let mut client = SubjectAccessServiceClient::new(bench.channel_as(&gw, "H99.01", timeout));
    let store = gw.exchange().dossiers.store.clone();
    let citizens: Vec<String> = (0..200u64)
        .map(|i| format!("001085{:06}", (i * 4_999) % 1_000_000))
        .collect();
    let per_citizen = records / 1_000_000;
    let (mut api, mut index) = (Vec::new(), Vec::new());
    for id in &citizens {
        let t = Instant::now();
        let found = store
            .audit_by_subject(id, 1, u64::MAX, 50, true)
            .await
            .unwrap();
        index.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(found.len() as u64, per_citizen.min(50), "{id}");
        let t = Instant::now();
        let answer = client
            .list_subject_accesses(ListSubjectAccessesRequest {
                personal_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        api.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(answer.accesses.len() as u64 >= per_citizen.min(50), "{id}");
    }
    // The same citizen by reading the log, as QueryAudit's subject filter does.
    let mut auditor = AuditServiceClient::new(bench.channel_as(&gw, "H99.90", timeout));
    let t = Instant::now();
    let mut stream = auditor
        .query_audit(QueryAuditRequest {
            subject_personal_id: citizens[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut scanned = 0;
    while stream.message().await.unwrap().is_some() {
        scanned += 1;
    }
    let scan = t.elapsed().as_secs_f64() * 1e3;
    assert!(scanned as u64 >= per_citizen);

    let (api, index) = (sorted(api), sorted(index));
    println!(
        "{records} records, {} citizens one after another:",
        citizens.len()
    );
    println!(
        "  ListSubjectAccesses over mTLS: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target: under 50 ms)",
        pct(&api, 0.5),
        pct(&api, 0.99),
        api[api.len() - 1]
    );
    println!(
        "  the subject index alone: p50 {:.3} ms, p99 {:.3} ms",
        pct(&index, 0.5),
        pct(&index, 0.99)
    );
    println!("  one citizen by reading the log (QueryAudit, baseline): {scan:.0} ms");
    println!(
        "  indexed ÷ reading the log (p50): {:.5}",
        pct(&api, 0.5) / scan
    );
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}
